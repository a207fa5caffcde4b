"""An activation sweep: one config trained with each (activation, seed), optionally after
pretraining the backbone with the same activation and seed. plan_sweep names the runs (their
directories and specs); run_here trains them on this machine (one after another, or N at a
time), submit_to_slurm makes each a Slurm job (a fine-tune depends on its own pretraining) and a
last job that writes the report; sweep_states says where each run stands; write_report writes
the comparison from the finished runs. Every launcher runs tools/run_job.py per run, which ends
in finish_run_dir."""
import contextlib
import fcntl
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

from ..analysis import aggregate, differences, plot_curves, write_table
from ..analysis.run_record import (failed_run, final_metrics, finish_run, last_checkpoint,
                                   plan_run, read_result, read_scalars, read_spec, run_spec,
                                   start_run)
from ..jobs import slurm
from ..jobs.local import Job, LocalPool, slots
from ..jobs.records import (LOCAL, SLURM, hostname, process_start, read_job, read_json,
                            read_launch, write_job, write_json, write_launch)
from ..jobs.state import DONE, PENDING, PLANNED, RunState, run_state
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
LOCK_FILE, REPORT_JOB_FILE = '.sweep.lock', 'report_job.json'


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

    def launch_record(self, launcher: str, processes: int) -> dict:
        """What tools/run_job.py needs: how to train, and how to finish (finish_run_dir)."""
        return {'run': self.name, 'launcher': launcher, 'processes': processes,
                'python': sys.executable, 'train_script': str(TRAIN_SCRIPT),
                'config': self.stage.config, 'options': self.spec['options'],
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
    return runs


def check_runs(runs: Sequence[Run], force: bool) -> Dict[str, str]:
    """{name: 'reuse' | 'resume' | 'train'} for every run; a directory holding another
    experiment raises StaleRunError before anything is launched (with `force` it is deleted)."""
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
        lock.truncate(0)
        lock.write(f'pid {os.getpid()}\n')
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def sweep_states(runs: Sequence[Run]) -> Dict[str, RunState]:
    """Where each run stands (golu_mm.jobs.state), asking Slurm about the runs submitted to it."""
    ids = [job['id'] for job in map(read_job, (r.run_dir for r in runs))
           if job and job.get('launcher') == SLURM and job.get('id')]
    scheduler = slurm.query(ids) if ids else {}
    return {r.name: run_state(r.name, r.run_dir, r.spec, scheduler) for r in runs}


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
        if run.pretrain is not None and states[run.pretrain.name].state != DONE:
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
                        incomplete)
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
            jobs.append(Job(run.name, run.run_dir, run.launch_record(LOCAL, processes),
                            run.pretrain.run_dir if run.pretrain else None))

    def claim(job: Job) -> bool:
        """Under the lock: this sweep's process runs `job` from now on (the pool's child once
        started), unless another sweep runs it."""
        run = by_dir[job.run_dir]
        with work_dir_lock(root):
            if sweep_states([run])[run.name].active:
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


def submit_to_slurm(runs: Sequence[Run], root: Path, force: bool, resources: slurm.Resources,
                    report_command: Sequence[str], log=print) -> Dict[str, RunState]:
    """Submits a Slurm job for every run that is not done, pending or running (a fine-tune
    after its pretraining: afterok), then one job writing the report after all of them
    (afterany), and returns at once with the states. Slurm validates the jobs' resources
    (sbatch --test-only) before anything is submitted."""
    slurm.require_slurm()
    root = Path(root)
    with work_dir_lock(root):
        check_runs(runs, force)
        states = sweep_states(runs)
        ids = {name: s.job for name, s in states.items() if s.active}
        stuck = [name for name, s in states.items()
                 if s.state == PENDING and 'DependencyNeverSatisfied' in s.reason]
        if stuck:  # their prerequisite failed: resubmitted below after it
            slurm.cancel(ids.pop(name) for name in stuck)
        todo = [r for r in runs if states[r.name].state != DONE and r.name not in ids]
        for run in todo:
            after = ids.get(run.pretrain.name) if run.pretrain else ''
            if after and not after.isdigit():  # no Slurm dependency on a local process
                raise slurm.SlurmError(f'{run.pretrain.run_dir} is being trained on this machine '
                                       f'({after}): submit its fine-tune once it is done (or '
                                       'stop it, and submit both)')
        scripts = {run.name: slurm.batch_script(
            f'golu-{run.name.replace("/", "-")}', run.run_dir / 'job-%j.out',
            resources.sbatch_options(), [sys.executable, str(JOB_SCRIPT), str(run.run_dir)])
            for run in todo}
        if todo:
            check = root / '.check.sbatch'
            check.write_text(scripts[todo[0].name])
            try:
                slurm.check_submission(check)
            finally:
                check.unlink()
        for run in todo:
            after = ids.get(run.pretrain.name) if run.pretrain else None
            start_run(run.run_dir, run.spec)
            write_launch(run.run_dir, run.launch_record(SLURM, resources.processes))
            script = run.run_dir / 'job.sbatch'
            script.write_text(scripts[run.name])
            ids[run.name] = slurm.submit(script, slurm.dependency(
                after_ok=[after] if after else ()))
            write_job(run.run_dir, {'launcher': SLURM, 'id': ids[run.name],
                                    'sbatch': resources.sbatch_options()})
        submit_report(root, report_command, resources,
                      [i for i in ids.values() if i.isdigit()])
        states = sweep_states(runs)
    for name, s in states.items():
        if s.state == PLANNED:
            log(f'[compare] {name}: planned but not submitted ({s.reason})')
    return states


def submit_report(root: Path, command: Sequence[str], resources: slurm.Resources,
                  after: Sequence[str]) -> Optional[str]:
    """The job writing the report once every run's job has ended (afterany: a failed run is
    named in it); it replaces the sweep's earlier report job if that one has not run yet."""
    record_file = Path(root) / REPORT_JOB_FILE
    earlier = read_json(record_file)
    if earlier and slurm.query([earlier['id']]).get(earlier['id'], ('',))[0] == 'PENDING':
        slurm.cancel([earlier['id']])
    script = Path(root) / 'report.sbatch'
    light = slurm.Resources(gpus_per_node=0, cpus_per_task=1, time=resources.time,
                            partition=resources.partition, account=resources.account,
                            qos=resources.qos)
    script.write_text(slurm.batch_script('golu-report', Path(root) / 'report-%j.out',
                                         light.sbatch_options(), command, requeue=False))
    job_id = slurm.submit(script, slurm.dependency(after_any=after))
    write_json(record_file, {'id': job_id, 'command': shlex.join(command)})
    return job_id

