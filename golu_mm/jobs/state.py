"""Where each run of a sweep stands, read from its run directory (run.json, result.json, job.json,
end.json, its logs and job output) and from the scheduler while it still knows the job:

planned    nothing launched yet (a checkpoint left by an earlier try is resumed from)
pending    submitted, waiting (Slurm's reason: Priority, Resources, Dependency, BeginTime after
           a requeue)
running    training or finishing
done       finished: result.json holds its metrics
failed     ended with an error, a time limit beyond its attempts or a lost node (the reason: its
           end record or its output's last error)
cancelled  cancelled, preempted without requeue, or stopped by a signal
blocked    its prerequisite (the pretraining it fine-tunes from) ended without success: it never
           runs until that one is run again (the sweep sets it, golu_mm.openmmlab.sweep)
unknown    the scheduler could not be asked (its error is the reason); nothing is launched for
           the run until it answers again
stale      the directory holds another experiment (run.json differs: the reason says how)
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from ..analysis.run_record import (RESULT_FILE, last_checkpoint, last_logged_step,
                                   stale_problems)
from .records import (REQUEUED, SLURM, TERMINATED, job_comment, job_label, last_error_line,
                      process_alive, read_end, read_job)

PLANNED, PENDING, RUNNING, DONE, FAILED, CANCELLED, BLOCKED, UNKNOWN, STALE = (
    'planned', 'pending', 'running', 'done', 'failed', 'cancelled', 'blocked', 'unknown',
    'stale')
# States whose run may still succeed without anyone launching it again.
LIVE = (PENDING, RUNNING, UNKNOWN)
# States of a prerequisite that leave the runs waiting for it blocked.
ENDED_BADLY = (FAILED, CANCELLED, STALE, BLOCKED)
# Slurm's job states (squeue/scontrol/sacct names), by the run state they mean.
SLURM_STATES = {
    PENDING: {'PENDING', 'CONFIGURING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED',
              'RESV_DEL_HOLD', 'SPECIAL_EXIT'},
    RUNNING: {'RUNNING', 'COMPLETING', 'SUSPENDED', 'STOPPED', 'STAGE_OUT', 'SIGNALING',
              'RESIZING'},
    CANCELLED: {'CANCELLED', 'PREEMPTED'},
}


class SchedulerView(dict):
    """{job id: (Slurm state, reason)} for the jobs the scheduler knows, and `comments`
    {job comment: [ids of the jobs carrying it that are pending or running]}. `error` is the
    scheduler's own error where it could not be asked: then nothing it said is known."""

    def __init__(self, jobs: Iterable = (), comments: Optional[Dict[str, List[str]]] = None,
                 error: Optional[str] = None):
        super().__init__(jobs)
        self.comments = comments or {}
        self.error = error


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
        """Pending, running, or unknown: a second job for this run must not be launched."""
        return self.state in LIVE


def slurm_state(state: str) -> str:
    base = state.split()[0].rstrip('+')  # 'CANCELLED by 0', 'CANCELLED+'
    return next((ours for ours, names in SLURM_STATES.items() if base in names), FAILED)


def _ended(name, job_id, end, run_dir, here) -> RunState:
    """The state of a run whose job wrote how it ended (end.json)."""
    if end['status'] == TERMINATED:
        return RunState(name, CANCELLED, job_id, reason=end.get('reason')
                        or f'ended by {end.get("signal")}', **here)
    return RunState(name, FAILED, job_id, reason=end.get('reason') or end.get('error')
                    or last_error_line(run_dir) or f'exit code {end.get("exit")}', **here)


def run_state(name: str, run_dir: Path, spec: dict, scheduler: Dict[str, Tuple[str, str]]
              ) -> RunState:
    """The state of the run `name` (its directory, its spec) given what the scheduler knows (a
    SchedulerView, or a plain {id: (state, reason)})."""
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
    job_id = '' if job is None else job_label(job)
    if (run_dir / RESULT_FILE).is_file():
        return RunState(name, DONE, job_id, **here)
    if job is None:
        return RunState(name, PLANNED, **here)
    error = getattr(scheduler, 'error', None)
    end = read_end(run_dir)
    if job['launcher'] == SLURM:
        comments = getattr(scheduler, 'comments', {})
        if not job_id:  # the sweep stopped between recording and submitting (or sbatch failed)
            found = comments.get(job_comment(run_dir), [])
            if found:
                job_id = found[0]
            elif error:
                return RunState(name, UNKNOWN, reason=f'Slurm could not be asked ({error})',
                                **here)
            else:
                return RunState(name, PLANNED, reason='its submission did not complete',
                                **here)
        if job_id in scheduler:
            slurm, reason = scheduler[job_id][:2]
            state = slurm_state(slurm)
            if state in (PENDING, RUNNING):
                return RunState(name, state, job_id, reason='' if reason == 'None' else reason,
                                **here)
            if end is not None and end['status'] != REQUEUED:
                return _ended(name, job_id, end, run_dir, here)
            error_line = last_error_line(run_dir) or ''  # read only for a job that has ended
            if slurm.startswith('COMPLETED'):
                return RunState(name, FAILED, job_id, reason=error_line or 'the job completed '
                                'but wrote no result.json', **here)
            return RunState(name, state, job_id, reason=f'{slurm}: {error_line}' if error_line
                            else slurm, **here)
        if error and (end is None or end['status'] == REQUEUED):
            return RunState(name, UNKNOWN, job_id, reason=f'Slurm could not be asked ({error})',
                            **here)
    else:
        alive = process_alive(job)
        if alive or (alive is None and end is None):
            return RunState(name, RUNNING, job_id, reason='' if alive else
                            f'on {job.get("host")} (not checked from here)', **here)
    if end is None:
        return RunState(name, FAILED, job_id, reason=last_error_line(run_dir) or f'job {job_id} '
                        'is gone and left no end record (killed with its node, or never started)',
                        **here)
    if end['status'] == REQUEUED:
        return RunState(name, FAILED, job_id, reason=f'job {job_id} was requeued ('
                        f'{end.get("reason")}) and the scheduler no longer knows it', **here)
    return _ended(name, job_id, end, run_dir, here)


def live_job(run_dir: Path, scheduler: Dict[str, Tuple[str, str]]) -> Optional[str]:
    """The job that still runs (or may run) in `run_dir`, whatever experiment it holds: its
    Slurm job while pending or running (or while Slurm cannot be asked), its local process
    while alive; None where there is none."""
    job = read_job(run_dir)
    if job is None:
        return None
    if job.get('launcher') == SLURM:
        ids = [job['id']] if job.get('id') else []
        ids += getattr(scheduler, 'comments', {}).get(job_comment(run_dir), [])
        for job_id in ids:
            if job_id in scheduler and slurm_state(scheduler[job_id][0]) in (PENDING, RUNNING):
                return f'Slurm job {job_id}'
        if getattr(scheduler, 'error', None) and ids:
            return f'Slurm job {ids[0]} (Slurm could not be asked: {scheduler.error})'
        return None
    return f'process {job_label(job)}' if process_alive(job) else None


COLUMNS = ('run', 'state', 'job', 'iter', 'checkpoint', 'reason')


def state_table(states) -> str:
    """The states as a fixed-width table: run, state, job, last logged iteration, checkpoint,
    reason."""
    rows = [(s.name, s.state, s.job, '' if s.step is None else str(s.step), s.checkpoint,
             s.reason) for s in states]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(COLUMNS)]
    return '\n'.join('  '.join(v.ljust(w) for v, w in zip(row, widths)).rstrip()
                     for row in [COLUMNS] + rows)
