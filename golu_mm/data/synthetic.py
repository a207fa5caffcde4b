"""A small synthetic dataset, deterministic from its seed: scenes of circles, squares and
triangles of varied size, colour, texture and rotation, overlapping (later shapes occlude earlier
ones), on textured backgrounds. Written twice from the same scenes:

    <root>/coco/{train,val}/NNNNNN.png + coco/annotations/instances_{train,val}.json  (RLE masks)
    <root>/ade/images/{training,validation}/NNNNNN.png
    <root>/ade/annotations/{training,validation}/NNNNNN.png  (0 = background, k = class k)

and, for classification pretraining (mmpretrain's CustomDataset layout), images of one shape each:

    <root>/{train,val}/{circle,square,triangle}/NNNNNN.png

Generation is cached: a second call with the same parameters reuses the files, after checking
each against the sha256 recorded when it was written; a missing, empty or altered file, or one
that is not of the set (an earlier, larger set's: the datasets list directories), makes it
regenerate the set, removing such files (so a damaged dataset fails before training, not after).
"""
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

CLASSES = ('circle', 'square', 'triangle')
PALETTE = [(220, 20, 60), (0, 128, 255), (60, 180, 75)]
SPLITS = {'train': 'training', 'val': 'validation'}
MIN_VISIBLE_PIXELS = 24


def _background(rng, size):
    base = rng.uniform(40, 200, 3)
    ramp = np.linspace(-1, 1, size)
    direction = rng.uniform(-40, 40, (2, 3))
    img = base + ramp[:, None, None] * direction[0] + ramp[None, :, None] * direction[1]
    img = img + rng.normal(0, rng.uniform(4, 14), (size, size, 1))
    return img


def _shape_mask(rng, cls, size, radius_range=(0.08, 0.24)):
    mask = np.zeros((size, size), np.uint8)
    radius = rng.uniform(*radius_range) * size
    cx, cy = rng.uniform(radius * 0.6, size - radius * 0.6, 2)
    if CLASSES[cls] == 'circle':
        cv2.circle(mask, (round(cx), round(cy)), round(radius), 1, -1)
    else:
        corners = 4 if CLASSES[cls] == 'square' else 3
        angles = rng.uniform(0, 2 * np.pi) + np.arange(corners) * 2 * np.pi / corners
        points = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], 1)
        cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def _texture(rng, size):
    """Multiplicative stripes or noise, so colour alone does not identify a shape."""
    if rng.random() < 0.5:
        yy, xx = np.mgrid[:size, :size]
        angle, period = rng.uniform(0, np.pi), rng.uniform(4, 12)
        phase = (xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period
        return 1 + 0.25 * np.sin(phase)[..., None]
    return 1 + rng.normal(0, 0.12, (size, size, 1))


def render_scene(rng, size):
    """One image (BGR uint8) and its visible instances [(class index, bool mask)]."""
    img = _background(rng, size)
    instances = []
    for _ in range(rng.integers(1, 5)):
        cls = int(rng.integers(len(CLASSES)))
        mask = _shape_mask(rng, cls, size)
        colour = rng.uniform(0, 255, 3)
        img[mask] = (colour * _texture(rng, size))[mask]
        instances = [(c, m & ~mask) for c, m in instances] + [(cls, mask)]
    instances = [(c, m) for c, m in instances if m.sum() >= MIN_VISIBLE_PIXELS]
    return np.clip(img, 0, 255).astype(np.uint8), instances


def render_shape(rng, cls, size):
    """One image (BGR uint8) showing a single shape of class `cls` on a textured background, as
    a detection scene's shape seen close up (a larger share of the image)."""
    img = _background(rng, size)
    mask = _shape_mask(rng, cls, size, radius_range=(0.2, 0.4))
    img[mask] = (rng.uniform(0, 255, 3) * _texture(rng, size))[mask]
    return np.clip(img, 0, 255).astype(np.uint8)


def _coco_annotation(ann_id, image_id, cls, mask):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
    return {'id': ann_id, 'image_id': image_id, 'category_id': cls + 1, 'iscrowd': 0,
            'area': float(mask_utils.area(rle)), 'bbox': [x, y, w, h],
            'segmentation': {'size': list(rle['size']), 'counts': rle['counts'].decode()}}


def _write_split(root, split, count, size, rng, first_id):
    """Write one split of the scenes in both formats; returns the file names written."""
    coco_dir = root / 'coco' / split
    ade_img = root / 'ade' / 'images' / SPLITS[split]
    ade_ann = root / 'ade' / 'annotations' / SPLITS[split]
    for d in (coco_dir, ade_img, ade_ann):
        d.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(count):
        image_id, name = first_id + i, f'{first_id + i:06d}.png'
        img, instances = render_scene(rng, size)
        cv2.imwrite(str(coco_dir / name), img)
        cv2.imwrite(str(ade_img / name), img)
        labels = np.zeros((size, size), np.uint8)
        for cls, mask in instances:
            labels[mask] = cls + 1
            annotations.append(_coco_annotation(len(annotations) + 1, image_id, cls, mask))
        cv2.imwrite(str(ade_ann / name), labels)
        images.append({'id': image_id, 'file_name': name, 'height': size, 'width': size})
    categories = [{'id': i + 1, 'name': name} for i, name in enumerate(CLASSES)]
    ann_file = root / 'coco' / 'annotations' / f'instances_{split}.json'
    ann_file.parent.mkdir(parents=True, exist_ok=True)
    ann_file.write_text(json.dumps(
        {'images': images, 'annotations': annotations, 'categories': categories}, sort_keys=True))
    names = [str(ann_file.relative_to(root))]
    for i in range(first_id, first_id + count):
        name = f'{i:06d}.png'
        names += [f'coco/{split}/{name}', f'ade/images/{SPLITS[split]}/{name}',
                  f'ade/annotations/{SPLITS[split]}/{name}']
    return names


def _write_classification_split(root, split, count, size, rng, first_id):
    """Write one split of single-shape images, classes balanced; returns the file names."""
    names = []
    for i in range(count):
        cls = i % len(CLASSES)
        name = f'{split}/{CLASSES[cls]}/{first_id + i:06d}.png'
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / name), render_shape(rng, cls, size))
        names.append(name)
    return names


def _check_sizes(num_train, num_val, size):
    for name, value in (('num_train', num_train), ('num_val', num_val), ('size', size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f'{name} must be a positive integer, got {value!r}')
    if size < 32:
        raise ValueError(f'size must be at least 32 pixels, got {size}')


def _cached(root, params: dict, write_split) -> Path:
    """Reuse the set under `root` if its stamp matches `params` and its files are intact, else
    write both splits with write_split(root, split, count, size, rng, first_id)."""
    root = Path(root)
    stamp = root / '.complete'
    problem = _verify(root, stamp, params)
    if problem is None:
        return root
    if problem != 'not generated yet':
        print(f'[golu_mm.data] {root}: {problem}; regenerating', flush=True)
    rng = np.random.default_rng(params['seed'])
    names = write_split(root, 'train', params['train'], params['size'], rng, 0)
    names += write_split(root, 'val', params['val'], params['size'], rng, params['train'])
    for stray in _stray_files(root, names):  # an earlier, larger set's: datasets list dirs
        stray.unlink()
    files = {name: _sha256(root / name) for name in names}
    stamp.write_text(json.dumps({'params': params, 'files': files}, sort_keys=True))
    return root


def _stray_files(root: Path, names) -> list:
    """Files under the set's top-level directories that are not among its `names`."""
    names = set(names)
    return sorted(path for top in {n.split('/')[0] for n in names} if (root / top).is_dir()
                  for path in (root / top).rglob('*')
                  if path.is_file() and str(path.relative_to(root)) not in names)


def generate(root, num_train=200, num_val=50, size=128, seed=0) -> Path:
    """Write (or reuse) the scenes under `root`; returns root."""
    _check_sizes(num_train, num_val, size)
    params = {'train': num_train, 'val': num_val, 'size': size, 'seed': seed, 'version': 1}
    return _cached(root, params, _write_split)


def generate_classification(root, num_train=3000, num_val=300, size=64, seed=0) -> Path:
    """Write (or reuse) the single-shape classification set under `root`; returns root."""
    _check_sizes(num_train, num_val, size)
    params = {'train': num_train, 'val': num_val, 'size': size, 'seed': seed,
              'kind': 'classification', 'version': 1}
    return _cached(root, params, _write_classification_split)


def config_options(root, detection: bool) -> dict:
    """--cfg-options pointing a demo config (configs/demo/) at the dataset under `root`."""
    options = {f'{loader}.dataset.data_root': f'{root}/'
               for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')}
    if detection:
        ann = f'{root}/coco/annotations/instances_val.json'
        options['val_evaluator.ann_file'] = options['test_evaluator.ann_file'] = ann
    return options


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _verify(root: Path, stamp: Path, params: dict):
    """None when every file of the set the stamp records is present and unaltered, else why."""
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return 'not generated yet'
    if not isinstance(recorded, dict) or recorded.get('params') != params:
        return 'generated with other parameters'
    if not recorded.get('files'):
        return 'the stamp lists no files'
    for name, digest in recorded['files'].items():
        path = root / name
        if not path.is_file() or path.stat().st_size == 0:
            return f'{name} is missing or empty'
        if _sha256(path) != digest:
            return f'{name} differs from what was generated'
    stray = _stray_files(root, recorded['files'])
    if stray:
        return f'{len(stray)} files not of the set (e.g. {stray[0].relative_to(root)})'
    return None


def digest(root) -> str:
    """sha256 over every generated file, in path order (for reproducibility checks)."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob('*') if p.is_file() and p.name != '.complete'):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()
