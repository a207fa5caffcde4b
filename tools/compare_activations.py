"""Compare activations fairly: train one config with each activation and several seeds, collect
the final validation metrics, and write mean ± std per activation as markdown, CSV and a plot.

    python tools/compare_activations.py configs/demo/mask_rcnn_golu_demo.py \
        --activations ReLU GELU SiLU Mish GoLU --seeds 0 1 2 --work-dir work_dirs/compare

Each run trains through tools/train.py (sequentially here; with --launcher pytorch through
tools/dist_train.sh, with --launcher slurm through tools/slurm_train.sh). Each run directory
records what defines the run (run.json: config path and resolved-config hash, options,
activation, seed, golu_mm version). A rerun reuses a finished run only when all of that matches,
resumes an unfinished one from its own last checkpoint, and refuses a directory holding another
experiment (--force deletes and retrains it). The activation replaces the config's own `act_cfg`
type wherever the model uses it (backbone only, or whole model).
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import golu_mm  # noqa: E402
from golu_mm.analysis import aggregate, write_table  # noqa: E402
from golu_mm.analysis.run_record import StaleRunError  # noqa: E402
from golu_mm.analysis.sweep import METRICS, run_sweep  # noqa: E402


def train_command(args, config, run_dir, options, resume=False):
    base = ['--work-dir', str(run_dir), *(['--resume'] if resume else []),
            '--cfg-options', *options]
    if args.launcher == 'pytorch':
        return ['bash', str(ROOT / 'tools/dist_train.sh'), config, str(args.gpus), *base]
    if args.launcher == 'slurm':
        return ['bash', str(ROOT / 'tools/slurm_train.sh'), args.partition,
                run_dir.name, config, str(run_dir), *base[2:]]
    return [sys.executable, str(ROOT / 'tools/train.py'), config, *base]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--activations', nargs='+', default=['ReLU', 'GoLU'])
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1])
    parser.add_argument('--work-dir', default='work_dirs/compare')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra KEY=VALUE overrides for every run')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--gpus', type=int, default=1, help='processes per run (pytorch)')
    parser.add_argument('--partition', help='slurm partition')
    parser.add_argument('--force', action='store_true',
                        help='delete and retrain run directories that hold a different run')
    args = parser.parse_args(argv)
    if args.launcher == 'slurm' and not args.partition:
        parser.error('--launcher slurm needs --partition')

    from mmengine import Config

    from golu_mm.openmmlab.runner import codebase_of
    cfg = Config.fromfile(args.config)
    metrics = METRICS[codebase_of(cfg)]
    root = Path(args.work_dir)

    def train(run_dir, options, resume):
        subprocess.run(train_command(args, args.config, run_dir, options, resume), check=True,
                       env={**os.environ, 'PYTHON': sys.executable})

    try:
        results = run_sweep(args.config, cfg, args.activations, args.seeds, root,
                            args.cfg_options, golu_mm.__version__, args.force, train,
                            log=lambda line: print(line, flush=True))
    except StaleRunError as exc:
        parser.error(str(exc))
    rows = aggregate(results, metrics)
    paths = write_table(rows, metrics, root)
    print(paths['markdown'].read_text())
    print(f'[compare] wrote {", ".join(str(p) for p in paths.values())}')
    return rows


if __name__ == '__main__':
    main()
