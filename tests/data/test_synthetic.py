"""The synthetic dataset: valid COCO that pycocotools loads, masks consistent with boxes and with
the ADE-style label maps, deterministic bytes from the seed, cached; and the single-shape
classification set in mmpretrain's CustomDataset layout."""
import json

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from golu_mm.data import CLASSES, generate, generate_classification
from golu_mm.data.synthetic import digest, render_shape


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    return generate(tmp_path_factory.mktemp('syn'), num_train=12, num_val=4, size=96, seed=3)


def test_coco_json_loads_and_masks_match_boxes(root):
    for split in ('train', 'val'):
        coco = COCO(str(root / 'coco' / 'annotations' / f'instances_{split}.json'))
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
        assert len(coco.getImgIds()) == (12 if split == 'train' else 4)
        assert len(coco.anns) >= len(coco.getImgIds())
        for ann in coco.anns.values():
            mask = coco.annToMask(ann).astype(bool)
            ys, xs = np.nonzero(mask)
            x, y, w, h = ann['bbox']
            assert (x, y, w, h) == (xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                    ys.max() - ys.min() + 1)
            assert ann['area'] == mask.sum() >= 24 and ann['iscrowd'] == 0
            img = coco.loadImgs(ann['image_id'])[0]
            assert cv2.imread(str(root / 'coco' / split / img['file_name'])).shape == (96, 96, 3)


def test_ade_labels_are_the_same_scenes(root):
    coco = COCO(str(root / 'coco' / 'annotations' / 'instances_val.json'))
    for img in coco.loadImgs(coco.getImgIds()):
        labels = cv2.imread(str(root / 'ade' / 'annotations' / 'validation' / img['file_name']),
                            cv2.IMREAD_UNCHANGED)
        expected = np.zeros_like(labels)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img['id'])):
            expected[coco.annToMask(ann).astype(bool)] = ann['category_id']
        assert np.array_equal(labels, expected)
        coco_img = cv2.imread(str(root / 'coco' / 'val' / img['file_name']))
        ade_img = cv2.imread(str(root / 'ade' / 'images' / 'validation' / img['file_name']))
        assert np.array_equal(coco_img, ade_img)


def test_instances_do_not_overlap(root):
    data = json.loads((root / 'coco' / 'annotations' / 'instances_train.json').read_text())
    by_image = {}
    for ann in data['annotations']:
        by_image.setdefault(ann['image_id'], []).append(mask_utils.decode(ann['segmentation']))
    for masks in by_image.values():
        assert np.stack(masks).sum(0).max() == 1  # occluded parts belong to the front shape


def test_same_seed_same_bytes_and_caching(root, tmp_path):
    again = generate(tmp_path / 'again', num_train=12, num_val=4, size=96, seed=3)
    assert digest(again) == digest(root)
    other = generate(tmp_path / 'other', num_train=12, num_val=4, size=96, seed=4)
    assert digest(other) != digest(root)
    first = (again / 'coco' / 'train' / '000000.png').stat().st_mtime_ns
    generate(again, num_train=12, num_val=4, size=96, seed=3)
    assert (again / 'coco' / 'train' / '000000.png').stat().st_mtime_ns == first


def test_bad_parameters(tmp_path):
    with pytest.raises(ValueError, match='num_train'):
        generate(tmp_path, num_train=0)
    with pytest.raises(ValueError, match='size'):
        generate(tmp_path, size=16)
    with pytest.raises(ValueError, match='num_val'):
        generate_classification(tmp_path, num_val=True)


def test_classification_set_layout_labels_and_caching(tmp_path, capsys):
    """train/<class>/*.png and val/<class>/*.png, classes balanced, each image the shape of the
    class its folder names (re-rendered from the seed), deterministic and cached like the
    scenes."""
    root = generate_classification(tmp_path / 'cls', num_train=9, num_val=6, size=64, seed=1)
    for split, count in (('train', 9), ('val', 6)):
        assert sorted(p.name for p in (root / split).iterdir()) == sorted(CLASSES)
        for name in CLASSES:
            files = sorted((root / split / name).glob('*.png'))
            assert len(files) == count // 3
            assert all(cv2.imread(str(f)).shape == (64, 64, 3) for f in files)
    names = {p.name for p in root.rglob('*.png')}
    assert len(names) == 15  # unique ids across splits
    rng = np.random.default_rng(1)
    for i in range(9):
        written = cv2.imread(str(root / 'train' / CLASSES[i % 3] / f'{i:06d}.png'))
        assert np.array_equal(written, render_shape(rng, i % 3, 64))
    again = generate_classification(tmp_path / 'again', num_train=9, num_val=6, size=64, seed=1)
    assert digest(again) == digest(root)
    (root / 'val' / 'square').iterdir().__next__().write_bytes(b'')
    capsys.readouterr()
    generate_classification(root, num_train=9, num_val=6, size=64, seed=1)
    assert 'regenerating' in capsys.readouterr().out and digest(root) == digest(again)


@pytest.mark.parametrize('damage', ['corrupt', 'empty', 'missing', 'annotations'])
def test_damaged_data_is_regenerated_before_use(tmp_path, capsys, damage):
    root = generate(tmp_path / 'd', num_train=4, num_val=2, size=64, seed=5)
    original = digest(root)
    target = root / ('coco/annotations/instances_val.json' if damage == 'annotations'
                     else 'coco/train/000001.png')
    if damage == 'corrupt':
        target.write_bytes(b'\x89PNG not an image')
    elif damage == 'empty':
        target.write_bytes(b'')
    elif damage == 'missing':
        target.unlink()
    else:
        target.write_text(target.read_text()[:50])
    capsys.readouterr()
    generate(root, num_train=4, num_val=2, size=64, seed=5)
    assert 'regenerating' in capsys.readouterr().out
    assert digest(root) == original
    generate(root, num_train=4, num_val=2, size=64, seed=5)  # intact now: reused silently
    assert 'regenerating' not in capsys.readouterr().out


@pytest.mark.parametrize('make', [generate, generate_classification], ids=['scenes', 'shapes'])
def test_a_smaller_set_leaves_no_files_of_the_larger_one(tmp_path, capsys, make):
    """mmseg and mmpretrain list directories: an earlier, larger set's files would be read."""
    root = tmp_path / 'data'
    make(root, num_train=6, num_val=5, size=32)
    large = sorted(p.relative_to(root) for p in root.rglob('*.png'))
    make(root, num_train=3, num_val=2, size=32)
    small = sorted(p.relative_to(root) for p in root.rglob('*.png'))
    make(tmp_path / 'fresh', num_train=3, num_val=2, size=32)
    assert small == sorted(p.relative_to(tmp_path / 'fresh')
                           for p in (tmp_path / 'fresh').rglob('*.png'))
    assert len(small) < len(large)
    (root / large[-1]).write_bytes((root / small[0]).read_bytes())  # a stray file comes back
    make(root, num_train=3, num_val=2, size=32)
    assert 'files not of the set' in capsys.readouterr().out.splitlines()[-1]
    assert sorted(p.relative_to(root) for p in root.rglob('*.png')) == small
