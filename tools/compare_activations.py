"""Compare activations fairly: train one config with each activation and several seeds, collect
the final validation metrics, and write mean ± std per activation, each activation's difference
from the first (paired by seed: 95 % CI and the paired t-test), training curves, as markdown, CSV
and plots.

    python tools/compare_activations.py configs/demo/mask_rcnn_golu_demo.py \\
        --activations ReLU GELU SiLU Mish GoLU --seeds 0 1 2 --work-dir work_dirs/compare

With --pretrain-config (an mmpretrain config, e.g. configs/pretrain/resnet50_relu_in1k.py) each
(activation, seed) first pretrains its backbone with that activation and seed, then fine-tunes
from it: the activation-matched protocol.

Where the runs train (docs/cluster.md):
  (default)         one after another on this machine, in the foreground;
  --launcher local  --max-parallel N at once on this machine, each on its own GPUs
                    (--gpus-per-run) or its own share of the CPU cores;
  --launcher pytorch  one after another, each a torchrun of --gpus-per-run processes;
  --launcher slurm  every run its own Slurm job (a fine-tune after its own pretraining, ended
                    if that one fails), warned --signal-lead s before its time limit, saving
                    and requeueing itself (--max-attempts), at most --max-running at once, and
                    a last job writing the report once every job has ended; returns at once.
                    --status shows where the sweep stands; --report writes the comparison from
                    the runs done so far.
Each run directory records what defines the run (run.json). Running the same command again
reuses finished runs, resumes unfinished ones from their own last checkpoint, launches nothing
for a run that is pending or running, and refuses a directory holding another experiment
(--force deletes and retrains it). The activation replaces the config's own `act_cfg` type
wherever the model uses it (backbone only, or whole model).
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import golu_mm  # noqa: E402
from golu_mm.analysis.run_record import StaleRunError  # noqa: E402
from golu_mm.jobs.runner import DEFAULT_MAX_ATTEMPTS  # noqa: E402
from golu_mm.jobs.slurm import DEFAULT_SIGNAL_LEAD  # noqa: E402


def arguments(argv):
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
    parser.add_argument('--force', action='store_true',
                        help='delete and retrain run directories that hold a different run')
    what = parser.add_mutually_exclusive_group()
    what.add_argument('--status', action='store_true',
                      help='show where each run stands (asks Slurm about submitted runs)')
    what.add_argument('--report', action='store_true',
                      help='write the comparison from the runs done so far, naming the others')
    parser.add_argument('--launcher', choices=['none', 'local', 'pytorch', 'slurm'],
                        default='none')
    here = parser.add_argument_group('this machine (--launcher none, local, pytorch)')
    here.add_argument('--max-parallel', type=int, default=1,
                      help='runs at once (--launcher local)')
    here.add_argument('--gpus-per-run', '--gpus', type=int, default=1,
                      help='GPUs (processes) per run: several make each run a torchrun')
    cluster = parser.add_argument_group('each run\'s Slurm job (--launcher slurm)')
    cluster.add_argument('--nodes', type=int, default=1)
    cluster.add_argument('--gpus-per-node', type=int, default=1,
                         help='0 on a cluster without GPUs')
    cluster.add_argument('--tasks-per-node', type=int,
                         help='training processes per node (default: one per GPU)')
    cluster.add_argument('--cpus-per-task', type=int, default=4)
    cluster.add_argument('--mem', help='memory per node, as sbatch --mem takes it')
    cluster.add_argument('--time', help='time limit, as sbatch --time takes it')
    cluster.add_argument('--partition')
    cluster.add_argument('--account')
    cluster.add_argument('--qos')
    cluster.add_argument('--sbatch-option', action='append', default=[], metavar='OPTION',
                         help='another sbatch option, e.g. --sbatch-option=--constraint=a100 '
                              '(repeatable)')
    cluster.add_argument('--signal-lead', type=int, default=DEFAULT_SIGNAL_LEAD, metavar='SECONDS',
                         help='Slurm warns each job this long before its time limit; the '
                              'training then saves a checkpoint and the job requeues itself '
                              f'(default {DEFAULT_SIGNAL_LEAD})')
    cluster.add_argument('--max-attempts', type=int, default=DEFAULT_MAX_ATTEMPTS,
                         help='attempts (jobs and their requeues) a run may take before it is '
                              f'given up as failed (default {DEFAULT_MAX_ATTEMPTS})')
    cluster.add_argument('--max-running', type=int,
                         help='at most this many runs of the sweep run at once (default: all)')
    parser.add_argument('--close', action='store_true', help=argparse.SUPPRESS)  # closing job
    args = parser.parse_args(argv)
    if args.pretrain_cfg_options and not args.pretrain_config:
        parser.error('--pretrain-cfg-options needs --pretrain-config')
    if args.max_parallel != 1 and args.launcher != 'local':
        parser.error('--max-parallel needs --launcher local')
    return parser, args


def stages(args):
    from mmengine import Config

    from golu_mm.openmmlab.apis import codebase_of
    from golu_mm.openmmlab.sweep import Stage

    def stage(config, options):
        if not Path(config).is_file():
            raise FileNotFoundError(f'config file {config} does not exist')
        cfg = Config.fromfile(config)
        codebase_of(cfg)  # an error naming the config's scope if golu_mm cannot run it
        return Stage(config, cfg, options)

    return (stage(args.config, args.cfg_options),
            stage(args.pretrain_config, args.pretrain_cfg_options)
            if args.pretrain_config else None)


def check_fair(args) -> None:
    from mmengine import Config

    from golu_mm.openmmlab.config_options import ConfigError, merge_options, parse_options
    from golu_mm.openmmlab.preflight import from_scratch_problems
    merged = merge_options(Config.fromfile(args.config), parse_options(args.cfg_options))
    problems = from_scratch_problems(merged)
    if problems:
        raise ConfigError(
            f'{args.config} trains the backbone from scratch with {"; ".join(problems)}: '
            'unfair to every activation but ReLU (docs/openmmlab.md, "Fair settings"). '
            'Pass --cfg-options backbone_checkpoint=None (from scratch, every stage and '
            'batch norm trained), or --pretrain-config for activation-matched weights')


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, args = arguments(argv)
    from golu_mm.jobs.state import state_table
    from golu_mm.openmmlab import slurm_sweep as sweep_on_slurm
    from golu_mm.openmmlab import sweep

    main_stage, pretrain = stages(args)
    root = Path(args.work_dir)
    runs = sweep.plan_sweep(main_stage, args.activations, args.seeds, root, golu_mm.__version__,
                            pretrain)
    if args.status:
        states = sweep.sweep_states(runs)
        print(state_table(states.values()))
        return states
    if args.report and args.close:
        paths = sweep_on_slurm.close_sweep(runs, root, slurm_settings(args), closing(argv), log)
        if paths is not None:
            print(paths['markdown'].read_text())
        return paths
    if args.report:
        return report(runs, root)
    if pretrain is None:
        check_fair(args)
    try:
        if args.launcher == 'slurm':
            states = sweep_on_slurm.submit_to_slurm(runs, root, args.force, slurm_settings(args),
                                                    closing(argv), log)
            print(state_table(states.values()))
            print('[compare] submitted; the same command with --status shows where each run '
                  'stands')
            return None
        from golu_mm.jobs.local import visible_gpus
        results = sweep.run_here(runs, root, args.force,
                                 max_parallel=args.max_parallel if args.launcher == 'local' else 1,
                                 processes=args.gpus_per_run if args.launcher != 'none' else 1,
                                 gpus=visible_gpus(), log=log)
    except StaleRunError as exc:
        parser.error(str(exc))
    report(runs, root)
    failed = [f'{r["activation"]} seed {r["seed"]}' for r in results if r['status'] != 'finished']
    if failed:
        raise RuntimeError(f'{len(failed)} of {len(results)} runs failed ({", ".join(failed)}); '
                           f'the table holds the others. Rerun the same command to retry them')
    return results


def log(line):
    print(line, flush=True)


def slurm_settings(args):
    from golu_mm.jobs.slurm import Resources
    from golu_mm.openmmlab.slurm_sweep import SlurmSettings
    return SlurmSettings(Resources(args.nodes, args.gpus_per_node, args.tasks_per_node,
                                   args.cpus_per_task, args.mem, args.time, args.partition,
                                   args.account, args.qos, args.sbatch_option),
                         args.max_attempts, args.signal_lead, args.max_running)


def closing(argv):
    """The closing job's command: this one, closing the sweep (--report --close)."""
    argv = [a for a in argv if a not in ('--report', '--close', '--force')]
    return [sys.executable, str(Path(__file__).resolve()), *argv, '--report', '--close']


def report(runs, root):
    from golu_mm.openmmlab import sweep
    paths = sweep.write_report(runs, root, log=log)
    print(paths['markdown'].read_text())
    print(f'[compare] wrote {", ".join(str(p) for p in paths.values())}')
    return paths


if __name__ == '__main__':
    from golu_mm.cli import run_tool
    run_tool(main)
