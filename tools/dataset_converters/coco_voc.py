"""Build the COCO-VOC semantic segmentation labels (the paper's DeepLabV3 dataset) from COCO:

    python tools/dataset_converters/coco_voc.py data/coco data/coco_voc [--nproc 8]

reads COCO_ROOT/annotations/instances_{train,val}2017.json and COCO_ROOT/{train,val}2017/, writes
OUT_DIR/annotations/{train2017,val2017}/<stem>.png and OUT_DIR/{train2017,val2017}.txt. The rules
(VOC categories only, overlaps ignored, small training images dropped): golu_mm/data/coco_voc.py.
Interrupted, it can be rerun: label maps already written are kept.
"""
import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from golu_mm.data.coco_voc import convert  # noqa: E402
from golu_mm.cli import run_tool  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('coco_root')
    parser.add_argument('out_dir')
    parser.add_argument('--nproc', type=int, default=min(8, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    if args.nproc < 1:
        parser.error('--nproc must be at least 1')
    kept = convert(args.coco_root, args.out_dir, args.nproc,
                   log=lambda line: print(line, flush=True))
    print(f'[coco_voc] done: {len(kept["train2017"])} training and {len(kept["val2017"])} '
          f'validation images in {args.out_dir}')


if __name__ == '__main__':
    run_tool(main)
