"""Where each run of a sweep stands, read from its run directory (run.json, result.json, job.json,
end.json, its logs and job output) and from the scheduler while it still knows the job:

planned    nothing launched yet (a checkpoint left by an earlier try is resumed from)
pending    submitted, waiting (Slurm's reason: Priority, Resources, Dependency, BeginTime after
           a requeue)
running    training or finishing
done       finished: result.json holds its metrics
failed     ended with an error, a time limit or a lost node (the reason: its output's last error)
cancelled  cancelled, preempted without requeue, or stopped by a signal
stale      the directory holds another experiment (run.json differs: the reason says how)
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

from ..analysis.run_record import (RESULT_FILE, last_checkpoint, last_logged_step,
                                   stale_problems)
from .records import SLURM, last_error_line, process_alive, read_end, read_job

PLANNED, PENDING, RUNNING, DONE, FAILED, CANCELLED, STALE = (
    'planned', 'pending', 'running', 'done', 'failed', 'cancelled', 'stale')
STATES = (PLANNED, PENDING, RUNNING, DONE, FAILED, CANCELLED, STALE)
# Slurm's job states (squeue/scontrol/sacct names), by the run state they mean.
SLURM_STATES = {
    PENDING: {'PENDING', 'CONFIGURING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED',
              'RESV_DEL_HOLD', 'SPECIAL_EXIT'},
    RUNNING: {'RUNNING', 'COMPLETING', 'SUSPENDED', 'STOPPED', 'STAGE_OUT', 'SIGNALING',
              'RESIZING'},
    CANCELLED: {'CANCELLED', 'PREEMPTED'},
}
SchedulerView = Dict[str, Tuple[str, str]]  # job id -> (Slurm state, reason)


@dataclass
class RunState:
    name: str
    state: str
    job: str = ''
    step: Optional[int] = None
    checkpoint: str = ''
    reason: str = ''

    @property
    def active(self) -> bool:
        """Pending or running: a second job for this run must not be launched."""
        return self.state in (PENDING, RUNNING)


def slurm_state(state: str) -> str:
    base = state.split()[0].rstrip('+')  # 'CANCELLED by 0', 'CANCELLED+'
    return next((ours for ours, names in SLURM_STATES.items() if base in names), FAILED)


def run_state(name: str, run_dir: Path, spec: dict, scheduler: SchedulerView) -> RunState:
    """The state of the run `name` (its directory, its spec) given what the scheduler knows."""
    run_dir = Path(run_dir)
    problems = stale_problems(run_dir, spec)
    if problems:
        return RunState(name, STALE, reason='; '.join(problems))
    try:
        checkpoint = last_checkpoint(run_dir)
    except RuntimeError as exc:
        return RunState(name, STALE, reason=str(exc))
    here = dict(step=last_logged_step(run_dir) if run_dir.is_dir() else None,
                checkpoint=checkpoint.name if checkpoint else '')
    job = read_job(run_dir)
    job_id = '' if job is None else str(job.get('id') or f'pid {job.get("pid")}@{job.get("host")}')
    if (run_dir / RESULT_FILE).is_file():
        return RunState(name, DONE, job_id, **here)
    if job is None:
        return RunState(name, PLANNED, **here)
    if job['launcher'] == SLURM and str(job.get('id')) in scheduler:
        slurm, reason = scheduler[str(job['id'])]
        state = slurm_state(slurm)
        if state in (PENDING, RUNNING):
            return RunState(name, state, job_id, reason='' if reason == 'None' else reason, **here)
        error = last_error_line(run_dir) or ''  # read only for a job that has ended
        if slurm.startswith('COMPLETED'):
            return RunState(name, FAILED, job_id, reason=error or 'the job completed but wrote '
                            'no result.json', **here)
        return RunState(name, state, job_id, reason=f'{slurm}: {error}' if error else slurm,
                        **here)
    end = read_end(run_dir)
    if job['launcher'] != SLURM:
        alive = process_alive(job)
        if alive or (alive is None and end is None):
            return RunState(name, RUNNING, job_id, reason='' if alive else
                            f'on {job.get("host")} (not checked from here)', **here)
    error = last_error_line(run_dir) or ''
    if end is None:
        return RunState(name, FAILED, job_id, reason=error or f'job {job_id} is gone and left '
                        'no end record (killed with its node, or never started)', **here)
    if end['status'] == 'terminated':
        return RunState(name, CANCELLED, job_id, reason=f'ended by {end.get("signal")}', **here)
    return RunState(name, FAILED, job_id, reason=end.get('error') or error
                    or f'exit code {end.get("exit")}', **here)


COLUMNS = ('run', 'state', 'job', 'iter', 'checkpoint', 'reason')


def state_table(states) -> str:
    """The states as a fixed-width table: run, state, job, last logged iteration, checkpoint,
    reason."""
    rows = [(s.name, s.state, s.job, '' if s.step is None else str(s.step), s.checkpoint,
             s.reason) for s in states]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(COLUMNS)]
    return '\n'.join('  '.join(v.ljust(w) for v, w in zip(row, widths)).rstrip()
                     for row in [COLUMNS] + rows)
