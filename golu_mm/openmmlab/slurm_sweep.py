"""A sweep as Slurm jobs that finishes unattended: every run its own job (a fine-tune after its
own pretraining, ended by Slurm if that one fails), each job warned before its time limit and
requeued from the checkpoint it then saves (golu_mm.jobs.runner), at most `max_running` runs at
once, and a closing job that waits until every run's job has ended, however it ended, then writes
the report. Every job carries its run's identity (--comment), and the sweep records a job before
submitting it, so that a rerun finds what an interrupted one submitted; while Slurm does not
answer nothing is submitted. Every run's config is checked before anything is queued."""
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence

from ..jobs import slurm
from ..jobs.records import (SLURM, job_comment, read_job, read_json, write_job, write_json,
                            write_launch)
from ..jobs.runner import BATCH_SCRIPT, DEFAULT_MAX_ATTEMPTS
from ..analysis.run_record import start_run
from ..jobs.state import DONE, PENDING, PLANNED, RUNNING, RunState
from .sweep import (BACKBONE_FILE, JOB_SCRIPT, Run, check_runs, scheduler_view, sweep_states,
                    work_dir_lock, write_report)

CLOSING_JOB_FILE = 'report_job.json'
RETRY_DELAY = 'now+120'  # when the closing job asks again after Slurm did not answer
MAX_RETRIES = 30  # then it writes the report with the states it could not learn as unknown


@dataclass
class SlurmSettings:
    """How the sweep's jobs run: their resources, the attempts each run may take, the warning's
    lead before the time limit (seconds), and how many runs may run at once (None: all)."""
    resources: slurm.Resources
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    signal_lead: int = slurm.DEFAULT_SIGNAL_LEAD
    max_running: Optional[int] = None

    def __post_init__(self):
        if self.max_attempts < 1:
            raise ValueError(f'--max-attempts must be at least 1, not {self.max_attempts}')
        if self.max_running is not None and self.max_running < 1:
            raise ValueError(f'--max-running must be at least 1, not {self.max_running}')
        slurm.check_signal_lead(self.signal_lead, self.resources.time)


def job_names(runs: Sequence[Run], root: Path, max_running: Optional[int]) -> Dict[str, str]:
    """Each run's job name. With max_running N the runs share N names, a pretraining with its
    own fine-tune, and every job asks for Slurm's `singleton` dependency: one job of a name runs
    at a time, so at most N of the sweep's runs do (the names carry a hash of the work dir, so
    other sweeps are not held back)."""
    if max_running is None:
        return {r.name: f'golu-{r.name.replace("/", "-")}' for r in runs}
    tag = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:8]
    pairs = [r for r in runs if not r.is_pretrain]
    slot = {r.name: i % max_running for i, r in enumerate(pairs)}
    slot.update({r.pretrain.name: slot[r.name] for r in pairs if r.pretrain})
    return {r.name: f'golu-{tag}-slot{slot[r.name]}' for r in runs}


def check_before_queue(runs: Sequence[Run], log=print) -> None:
    """Every run's config checked as its training would check it at its start (apis.check_run:
    data folders, annotation files, checkpoints, act_cfg reach), before anything is queued; the
    first problem raises ConfigError naming the run. A fine-tune's backbone file is the one its
    pretraining writes."""
    from .apis import check_run
    from .config_options import ConfigError
    for run in runs:
        produced = [str(run.pretrain.run_dir / BACKBONE_FILE)] if run.pretrain else []
        try:
            check_run(run.stage.config, run.spec['options'], produced)
        except (ConfigError, FileNotFoundError, ValueError) as exc:
            raise ConfigError(f'run {run.name} ({run.stage.config}): {exc}. Nothing was '
                              'submitted') from None
    log(f'[compare] checked {len(runs)} run(s) before queueing: data, annotation files, '
        'checkpoints, act_cfg reach')


def _adopt(runs: Sequence[Run], view, log) -> None:
    """Jobs Slurm runs for a run (found by their comment) that its job.json does not name (a
    sweep stopped between sbatch and its record) become the run's job."""
    for run in runs:
        found = view.comments.get(job_comment(run.run_dir), [])
        job = read_job(run.run_dir) or {}
        if found and job.get('id') not in found:
            write_job(run.run_dir, {'launcher': SLURM, 'id': found[0],
                                    'adopted': True})
            log(f'[compare] {run.name}: Slurm job {found[0]} runs it (its record was not '
                'written): recorded, not submitted again')
        if len(found) > 1:
            log(f'[compare] {run.name}: WARNING: Slurm runs {len(found)} jobs for it '
                f'({", ".join(found)}); cancel all but {found[0]}')


def _submit_run(run: Run, root: Path, settings: SlurmSettings, name: str,
                after: Optional[str]) -> str:
    """One run's job: recorded (job.json without an id) before sbatch, so that a rerun that
    finds no id looks for the job by its comment; returns the job id."""
    start_run(run.run_dir, run.spec)
    resources = settings.resources
    write_launch(run.run_dir, run.launch_record(SLURM, resources.processes,
                                                resources.nodes * resources.gpus_per_node,
                                                settings.max_attempts))
    script = run.run_dir / BATCH_SCRIPT
    script.write_text(_script(run, settings, name))
    record = {'launcher': SLURM, 'sbatch': resources.sbatch_options()}
    write_job(run.run_dir, {**record, 'id': None})
    job_id = slurm.submit(script, slurm.dependency(
        after_ok=[after] if after else (), singleton=settings.max_running is not None))
    write_job(run.run_dir, {**record, 'id': job_id})
    return job_id


def _script(run: Run, settings: SlurmSettings, name: str) -> str:
    return slurm.batch_script(name, run.run_dir / 'job-%j.out',
                              settings.resources.sbatch_options(),
                              [sys.executable, str(JOB_SCRIPT), str(run.run_dir)],
                              comment=job_comment(run.run_dir), signal_lead=settings.signal_lead)


def _prerequisite(run: Run, states: Dict[str, RunState]) -> Optional[str]:
    """The job a run must wait for (its pretraining's, while that one is pending or running)."""
    if run.pretrain is None or states[run.pretrain.name].state not in (PENDING, RUNNING):
        return None
    return states[run.pretrain.name].job


def submit_to_slurm(runs: Sequence[Run], root: Path, force: bool, settings: SlurmSettings,
                    closing_command: Sequence[str], log=print) -> Dict[str, RunState]:
    """Submits a Slurm job for every run that is not done, pending or running (a fine-tune after
    its pretraining), then the closing job, and returns at once with the states. Nothing is
    submitted while Slurm does not answer, before every run's config passed its checks, or
    before Slurm accepted the jobs' resources (sbatch --test-only)."""
    slurm.require_slurm()
    root = Path(root)
    with work_dir_lock(root):
        view = scheduler_view(runs)
        if view.error:
            raise slurm.SlurmError(f'Slurm does not answer ({view.error}): nothing was '
                                   'submitted, since a run whose job cannot be looked up could '
                                   'be submitted twice. Run the same command again later')
        check_runs(runs, force, view)
        _adopt(runs, view, log)  # job.json now names them: the same answer reads them
        states = sweep_states(runs, view)
        todo = [r for r in runs if states[r.name].state != DONE and not states[r.name].active]
        for run in todo:
            after = states[run.pretrain.name] if run.pretrain else None
            if after and after.active and not after.job.isdigit():
                raise slurm.SlurmError(f'{run.pretrain.run_dir} is being trained on this machine '
                                       f'({after.job}): submit its fine-tune once it is done (or '
                                       'stop it, and submit both)')
        names = job_names(runs, root, settings.max_running)
        if todo:
            check_before_queue(todo, log)
            check = root / '.check.sbatch'
            check.write_text(_script(todo[0], settings, names[todo[0].name]))
            try:
                slurm.check_submission(check)
            finally:
                check.unlink()
        for run in todo:
            job_id = _submit_run(run, root, settings, names[run.name],
                                 _prerequisite(run, states))
            states[run.name] = RunState(run.name, PENDING, job_id)
        submit_closing_job(root, closing_command, settings.resources,
                           [s.job for s in states.values() if s.active and s.job])
        states = sweep_states(runs)
    for name, s in states.items():
        if s.state == PLANNED:
            log(f'[compare] {name}: planned but not submitted ({s.reason})')
    return states


def submit_closing_job(root: Path, command: Sequence[str], resources: slurm.Resources,
                       after: Sequence[str], begin: Optional[str] = None,
                       retries: int = 0) -> str:
    """The job that closes the sweep once every run's job has ended, however it ended
    (afterany; close_sweep), or after `begin`; it replaces the sweep's earlier closing job if
    that one waits still. `retries` counts the closing jobs that found Slurm silent."""
    record_file = Path(root) / CLOSING_JOB_FILE
    earlier = read_json(record_file)
    if earlier:
        state = slurm.query([earlier['id']]).get(earlier['id'], ('',))[0]
        if state == 'PENDING':
            slurm.cancel([earlier['id']])
    script = Path(root) / 'report.sbatch'
    light = slurm.Resources(gpus_per_node=0, cpus_per_task=1, time=resources.time,
                            partition=resources.partition, account=resources.account,
                            qos=resources.qos)
    script.write_text(slurm.batch_script('golu-report', Path(root) / 'report-%j.out',
                                         light.sbatch_options(), command, requeue=False))
    job_id = slurm.submit(script, slurm.dependency(after_any=list(after)), begin=begin)
    write_json(record_file, {'id': job_id, 'command': list(command), 'retries': retries})
    return job_id


def close_sweep(runs: Sequence[Run], root: Path, settings: SlurmSettings,
                closing_command: Sequence[str], log=print) -> Optional[dict]:
    """What the closing job does: while a run's job is still pending or running (a requeue, a
    resubmission), or Slurm does not answer, it submits itself again to run after them; a
    fine-tune that Slurm ended because its pretraining had not succeeded then, but that has
    succeeded since (requeued past a time limit), is submitted again; once every job has ended
    it writes the report (its paths returned; None while it waits). After MAX_RETRIES closing
    jobs that found Slurm silent it writes the report all the same, the runs it could not ask
    about shown as unknown."""
    root = Path(root)
    with work_dir_lock(root):
        view = scheduler_view(runs)
        retries = (read_json(root / CLOSING_JOB_FILE) or {}).get('retries', 0)
        if view.error and retries < MAX_RETRIES:
            job = submit_closing_job(root, closing_command, settings.resources, [],
                                     begin=RETRY_DELAY, retries=retries + 1)
            log(f'[compare] Slurm does not answer ({view.error}); asking again in job {job} '
                f'(try {retries + 1} of {MAX_RETRIES})')
            return None
        states = sweep_states(runs, view)
        names = job_names(runs, root, settings.max_running)
        for run in runs:
            own = states[run.name]
            pre = states[run.pretrain.name] if run.pretrain else None
            if (pre and pre.state in (DONE, PENDING, RUNNING) and own.state not in (DONE,)
                    and not own.active and 'DependencyNeverSatisfied' in own.reason):
                job_id = _submit_run(run, root, settings, names[run.name],
                                     _prerequisite(run, states))
                states[run.name] = RunState(run.name, PENDING, job_id)
                log(f'[compare] {run.name}: its pretraining {pre.state} after all: submitted '
                    f'again as job {job_id}')
        live = [s for s in states.values() if s.active and not view.error]
        if live:
            job = submit_closing_job(root, closing_command, settings.resources,
                                     [s.job for s in live if s.job])
            log(f'[compare] {len(live)} run(s) not ended yet ({", ".join(s.name for s in live)}):'
                f' the report waits for them in job {job}')
            return None
    return write_report(runs, root, log)
