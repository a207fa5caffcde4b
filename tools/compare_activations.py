"""Compare activations fairly: train one config with each activation and several seeds, collect
the final validation metrics, and write mean ± std per activation, each activation's difference
from the first (paired by seed, 95 % CI, Welch p), training curves, as markdown, CSV and plots.

    python tools/compare_activations.py configs/demo/mask_rcnn_golu_demo.py \
        --activations ReLU GELU SiLU Mish GoLU --seeds 0 1 2 --work-dir work_dirs/compare

With --pretrain-config (an mmpretrain config, e.g. configs/pretrain/resnet50_relu_in1k.py) each
(activation, seed) first pretrains its backbone with that activation and seed, then fine-tunes
from it: the activation-matched protocol. Both stages are reused or resumed like any run.

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
from golu_mm.analysis import aggregate, differences, plot_curves, write_table  # noqa: E402
from golu_mm.analysis.run_record import StaleRunError  # noqa: E402
from golu_mm.analysis.run_record import FAILED  # noqa: E402
from golu_mm.openmmlab.sweep import PRETRAIN_PREFIX, Stage, read_scalars, run_sweep  # noqa: E402


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
    parser.add_argument('--pretrain-config',
                        help='mmpretrain config: pretrain each run\'s backbone with its '
                             'activation and seed first, then fine-tune from it')
    parser.add_argument('--pretrain-cfg-options', nargs='+', default=[],
                        help='extra KEY=VALUE overrides for every pretraining run')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--gpus', type=int, default=1, help='processes per run (pytorch)')
    parser.add_argument('--partition', help='slurm partition')
    parser.add_argument('--force', action='store_true',
                        help='delete and retrain run directories that hold a different run')
    args = parser.parse_args(argv)
    if args.launcher == 'slurm' and not args.partition:
        parser.error('--launcher slurm needs --partition')

    if args.pretrain_cfg_options and not args.pretrain_config:
        parser.error('--pretrain-cfg-options needs --pretrain-config')

    from mmengine import Config

    from golu_mm.openmmlab.config_checks import (ConfigError, from_scratch_problems,
                                                 merge_options, parse_options)
    from golu_mm.openmmlab.apis import codebase_of

    def stage(config, options):
        if not Path(config).is_file():
            raise FileNotFoundError(f'config file {config} does not exist')
        cfg = Config.fromfile(config)
        codebase_of(cfg)  # an error naming the config's scope if golu_mm cannot run it
        return Stage(config, cfg, options)

    main_stage = stage(args.config, args.cfg_options)
    pretrain = (stage(args.pretrain_config, args.pretrain_cfg_options)
                if args.pretrain_config else None)
    if pretrain is None:
        merged = merge_options(Config.fromfile(args.config), parse_options(args.cfg_options))
        problems = from_scratch_problems(merged)
        if problems:
            raise ConfigError(
                f'{args.config} trains the backbone from scratch with {"; ".join(problems)}: '
                'unfair to every activation but ReLU (docs/openmmlab.md, "Fair settings"). '
                'Pass --cfg-options backbone_checkpoint=None (from scratch, every stage and '
                'batch norm trained), or --pretrain-config for activation-matched weights')
    root = Path(args.work_dir)

    def train(config, run_dir, options, resume):
        subprocess.run(train_command(args, config, run_dir, options, resume), check=True,
                       env={**os.environ, 'PYTHON': sys.executable})

    try:
        results = run_sweep(main_stage, args.activations, args.seeds, root, golu_mm.__version__,
                            args.force, train, pretrain=pretrain,
                            log=lambda line: print(line, flush=True))
    except StaleRunError as exc:
        parser.error(str(exc))
    metrics = main_stage.metrics + ([PRETRAIN_PREFIX + m for m in pretrain.metrics]
                                    if pretrain else [])
    rows = aggregate(results, metrics)
    incomplete = [r for r in results if r.get('status') == FAILED
                  or any(m not in r['metrics'] for m in metrics)]
    paths = write_table(rows, metrics, root, differences(results, metrics), incomplete)
    curves = [(main_stage, root, 'curves.png')]
    if pretrain:
        curves.append((pretrain, root / 'pretrain', 'pretrain_curves.png'))
    for stage_, stage_root, name in curves:
        runs = [{'activation': r['activation'], 'seed': r['seed'],
                 'records': read_scalars(stage_root / f'{r["activation"]}_seed{r["seed"]}')}
                for r in results]
        without_loss = plot_curves(runs, stage_.metrics[0], root / name,
                                   title=Path(stage_.config).stem)
        paths[name] = root / name
        if without_loss:
            print(f'[compare] {name}: no training loss logged (run shorter than the logger '
                  f'interval) for {", ".join(without_loss)}')
    print(paths['markdown'].read_text())
    print(f'[compare] wrote {", ".join(str(p) for p in paths.values())}')
    failed = [f'{r["activation"]} seed {r["seed"]}' for r in results if r.get('status') == FAILED]
    if failed:
        raise RuntimeError(f'{len(failed)} of {len(results)} runs failed ({", ".join(failed)}); '
                           f'the table holds the others. Rerun the same command to retry them')
    return rows


if __name__ == '__main__':
    from golu_mm.openmmlab.apis import run_tool
    run_tool(main)
