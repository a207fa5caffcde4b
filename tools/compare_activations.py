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
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import golu_mm  # noqa: E402
from golu_mm.analysis import aggregate, write_table  # noqa: E402
from golu_mm.analysis.run_record import (StaleRunError, finish_run, plan_run,  # noqa: E402
                                         read_result, run_spec, start_run)

METRICS = {'mmdet': ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP'],
           'mmseg': ['mIoU', 'mAcc', 'aAcc']}


def activation_options(cfg, activation):
    """--cfg-options setting `activation` at every act_cfg of the model that uses the config's
    declared act_cfg type."""
    declared = cfg.get('act_cfg', {}).get('type')
    if declared is None:
        raise ValueError('the config declares no top-level act_cfg (see configs/*_golu.py)')
    keys = []

    def walk(node, prefix):
        if isinstance(node, dict):
            act = node.get('act_cfg')
            if isinstance(act, dict) and act.get('type') == declared:
                keys.append(f'{prefix}act_cfg')
            for k, v in node.items():
                walk(v, f'{prefix}{k}.')

    walk(cfg.model, 'model.')
    return [f'{key}.type={activation}' for key in ['act_cfg'] + keys]


def final_metrics(work_dir: Path, names):
    """The last logged values of `names` in the run's scalars.json."""
    found = {}
    for scalars in sorted(work_dir.glob('*/vis_data/scalars.json')):
        for line in scalars.read_text().splitlines():
            record = json.loads(line)
            found.update({k: v for k, v in record.items() if k in names})
    missing = [n for n in names if n not in found]
    if missing:
        raise RuntimeError(f'{work_dir}: no {missing} in the logs (did validation run?)')
    return found


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
    runs = []  # plan every run first: a stale directory stops the sweep before any training
    for activation in args.activations:
        for seed in args.seeds:
            run_dir = root / f'{activation}_seed{seed}'
            options = activation_options(cfg, activation) + [f'randomness.seed={seed}',
                                                             *args.cfg_options]
            spec = run_spec(args.config, cfg.pretty_text, options, activation, seed,
                            golu_mm.__version__)
            try:
                runs.append((run_dir, spec, plan_run(run_dir, spec, args.force)))
            except StaleRunError as exc:
                parser.error(str(exc))
    results = []
    for run_dir, spec, plan in runs:
        if plan == 'reuse':
            print(f'[compare] {run_dir.name}: done before with the same config and options, '
                  f'reusing {run_dir / "result.json"}')
            results.append(read_result(run_dir))
            continue
        print(f'[compare] {run_dir.name}: ' + ('resuming from its last checkpoint'
                                              if plan == 'resume' else 'training'), flush=True)
        start_run(run_dir, spec)
        subprocess.run(train_command(args, args.config, run_dir, spec['options'],
                                     resume=plan == 'resume'),
                       check=True, env={**os.environ, 'PYTHON': sys.executable})
        results.append(finish_run(run_dir, spec, final_metrics(run_dir, metrics)))
    rows = aggregate(results, metrics)
    paths = write_table(rows, metrics, root)
    print(paths['markdown'].read_text())
    print(f'[compare] wrote {", ".join(str(p) for p in paths.values())}')
    return rows


if __name__ == '__main__':
    main()
