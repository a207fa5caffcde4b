"""An activation sweep: one config trained with each (activation, seed), optionally after
pretraining the backbone with the same activation and seed. plan_sweep names the runs (their
directories and specs); run_here trains them on this machine (one after another, or N at a
time; slurm_sweep makes each a Slurm job); sweep_states says where each run stands; write_report
writes the comparison, and what the runs cost, from the finished runs. Every launcher runs
tools/run_job.py per run, which ends in finish_run_dir."""
import contextlib
import fcntl
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

from ..analysis import aggregate, differences, plot_curves, write_table
from ..analysis.comparison import markdown
from ..analysis.run_record import (StaleRunError, failed_run, final_metrics, finish_run,
                                   last_checkpoint, plan_run, read_result, read_scalars,
                                   read_spec, run_spec, stale_problems, start_run)
from ..jobs import slurm
from ..jobs.cost import COST_METRICS, run_cost
from ..jobs.local import Job, LocalPool, slots
from ..jobs.records import (LOCAL, SLURM, hostname, process_start, read_attempts, read_job,
                            read_launch, write_job, write_launch)
from ..jobs.runner import DEFAULT_MAX_ATTEMPTS
from ..jobs.state import (BLOCKED, DONE, ENDED_BADLY, RUNNING, RunState, SchedulerView,
                          live_job, run_state)
from .run_analysis import link_analysis

# The validation metrics the table reports, per codebase (the config's default_scope).
METRICS = {'mmdet': ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP'],
           'mmseg': ['mIoU', 'mAcc', 'aAcc'],
           'mmpretrain': ['accuracy/top1']}
PRETRAIN_PREFIX = 'pretrain/'
BACKBONE_FILE = 'backbone.pth'
ROOT = Path(__file__).resolve().parents[2]
TRAIN_SCRIPT = ROOT / 'tools' / 'train.py'
JOB_SCRIPT = ROOT / 'tools' / 'run_job.py'
LOCK_FILE = '.sweep.lock'


@dataclass
class Stage:
    """One training stage of every run: a config (and its loaded Config) with extra options."""
    config: str
    cfg: object
    options: Sequence[str] = ()

    @property
    def metrics(self) -> List[str]:
        return METRICS[self.cfg.get('default_scope')]


@dataclass
class Run:
    """One training: its stage, directory (name: relative to the sweep's root), spec, and the
    pretraining run whose backbone it starts from (None for a pretraining or a plain run)."""
    name: str
    stage: Stage
    run_dir: Path
    spec: dict
    activation: str
    seed: int
    is_pretrain: bool = False
    pretrain: Optional['Run'] = None
    dependents: List['Run'] = field(default_factory=list)

    def launch_record(self, launcher: str, processes: int, gpus: int = 0,
                      max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> dict:
        """What tools/run_job.py needs: how to train (on how many GPUs, in at most how many
        attempts), the runs waiting for this one, and how to finish (finish_run_dir)."""
        return {'run': self.name, 'launcher': launcher, 'processes': processes, 'gpus': gpus,
                'max_attempts': max_attempts, 'python': sys.executable,
                'train_script': str(TRAIN_SCRIPT), 'config': self.stage.config,
                'options': self.spec['options'],
                'dependents': [str(d.run_dir) for d in self.dependents],
                'finish': {'metrics': self.stage.metrics, 'backbone': self.is_pretrain,
                           'pretrain_dir': str(self.pretrain.run_dir) if self.pretrain else None}}


def activation_options(cfg, activation: str) -> List[str]:
    """--cfg-options setting `activation` at every act_cfg of the model that uses the config's
    declared (top-level) act_cfg type: the backbone only, or the whole model."""
    from .config_options import act_cfg_paths
    if cfg.get('act_cfg', {}).get('type') is None:
        raise ValueError('the config declares no top-level act_cfg (see configs/*_golu.py)')
    return [f'{key}.type={activation}' for key in ['act_cfg'] + act_cfg_paths(cfg)]


def backbone_options(checkpoint) -> List[str]:
    """--cfg-options that initialise the model's backbone from `checkpoint` (strictly)."""
    return ['model.backbone.init_cfg._delete_=True', 'model.backbone.init_cfg.type=Pretrained',
            f'model.backbone.init_cfg.checkpoint={checkpoint}']


def plan_sweep(stage: Stage, activations: Sequence[str], seeds: Sequence[int], root: Path,
               version: str, pretrain: Optional[Stage] = None) -> List[Run]:
    """Every run, in launch order: per (activation, seed) its pretraining under
    root/pretrain/ACT_seedN (with `pretrain`), then its run under root/ACT_seedN (fine-tuned from
    that pretraining's backbone). Touches no file."""
    runs = []
    for activation in activations:
        for seed in seeds:
            common, pre = [f'randomness.seed={seed}'], None
            if pretrain is not None:
                name = f'pretrain/{activation}_seed{seed}'
                options = activation_options(pretrain.cfg, activation) + common + [
                    *pretrain.options]
                pre = Run(name, pretrain, Path(root) / name,
                          run_spec(pretrain.config, pretrain.cfg.pretty_text, options,
                                   activation, seed, version), activation, seed, True)
                runs.append(pre)
                common = common + backbone_options(pre.run_dir / BACKBONE_FILE)
            name = f'{activation}_seed{seed}'
            options = activation_options(stage.cfg, activation) + common + [*stage.options]
            runs.append(Run(name, stage, Path(root) / name,
                            run_spec(stage.config, stage.cfg.pretty_text, options, activation,
                                     seed, version, pretrain=None if pre is None else pre.spec),
                            activation, seed, pretrain=pre))
            if pre is not None:
                pre.dependents.append(runs[-1])
    return runs


def check_runs(runs: Sequence[Run], force: bool, scheduler=None) -> Dict[str, str]:
    """{name: 'reuse' | 'resume' | 'train'} for every run; a directory holding another
    experiment raises StaleRunError before anything is launched (with `force` it is deleted,
    unless a live job still writes to it: then StaleRunError names that job)."""
    if force:
        for run in runs:
            if stale_problems(run.run_dir, run.spec):
                owner = live_job(run.run_dir, scheduler if scheduler is not None else
                                 scheduler_view([run]))
                if owner:
                    raise StaleRunError(f'--force would delete {run.run_dir}, but {owner} still '
                                        'runs there: stop it first (scancel, or end the process)')
    return {run.name: plan_run(run.run_dir, run.spec, force) for run in runs}


@contextlib.contextmanager
def work_dir_lock(root: Path, timeout: float = 300) -> Iterator[None]:
    """Held while a sweep decides what to launch and records it, so that two sweeps started
    at once against one work dir never launch the same run twice (an flock on
    root/.sweep.lock; released when its holder exits, however it exits)."""
    Path(root).mkdir(parents=True, exist_ok=True)
    with open(Path(root) / LOCK_FILE, 'a+') as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    lock.seek(0)
                    raise RuntimeError(f'another sweep holds {lock.name} ({lock.read().strip()})'
                                       f' for over {timeout:.0f} s') from None
                time.sleep(0.2)
            except OSError as exc:  # ENOLCK, EOPNOTSUPP: a file system without locks
                raise RuntimeError(
                    f'{lock.name} cannot be locked ({exc.strerror or exc}): the file system of '
                    'the work dir does not support file locks (Lustre mounted without -o '
                    'flock, some NFS setups), which keep two sweeps from launching a run '
                    'twice. Use a --work-dir on one that does') from None
        lock.truncate(0)
        lock.write(f'pid {os.getpid()}\n')
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def scheduler_view(runs: Sequence[Run]) -> SchedulerView:
    """What Slurm says of the runs' jobs (an empty view where none was submitted to Slurm)."""
    jobs = [read_job(r.run_dir) for r in runs]
    slurm_jobs = [j for j in jobs if j and j.get('launcher') == SLURM]
    return slurm.query(j.get('id') for j in slurm_jobs) if slurm_jobs else SchedulerView()


def sweep_states(runs: Sequence[Run], scheduler=None) -> Dict[str, RunState]:
    """Where each run stands (golu_mm.jobs.state), asking Slurm about the runs submitted to it
    (or reading `scheduler`, a view already asked). A run whose pretraining ended without
    success is blocked: it cannot run until that one is run again."""
    scheduler = scheduler_view(runs) if scheduler is None else scheduler
    states = {r.name: run_state(r.name, r.run_dir, r.spec, scheduler) for r in runs}
    for run in runs:
        own = states[run.name]
        pre = states.get(run.pretrain.name) if run.pretrain else None  # None: not asked about
        if pre and pre.state in ENDED_BADLY and own.state not in (DONE, RUNNING):
            states[run.name] = RunState(run.name, BLOCKED, own.job, own.step, own.checkpoint,
                                        f'{run.pretrain.name} {pre.state}'
                                        + (f': {pre.reason}' if pre.reason else ''))
    return states


def finish_run_dir(run_dir: Path) -> dict:
    """The end of a run's job, after its training: a pretraining's backbone extracted (what its
    fine-tune loads), the final metrics (with the pretraining's as 'pretrain/<name>') written to
    result.json, which marks the run done."""
    run_dir = Path(run_dir)
    finish = read_launch(run_dir)['finish']
    if finish['backbone']:
        from .pretrained import extract_backbone
        checkpoint = last_checkpoint(run_dir)
        if checkpoint is None:
            raise RuntimeError(f'{run_dir}: training saved no checkpoint (no last_checkpoint)')
        extract_backbone(str(checkpoint), str(run_dir / BACKBONE_FILE))
    metrics = final_metrics(run_dir, finish['metrics'])
    missing = [m for m in finish['metrics'] if m not in metrics]
    if finish['pretrain_dir']:
        pre = read_result(Path(finish['pretrain_dir']))['metrics']
        metrics.update({PRETRAIN_PREFIX + k: v for k, v in pre.items()})
    if missing:
        print(f'[job] {run_dir}: its evaluation produced no {", ".join(missing)} (e.g. nothing '
              'detected yet); recorded without them', flush=True)
    return finish_run(run_dir, read_spec(run_dir), metrics,
                      note=f'no {", ".join(missing)} logged' if missing else None)


def results(runs: Sequence[Run], states: Dict[str, RunState]) -> List[dict]:
    """The result of every run that is not a pretraining: read where done; else a result
    without metrics whose status and note say where it stands."""
    out = []
    for run in runs:
        if run.is_pretrain:
            continue
        state = states[run.name]
        if state.state == DONE:
            out.append(read_result(run.run_dir))
            continue
        note = state.reason
        if run.pretrain is not None and state.state != BLOCKED and \
                states[run.pretrain.name].state != DONE:
            pre = states[run.pretrain.name]
            note = f'its pretraining is {pre.state}' + (f': {pre.reason}' if pre.reason else '')
        result = failed_run(run.spec, note)
        result['status'] = state.state
        out.append(result)
    return out


def write_report(runs: Sequence[Run], root: Path, log=print) -> Dict[str, Path]:
    """comparison.md/.csv/.png and the curves from the runs that are done; the others are named
    in the table's list of runs without metrics, with their state."""
    root = Path(root)
    states = sweep_states(runs)
    found = results(runs, states)
    main = next(r for r in runs if not r.is_pretrain).stage
    pretrain = next((r.stage for r in runs if r.is_pretrain), None)
    metrics = main.metrics + ([PRETRAIN_PREFIX + m for m in pretrain.metrics] if pretrain else [])
    incomplete = [r for r in found if r.get('status') != 'finished'
                  or any(m not in r['metrics'] for m in metrics)]
    paths = write_table(aggregate(found, metrics), metrics, root, differences(found, metrics),
                        incomplete, appendix=cost_section(runs, states))
    link_analysis(root)  # tools/analyze_activations.py's page, where it was written
    for stage, pre, name in [(main, False, 'curves.png')] + (
            [(pretrain, True, 'pretrain_curves.png')] if pretrain else []):
        curves = [{'activation': r.activation, 'seed': r.seed, 'records': read_scalars(r.run_dir)}
                  for r in runs if r.is_pretrain == pre]
        without_loss = plot_curves(curves, stage.metrics[0], root / name,
                                   title=Path(stage.config).stem)
        paths[name] = root / name
        if without_loss:
            log(f'[compare] {name}: no training loss logged (run shorter than the logger '
                f'interval) for {", ".join(without_loss)}')
    return paths


def cost_results(runs: Sequence[Run], states: Dict[str, RunState]) -> List[dict]:
    """What each finished run (not a pretraining) cost (golu_mm.jobs.cost.run_cost), its
    pretraining's cost as 'pretrain/cost/...', as results the comparison aggregates."""
    ids = {a['job'] for r in runs for a in read_attempts(r.run_dir) if str(a['job']).isdigit()}
    accounting = slurm.accounting(ids) if ids else None
    found = []
    for run in runs:
        if run.is_pretrain or states[run.name].state != DONE:
            continue
        cost = {k: v for k, v in run_cost(run.run_dir, accounting).items() if k in COST_METRICS}
        if run.pretrain is not None:
            cost.update({PRETRAIN_PREFIX + k: v for k, v in
                         run_cost(run.pretrain.run_dir, accounting).items() if k in COST_METRICS})
        found.append({'activation': run.activation, 'seed': run.seed, 'metrics': cost})
    return found


def cost_section(runs: Sequence[Run], states: Dict[str, RunState]) -> str:
    """The report's cost table: wall time, GPU-hours and seconds per iteration per activation,
    with each activation's difference from the first (paired by seed, 95 % CI)."""
    found = cost_results(runs, states)
    metrics = [m for m in [*COST_METRICS, *(PRETRAIN_PREFIX + c for c in COST_METRICS)]
               if any(m in r['metrics'] for r in found)]
    if not metrics:
        return '\n## Training cost\n\nNo finished run recorded its cost.\n'
    return ('\n## Training cost\n\nPer finished run: wall time over all its attempts '
            '(hours), GPU-hours (Slurm\'s accounting where it is on, else the job records: '
            'time x GPUs held) and seconds per training iteration (mmengine\'s logged `time`).'
            '\n\n' + markdown(aggregate(found, metrics), metrics, differences(found, metrics))
            + '\n')


def run_here(runs: Sequence[Run], root: Path, force: bool, max_parallel: int = 1,
             processes: int = 1, gpus: Sequence[str] = (), cores: Sequence[int] = (),
             log=print) -> List[dict]:
    """Trains the runs that are not done on this machine, max_parallel at once (each in its own
    slot: jobs.local.slots), skipping those another sweep runs now; returns the results."""
    slot_list = slots(max_parallel, processes, list(gpus), list(cores) or
                      sorted(os.sched_getaffinity(0)))
    by_dir = {r.run_dir: r for r in runs}
    with work_dir_lock(root):
        plans = check_runs(runs, force)
    jobs = []
    for run in runs:
        if plans[run.name] == 'reuse':
            log(f'[compare] {run.run_dir}: done before with the same config and options, reusing '
                f'{run.run_dir / "result.json"}')
        else:
            jobs.append(Job(run.name, run.run_dir, run.launch_record(
                LOCAL, processes, processes if gpus else 0), run.pretrain.run_dir
                if run.pretrain else None))

    def claim(job: Job) -> bool:
        """Under the lock: this sweep's process runs `job` from now on (the pool's child once
        started), unless another sweep runs it."""
        run = by_dir[job.run_dir]
        with work_dir_lock(root):
            state = sweep_states([run])[run.name]
            if state.state == DONE:
                log(f'[compare] {run.run_dir}: another sweep finished it just now; reusing it')
                return False
            if state.active:
                log(f'[compare] {run.run_dir}: another sweep runs it now; waiting for it')
                return False
            start_run(run.run_dir, run.spec)
            write_launch(run.run_dir, job.launch)
            write_job(run.run_dir, {'launcher': LOCAL, 'pid': os.getpid(), 'host': hostname(),
                                    'pid_start': process_start(os.getpid())})
        resuming = last_checkpoint(run.run_dir) is not None
        log(f'[compare] {run.run_dir}: ' + ('resuming from its last checkpoint' if resuming
                                             else 'training'))
        return True

    def active(run_dir: Path) -> bool:
        return sweep_states([by_dir[run_dir]])[by_dir[run_dir].name].active

    def command(run_dir: Path) -> List[str]:
        return [sys.executable, str(JOB_SCRIPT), str(run_dir)]

    codes = LocalPool(command, slot_list, claim, active, log).run(jobs)
    for job in jobs:
        if codes.get(job.name):
            state = sweep_states([by_dir[job.run_dir]])[job.name]
            log(f'[compare] {job.run_dir}: FAILED ({state.reason}); going on')
    return results(runs, sweep_states(runs))
