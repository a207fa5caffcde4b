"""The COCO-VOC converter on hand-made COCO files, one rule at a time: VOC categories only and
their indices, instance masks merged by category (polygons, compressed RLE, crowd RLE), overlaps
ignored, the 1000-pixel training filter, the output layout, reruns, and bad files."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from golu_mm.data.coco_voc import (COCO_IDS, IGNORE, VOC_CLASSES, ConversionError, convert,
                                   label_map)

ROOT = Path(__file__).resolve().parents[2]
H, W = 60, 80
PERSON, CAR, DOG, STOP_SIGN = 1, 3, 18, 13  # COCO ids; the stop sign is not a VOC class
VOC = {PERSON: VOC_CLASSES.index('person'), CAR: VOC_CLASSES.index('car'),
       DOG: VOC_CLASSES.index('dog')}


def box(y0, y1, x0, x1):
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def rle(mask):
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {'size': [H, W], 'counts': encoded['counts'].decode()}


def crowd_rle(mask):
    """Uncompressed RLE (COCO's crowd format): run lengths in column-major order, zeros first."""
    flat = mask.flatten(order='F').astype(np.uint8)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    return {'size': [H, W], 'counts': np.diff(np.concatenate([[0], changes])).tolist()}


def ann(ann_id, image_id, category, segmentation, mask=None, crowd=0):
    area = float(mask.sum()) if mask is not None else 0.0
    return {'id': ann_id, 'image_id': image_id, 'category_id': category, 'iscrowd': crowd,
            'segmentation': segmentation, 'area': area, 'bbox': [0, 0, 1, 1]}


def write_coco(root, split, images, annotations):
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    (root / split).mkdir(parents=True, exist_ok=True)
    for image in images:
        cv2.imwrite(str(root / split / image['file_name']), np.zeros((H, W, 3), np.uint8))
    categories = [{'id': i, 'name': str(i)} for i in (*COCO_IDS, STOP_SIGN)]
    (root / 'annotations' / f'instances_{split}.json').write_text(json.dumps(
        {'images': images, 'annotations': annotations, 'categories': categories}))


def image(image_id):
    return {'id': image_id, 'file_name': f'{image_id:012d}.jpg', 'height': H, 'width': W}


@pytest.fixture
def coco(tmp_path):
    person, car = box(5, 45, 5, 45), box(30, 55, 35, 75)       # overlap: rows 30-44, cols 35-44
    dog, person2 = box(0, 20, 60, 80), box(46, 60, 0, 20)      # overlapping nothing
    small, stop = box(0, 10, 0, 10), box(0, 60, 0, 80)
    train = [image(1), image(2), image(3), image(4), image(5)]
    train_anns = [
        ann(1, 1, PERSON, rle(person), person),
        ann(2, 1, CAR, rle(car), car),
        ann(3, 1, DOG, crowd_rle(dog), dog, crowd=1),
        ann(4, 1, PERSON, [[0, 46, 20, 46, 20, 60, 0, 60]], person2),  # a polygon
        ann(5, 1, STOP_SIGN, rle(stop), stop),                       # not VOC: dropped
        ann(6, 2, PERSON, rle(small), small),                        # 100 px: image dropped
        ann(7, 2, STOP_SIGN, rle(stop), stop),                       # not counted
        ann(8, 4, CAR, rle(box(0, 20, 0, 50)), box(0, 20, 0, 50)),   # 1000 px
        ann(9, 4, CAR, rle(box(0, 1, 0, 1)), box(0, 1, 0, 1)),       # ... + 1 px: kept
        ann(10, 5, CAR, rle(box(0, 20, 0, 50)), box(0, 20, 0, 50)),  # exactly 1000 px: dropped
    ]
    val = [image(10), image(11)]
    val_anns = [ann(11, 10, PERSON, rle(small), small)]  # small, but validation keeps all
    root = tmp_path / 'coco'
    write_coco(root, 'train2017', train, train_anns)
    write_coco(root, 'val2017', val, val_anns)
    return root, dict(person=person, car=car, dog=dog, small=small)


def read(out, split, image_id):
    return cv2.imread(str(out / 'annotations' / split / f'{image_id:012d}.png'),
                      cv2.IMREAD_UNCHANGED)


def test_conversion_rules(coco, tmp_path):
    root, m = coco
    out = tmp_path / 'voc'
    kept = convert(root, out, log=lambda _: None)
    assert kept == {'train2017': ['000000000001', '000000000004'],
                    'val2017': ['000000000010', '000000000011']}
    assert (out / 'train2017.txt').read_text().split() == kept['train2017']
    assert (out / 'val2017.txt').read_text().split() == kept['val2017']
    labels = read(out, 'train2017', 1)
    assert labels.dtype == np.uint8 and labels.shape == (H, W)
    overlap = m['person'] & m['car']
    assert overlap.sum() == 15 * 10 and (labels[overlap] == IGNORE).all()
    assert (labels[m['person'] & ~overlap] == VOC[PERSON]).all()
    assert (labels[m['car'] & ~overlap] == VOC[CAR]).all()
    assert (labels[m['dog']] == VOC[DOG]).all()                    # crowd RLE kept
    assert labels[50, 10] == VOC[PERSON]                           # the polygon's inside
    outside = ~(m['person'] | m['car'] | m['dog'] | box(44, 62, 0, 22))
    assert (labels[outside] == 0).all()                            # the stop sign is background
    assert not (out / 'annotations' / 'train2017' / '000000000002.png').exists()
    assert not (out / 'annotations' / 'train2017' / '000000000003.png').exists()
    assert not (out / 'annotations' / 'train2017' / '000000000005.png').exists()
    assert (read(out, 'val2017', 10)[m['small']] == VOC[PERSON]).all()
    assert (read(out, 'val2017', 11) == 0).all()


def test_same_category_overlap_is_ignored_too():
    a, b = box(0, 30, 0, 30), box(20, 50, 20, 50)
    labels, pixels, _ = label_map([ann(1, 1, PERSON, rle(a)), ann(2, 1, PERSON, rle(b))], H, W)
    assert (labels[a & b] == IGNORE).all() and (labels[a ^ b] == VOC[PERSON]).all()
    assert pixels == a.sum() + b.sum()


def test_every_voc_class_maps_to_its_index():
    for voc, coco_id in enumerate(COCO_IDS, start=1):
        labels, _, _ = label_map([ann(1, 1, coco_id, rle(box(0, 5, 0, 5)))], H, W)
        assert labels[0, 0] == voc
    assert VOC_CLASSES[COCO_IDS.index(5) + 1] == 'aeroplane'
    assert VOC_CLASSES[COCO_IDS.index(72) + 1] == 'tvmonitor'


def test_rerun_skips_finished_files(coco, tmp_path):
    root, _ = coco
    out = tmp_path / 'voc'
    convert(root, out, log=lambda _: None)
    label = out / 'annotations' / 'train2017' / '000000000001.png'
    cv2.imwrite(str(label), np.full((H, W), 7, np.uint8))  # a finished file, marked
    (out / 'annotations' / 'val2017' / '000000000010.png').unlink()  # as if interrupted
    lines = []
    kept = convert(root, out, nproc=2, log=lines.append)
    assert (read(out, 'train2017', 1) == 7).all()  # kept as it was, not recomputed
    assert (out / 'annotations' / 'val2017' / '000000000010.png').is_file()
    assert kept['val2017'] == ['000000000010', '000000000011']
    assert any('val2017: 2/2 images, 2 kept' in line for line in lines)


@pytest.mark.parametrize('damage,message', [
    ('no_json', 'instances_train2017.json does not exist'),
    ('bad_json', 'is not a COCO instances file'),
    ('no_images_key', 'is not a COCO instances file'),
    ('no_image', '000000000001.jpg does not exist'),
])
def test_bad_input_is_named(coco, tmp_path, damage, message):
    root, _ = coco
    json_path = root / 'annotations' / 'instances_train2017.json'
    if damage == 'no_json':
        json_path.unlink()
    elif damage == 'bad_json':
        json_path.write_text('{"images": [')
    elif damage == 'no_images_key':
        json_path.write_text('{"annotations": []}')
    else:
        (root / 'train2017' / '000000000001.jpg').unlink()
    with pytest.raises(ConversionError, match=message):
        convert(root, tmp_path / 'voc', log=lambda _: None)


def test_command_line(coco, tmp_path):
    root, _ = coco
    result = subprocess.run([sys.executable, 'tools/dataset_converters/coco_voc.py', str(root),
                             str(tmp_path / 'voc'), '--nproc', '2'], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'done: 2 training and 2 validation images' in result.stdout
    bad = subprocess.run([sys.executable, 'tools/dataset_converters/coco_voc.py',
                          str(tmp_path / 'nowhere'), str(tmp_path / 'voc2')], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and 'instances_train2017.json does not exist' in bad.stderr
    # without OpenMMLab importable (None in sys.modules: ImportError), the same short error
    blocked = ('import runpy, sys\n'
               'sys.modules.update(dict.fromkeys(("mmengine", "mmcv", "mmdet", "mmseg"), None))\n'
               'sys.argv = ["coco_voc.py"] + sys.argv[1:]\n'
               'runpy.run_path("tools/dataset_converters/coco_voc.py", run_name="__main__")\n')
    bare = subprocess.run([sys.executable, '-c', blocked, str(tmp_path / 'nowhere'),
                           str(tmp_path / 'voc3')], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert bare.returncode == 1 and 'instances_train2017.json does not exist' in bare.stderr, \
        bare.stderr[-2000:]


def test_rle_of_another_size_is_an_error_naming_the_annotation():
    short = crowd_rle(box(0, 10, 0, 10))
    short['counts'][-1] -= 5  # sums to H*W - 5: pycocotools would leave 5 pixels undefined
    with pytest.raises(ConversionError, match=r'annotation id 7.*counts sum to 4795 pixels'):
        label_map([ann(7, 1, PERSON, short)], H, W)
    other = dict(rle(box(0, 10, 0, 10)), size=[H, W + 1])
    with pytest.raises(ConversionError, match=r"annotation id 8.*size \[60, 81\] is not"):
        label_map([ann(8, 1, PERSON, other)], H, W)


def test_degenerate_polygons_are_skipped_and_counted(tmp_path):
    square = [10, 10, 30, 10, 30, 30, 10, 30]
    labels, pixels, skipped = label_map(
        [ann(1, 1, PERSON, []), ann(2, 1, PERSON, [[5, 5, 8, 8]]), ann(3, 1, CAR, [[1, 1]]),
         ann(4, 1, DOG, [[1, 1, 2, 2], square])], H, W)
    assert skipped == 3 and (labels == VOC[DOG]).sum() == pixels > 0
    root, logged = tmp_path / 'coco', []
    write_coco(root, 'train2017', [image(1)], [ann(1, 1, PERSON, []),
                                               ann(2, 1, DOG, [square], box(10, 30, 10, 30))])
    write_coco(root, 'val2017', [image(2)], [ann(3, 2, PERSON, [[1, 2, 3, 4]])])
    kept = convert(root, tmp_path / 'out', log=logged.append)
    assert kept == {'train2017': [], 'val2017': ['000000000002']}  # 400 px <= 1000: dropped
    assert any('train2017: skipped 1 annotations' in line for line in logged)
    assert any('val2017: skipped 1 annotations' in line for line in logged)


def test_two_images_with_one_stem_are_refused(tmp_path):
    root = tmp_path / 'coco'
    images = [image(1), dict(image(2), file_name='000000000001.png')]
    write_coco(root, 'train2017', images, [])
    with pytest.raises(ConversionError, match=r'000000000001\.jpg and 000000000001\.png would '
                                              r'share the label map'):
        convert(root, tmp_path / 'out')
    (root / 'annotations' / 'instances_train2017.json').write_text('{}')
    with pytest.raises(ConversionError, match="not a COCO instances file.*no 'images' or "
                                              "'annotations' key"):
        convert(root, tmp_path / 'out')


@pytest.mark.parametrize('name', ['../../x.jpg', 'a/../../x.jpg', '/etc/x.jpg', '..\\x.jpg', ''])
def test_file_names_outside_the_image_folder_are_refused(tmp_path, name):
    root = tmp_path / 'coco'
    write_coco(root, 'train2017', [image(1)], [])
    data = json.loads((root / 'annotations' / 'instances_train2017.json').read_text())
    data['images'].append(dict(image(2), file_name=name))
    (root / 'annotations' / 'instances_train2017.json').write_text(json.dumps(data))
    with pytest.raises(ConversionError, match=r'image 2 has file_name .* not inside the image '
                                              r'folder'):
        convert(root, tmp_path / 'out')
    assert not (tmp_path / 'out' / 'train2017.txt').exists()
