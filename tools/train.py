"""Train an mmdet, mmseg or mmpretrain model (the config's default_scope decides), as their
tools/train.py:

    python tools/train.py configs/mask_rcnn_golu.py [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--save-on-signal] [--non-strict] [--allow-activation-mismatch]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from golu_mm.jobs import signals  # noqa: E402

if '--save-on-signal' in sys.argv:  # before the imports below: a signal during them is kept
    signals.listen()
from golu_mm.cli import run_tool  # noqa: E402
from golu_mm.jobs.runner import SAVED_EXIT  # noqa: E402
from golu_mm.openmmlab import apis  # noqa: E402
from golu_mm.openmmlab.tool_arguments import tool_arguments  # noqa: E402


def main(argv=None):
    args = tool_arguments(argparse.ArgumentParser(description=__doc__), 'train', argv)
    runner = apis.train(args.config, work_dir=args.work_dir, resume=args.resume, amp=args.amp,
                        cfg_options=args.cfg_options, launcher=args.launcher,
                        non_strict=args.non_strict,
                        allow_activation_mismatch=args.allow_activation_mismatch,
                        auto_scale_lr=args.auto_scale_lr, save_on_signal=args.save_on_signal)
    if runner.stopped is not None:
        print(f'[golu_mm] {runner.stopped}', flush=True)
        sys.exit(SAVED_EXIT)


if __name__ == '__main__':
    run_tool(main)
