"""Evaluate a checkpoint of an mmdet, mmseg or mmpretrain model, as their tools/test.py (prints
COCO bbox/segm AP for detectors, mIoU for segmenters, top-1/top-5 accuracy for classifiers):

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE_OR_DIR] [--show-dir DIR]
        [--show [--wait-time S]] [--tta] [--non-strict] [--allow-activation-mismatch]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from golu_mm.cli import run_tool  # noqa: E402
from golu_mm.openmmlab import apis  # noqa: E402
from golu_mm.openmmlab.tool_arguments import tool_arguments  # noqa: E402


def main(argv=None):
    args = tool_arguments(argparse.ArgumentParser(description=__doc__), 'test', argv)
    apis.test(args.config, args.checkpoint, work_dir=args.work_dir, out=args.out,
              show_dir=args.show_dir, cfg_options=args.cfg_options, launcher=args.launcher,
              non_strict=args.non_strict,
              allow_activation_mismatch=args.allow_activation_mismatch, show=args.show,
              wait_time=args.wait_time, tta=args.tta)


if __name__ == '__main__':
    run_tool(main)
