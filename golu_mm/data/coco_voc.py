"""COCO restricted to the 20 Pascal VOC classes, as semantic segmentation label maps: the dataset
of the paper's DeepLabV3 row, built the way torchvision's segmentation reference builds it.

Rules, per image: only annotations of the 20 VOC categories are kept, each mapped to its VOC index
(1..20, 0 = background); their instance masks (polygons, RLE, crowd included) are merged by
category; a pixel covered by more than one kept instance is ignore (255). Training images whose
kept annotations cover 1000 pixels or fewer in total (summed per instance) are dropped;
validation keeps every image.

    <coco_root>/annotations/instances_{train,val}2017.json, <coco_root>/{train,val}2017/*.jpg
 -> <out_dir>/annotations/{train2017,val2017}/<stem>.png (uint8, 255 = ignore)
    <out_dir>/{train2017,val2017}.txt (the kept image stems, sorted)
"""
import json
import os
from multiprocessing import Pool
from pathlib import Path, PurePosixPath
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat',
               'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
               'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')
VOC_PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128],
               [0, 128, 128], [128, 128, 128], [64, 0, 0], [192, 0, 0], [64, 128, 0],
               [192, 128, 0], [64, 0, 128], [192, 0, 128], [64, 128, 128], [192, 128, 128],
               [0, 64, 0], [128, 64, 0], [0, 192, 0], [128, 192, 0], [0, 64, 128]]
# COCO category id of each VOC class, in VOC order (airplane, bicycle, bird, ..., couch, train, tv).
COCO_IDS = (5, 2, 16, 9, 44, 6, 3, 17, 62, 21, 67, 18, 19, 4, 1, 64, 20, 63, 7, 72)
COCO_TO_VOC = {coco_id: voc for voc, coco_id in enumerate(COCO_IDS, start=1)}
IGNORE = 255
MIN_TRAIN_PIXELS = 1000  # a training image needs more than this many kept instance pixels
SPLITS = ('train2017', 'val2017')


class ConversionError(ValueError):
    """A COCO file or image that cannot be converted, with the file named."""


def _polygons(segmentation: list) -> list:
    """The polygons that enclose an area: at least 3 points (6 coordinates, an even count).
    COCO has some of fewer (a line, a point, or []): they cover no pixel."""
    return [p for p in segmentation if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0]


def _check_rle_size(segmentation: dict, height: int, width: int) -> None:
    size = segmentation.get('size')
    if size is not None and list(size) != [height, width]:
        raise ValueError(f'its size {list(size)} is not the image\'s {[height, width]}')
    counts = segmentation['counts']
    if isinstance(counts, list) and sum(counts) != height * width:
        raise ValueError(f'its counts sum to {sum(counts)} pixels, the image has '
                         f'{height} x {width} = {height * width}')


def instance_mask(segmentation, height: int, width: int, source: str) -> Optional[np.ndarray]:
    """The bool mask of one annotation's segmentation: polygons, uncompressed RLE (crowd) or
    compressed RLE; None where it has no polygon that encloses an area (nothing to draw). An
    RLE of another size than the image's is a ConversionError."""
    try:
        if isinstance(segmentation, list):  # polygons
            polygons = _polygons(segmentation)
            if not polygons:
                return None
            rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
        elif isinstance(segmentation, dict) and 'counts' in segmentation:
            _check_rle_size(segmentation, height, width)
            if isinstance(segmentation['counts'], list):
                rle = mask_utils.frPyObjects(segmentation, height, width)
            else:
                rle = dict(segmentation)
                if isinstance(rle['counts'], str):
                    rle['counts'] = rle['counts'].encode()
        else:
            raise TypeError(f'unknown segmentation type {type(segmentation).__name__}')
    except Exception as exc:  # noqa: BLE001 (pycocotools raises many kinds)
        raise ConversionError(f'{source}: bad segmentation ({exc})') from exc
    mask = mask_utils.decode(rle)
    if mask.shape[:2] != (height, width):
        raise ConversionError(f'{source}: segmentation of size {mask.shape[:2]}, image '
                              f'{(height, width)}')
    return mask.astype(bool)


def label_map(annotations: List[dict], height: int, width: int,
              source: str = 'annotation') -> Tuple[np.ndarray, int, int]:
    """(uint8 label map, kept instance pixels summed over instances, kept annotations skipped
    for having nothing to draw) for one image."""
    labels = np.zeros((height, width), np.uint8)
    covered = np.zeros((height, width), np.uint16)
    pixels = skipped = 0
    for ann in annotations:
        voc = COCO_TO_VOC.get(ann.get('category_id'))
        if voc is None:
            continue
        mask = instance_mask(ann.get('segmentation'), height, width,
                             f'{source} (annotation id {ann.get("id")})')
        if mask is None:
            skipped += 1
            continue
        labels[mask] = np.maximum(labels[mask], voc)
        covered += mask
        pixels += int(mask.sum())
    labels[covered > 1] = IGNORE
    return labels, pixels, skipped


def load_annotations(json_path: Path) -> Tuple[List[dict], Dict[int, List[dict]]]:
    """(images, annotations by image id) of a COCO instances file. Two images whose label maps
    would have one name (the same file stem) are a ConversionError."""
    if not json_path.is_file():
        raise ConversionError(f'annotation file {json_path} does not exist')
    try:
        data = json.loads(json_path.read_text())
        if not isinstance(data, dict):
            raise TypeError(f'it holds a JSON {type(data).__name__}, not an object')
        missing = [k for k in ('images', 'annotations') if k not in data]
        if missing:
            raise KeyError(f'no {" or ".join(repr(k) for k in missing)} key')
        images = data['images']
        annotations = data['annotations']
        by_image: Dict[int, List[dict]] = {image['id']: [] for image in images}
        for ann in annotations:
            by_image.setdefault(ann['image_id'], []).append(ann)
        for image in images:
            image['file_name'], int(image['height']), int(image['width'])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConversionError(f'annotation file {json_path} is not a COCO instances file '
                              f'({type(exc).__name__}: {exc})') from exc
    stems: Dict[str, str] = {}
    for image in images:
        name = PurePosixPath(str(image['file_name']).replace('\\', '/'))
        if name.is_absolute() or '..' in name.parts or not name.parts:
            raise ConversionError(f'annotation file {json_path}: image {image["id"]} has file_name '
                                  f'{image["file_name"]!r}, which is not inside the image folder '
                                  '(names are relative to it, without "..")')
        other = stems.setdefault(Path(image['file_name']).stem, image['file_name'])
        if other != image['file_name']:
            raise ConversionError(f'annotation file {json_path}: images {other} and '
                                  f'{image["file_name"]} would share the label map '
                                  f'{Path(other).stem}.png (label maps are named by file stem)')
    return images, by_image


def _write_png(path: Path, labels: np.ndarray) -> None:
    tmp = path.with_name(path.stem + '.tmp.png')
    if not cv2.imwrite(str(tmp), labels):
        raise ConversionError(f'cannot write {path}')
    os.replace(tmp, path)  # a killed run never leaves a truncated label map behind


def _convert_image(job) -> Tuple[Optional[str], int]:
    """Write one image's label map (skipped if already there); (its stem if kept, else None;
    annotations skipped for having nothing to draw)."""
    image, annotations, image_dir, out_dir, is_train = job
    stem = Path(image['file_name']).stem
    out = out_dir / f'{stem}.png'
    if out.is_file():
        return stem, 0
    image_path = image_dir / image['file_name']
    if not image_path.is_file():
        raise ConversionError(f'image {image_path} does not exist')
    labels, pixels, skipped = label_map(annotations, int(image['height']), int(image['width']),
                                        str(image_path))
    if is_train and pixels <= MIN_TRAIN_PIXELS:
        return None, skipped
    _write_png(out, labels)
    return stem, skipped


def convert_split(coco_root, out_dir, split: str, nproc: int = 1, log=print) -> List[str]:
    """Convert one split (train2017 or val2017); returns the kept stems (also in <split>.txt)."""
    coco_root, out_dir = Path(coco_root), Path(out_dir)
    images, by_image = load_annotations(
        coco_root / 'annotations' / f'instances_{split}.json')
    label_dir = out_dir / 'annotations' / split
    label_dir.mkdir(parents=True, exist_ok=True)
    is_train = split.startswith('train')
    jobs = [(image, by_image.get(image['id'], []), coco_root / split, label_dir, is_train)
            for image in images]
    kept, skipped, step = [], 0, max(1, len(jobs) // 20)
    with Pool(nproc) if nproc > 1 else _InProcess() as pool:
        for done, (stem, empty) in enumerate(
                pool.imap_unordered(_convert_image, jobs, chunksize=16), 1):
            skipped += empty
            if stem is not None:
                kept.append(stem)
            if done % step == 0 or done == len(jobs):
                log(f'[coco_voc] {split}: {done}/{len(jobs)} images, {len(kept)} kept')
    if skipped:
        log(f'[coco_voc] {split}: skipped {skipped} annotations without a polygon of 3 or more '
            'points (nothing to draw)')
    kept.sort()
    (out_dir / f'{split}.txt').write_text(''.join(f'{stem}\n' for stem in kept))
    return kept


def convert(coco_root, out_dir, nproc: int = 1, log=print) -> Dict[str, List[str]]:
    """Convert both splits; rerunning skips the label maps already written."""
    if nproc < 1:
        raise ValueError(f'nproc must be at least 1, got {nproc}')
    return {split: convert_split(coco_root, out_dir, split, nproc, log) for split in SPLITS}


class _InProcess:
    """Pool's imap_unordered in this process (nproc=1: no worker start-up, plain tracebacks)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def imap_unordered(fn, jobs, chunksize=1):
        return map(fn, jobs)
