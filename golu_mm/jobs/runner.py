"""What one job does (tools/run_job.py RUN_DIR): train the run as its launch.json says, resuming
from the run's own last checkpoint when it has one, then finish it (the sweep's `finish`:
result.json), and record how it ended in end.json and each attempt in attempts.json. The
training saves a checkpoint when it is signalled (tools/train.py --save-on-signal); in a Slurm
job the time limit's warning, the limit or a preemption then requeue the job, which goes on from
that checkpoint, a bounded number of times; a cancel ends it."""
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

from ..analysis.run_record import last_checkpoint
from . import signals, slurm
from .records import (FAILED, FINISHED, REQUEUED, SLURM, TERMINATED, read_job, read_launch,
                      start_attempt, write_end, write_job)

BATCH_SCRIPT = 'job.sbatch'  # a Slurm run's batch script, in its directory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def training_command(run_dir: Path, job: dict, resume: bool) -> List[str]:
    """tools/train.py for the run: under srun in a Slurm job (mmengine's slurm launcher when the
    job has several tasks), under torchrun for a local job of several processes, else plain."""
    processes = job.get('processes', 1)
    train = [job['python'], '-u', job['train_script'], job['config'], '--work-dir', str(run_dir),
             '--save-on-signal', *(['--resume'] if resume else [])]
    options = ['--cfg-options', *job['options']]
    if job['launcher'] == SLURM:
        cpus = os.environ.get('SLURM_CPUS_PER_TASK')  # srun does not inherit it (Slurm >= 22.05)
        return ['srun', '--kill-on-bad-exit=1', *([f'--cpus-per-task={cpus}'] if cpus else []),
                *train, *(['--launcher', 'slurm'] if processes > 1 else []), *options]
    if processes > 1:
        return [job['python'], '-m', 'torch.distributed.run', '--nnodes=1',
                f'--nproc_per_node={processes}', f'--master_port={free_port()}', *train[2:],
                '--launcher', 'pytorch', *options]
    return [*train, *options]


def job_environment() -> dict:
    env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
    if 'SLURM_CPUS_PER_TASK' in env:  # torch would use every core of the node
        env.setdefault('OMP_NUM_THREADS', env['SLURM_CPUS_PER_TASK'])
    job_id = os.environ.get('SLURM_JOB_ID')
    if job_id and 'MASTER_PORT' not in env:  # jobs sharing a node must not share a port
        env['MASTER_PORT'] = str(20000 + int(job_id) % 20000)
    return env


SAVED_EXIT = 75  # the training saved a checkpoint on a signal and stopped (EX_TEMPFAIL)
DEFAULT_MAX_ATTEMPTS = 10
# Why a Slurm job was stopped (signal_cause), and whether the run should go on in a new attempt.
WARNED, REQUEUED_BY_SLURM, TIME_LIMIT, PREEMPTED, CANCELLED = (
    'time limit ahead', 'requeued by Slurm', 'time limit', 'preempted', 'cancelled')
GOES_ON = (WARNED, TIME_LIMIT, PREEMPTED)


def signal_cause(signum: int, detail: Optional[dict], restart_count: int) -> str:
    """Why a Slurm job got `signum`, from scontrol show job's fields as seen in the job: our
    warning (USR1) before the time limit; a requeue Slurm performs itself (its Restarts beyond
    the job's SLURM_RESTART_COUNT: scontrol requeue, preemption in REQUEUE mode); the time
    limit or a preemption (Reason); anything else (scancel, an unknown detail) a cancel, which
    must not come back."""
    if signum == signal.SIGUSR1:
        return WARNED
    if not detail:
        return CANCELLED
    if int(detail.get('Restarts', '0') or 0) > restart_count:
        return REQUEUED_BY_SLURM
    reason = detail.get('Reason', '')
    if 'TimeLimit' in reason:
        return TIME_LIMIT
    if 'Preempt' in reason or detail.get('JobState', '').startswith('PREEMPT'):
        return PREEMPTED
    return CANCELLED


@dataclass
class Outcome:
    """How a stopped job ends: its end record's status and reason, and whether it requeues
    itself."""
    status: str
    reason: str
    requeue: bool = False


def after_stop(cause: str, attempt: int, max_attempts: int, progressed: bool,
               checkpoint: Optional[str]) -> Outcome:
    """What a Slurm job does once its training stopped for `cause`: a time limit or preemption
    goes on in a new attempt while attempts remain and this one saved a newer checkpoint; a
    requeue by Slurm goes on by itself; a cancel ends the run."""
    if cause == REQUEUED_BY_SLURM:
        return Outcome(REQUEUED, 'requeued by Slurm (scontrol requeue or preemption)')
    if cause not in GOES_ON:
        return Outcome(TERMINATED, 'cancelled (scancel, or stopped by Slurm)')
    if not progressed:
        return Outcome(FAILED, f'{cause}: attempt {attempt} saved no checkpoint beyond '
                       f'{checkpoint or "iteration 0"} (no progress), so it is not requeued: '
                       'give each job more time (--time) or a longer --signal-lead')
    if attempt >= max_attempts:
        return Outcome(FAILED, f'{cause} after attempt {attempt} of {max_attempts} '
                       f'(--max-attempts): not requeued; a rerun goes on from {checkpoint}')
    return Outcome(REQUEUED, f'{cause}: saved {checkpoint}; attempt {attempt + 1} of at most '
                   f'{max_attempts} queued', requeue=True)


def _checkpoint_mark(run_dir: Path) -> Optional[tuple]:
    """The run's last checkpoint as (name, modification time): a newer one means progress."""
    checkpoint = last_checkpoint(run_dir)
    if checkpoint is None:
        return None
    try:
        return checkpoint.name, checkpoint.stat().st_mtime_ns
    except OSError:
        return checkpoint.name, None


def go_on(run_dir: Path, job_id: str, launch: dict) -> str:
    """The job back in the queue: scontrol requeue (same id); where Slurm refuses it, the run's
    batch script submitted again, and the runs that wait for this one made to wait for the new
    job. Returns what was done."""
    try:
        slurm.requeue(job_id)
        return f'requeued (job {job_id})'
    except slurm.SlurmError as exc:
        refused = str(exc)
    new = slurm.submit(Path(run_dir) / BATCH_SCRIPT)
    write_job(run_dir, {**(read_job(run_dir) or {}), 'id': new, 'resubmitted_from': job_id})
    for dependent in launch.get('dependents', []):
        waiting = read_job(Path(dependent)) or {}
        if waiting.get('id'):
            try:
                slurm.set_dependency(waiting['id'], f'afterok:{new}')
            except slurm.SlurmError as exc:
                print(f'[job] {dependent}: could not make it wait for job {new}: {exc}',
                      flush=True)
    return f'{refused}; submitted again as job {new}'


def run_job(run_dir: Path, finish: Callable[[Path], None],
            received: Optional[List[int]] = None) -> int:
    """Train and finish the run in `run_dir` as its launch.json says; returns the exit code (128 +
    signal when ended by one; SAVED_EXIT when it goes on in a new attempt). finish(run_dir)
    writes the run's result after its training succeeded. In a Slurm job, a training stopped by
    the time limit's warning, the limit itself or a preemption requeues the job (at most
    launch.json's max_attempts attempts, each one saving progress); a cancel does not. The
    warning (USR1) becomes a stop request in the run directory (signals.request_stop), which the
    training reads at the end of each iteration; other signals are handed on to the training.
    `received`: the signals noted before this call (tools/run_job.py notes them from its
    start), appended to as more come."""
    run_dir = Path(run_dir)
    job = read_launch(run_dir)
    if job is None:
        print(f'error: {run_dir} has no launch.json: it was not launched by a sweep',
              file=sys.stderr)
        return 2
    try:
        checkpoint = last_checkpoint(run_dir)
    except RuntimeError as exc:
        write_end(run_dir, FAILED, exit=2, reason=str(exc))
        print(f'error: {exc}', flush=True)
        return 2
    slurm_id = os.environ.get('SLURM_JOB_ID')
    restarts = int(os.environ.get('SLURM_RESTART_COUNT', '0'))
    max_attempts = job.get('max_attempts', DEFAULT_MAX_ATTEMPTS)
    gpus = job.get('gpus', len([d for d in os.environ.get('CUDA_VISIBLE_DEVICES', '').split(',')
                                if d]))
    attempt = start_attempt(run_dir, slurm_id or f'pid {os.getpid()}', job.get('launch_id', ''),
                            checkpoint.name if checkpoint else None, gpus)
    if attempt > max_attempts:
        reason = (f'attempt {attempt} refused: {max_attempts} attempts (--max-attempts) were '
                  'used; a rerun of the sweep goes on from the last checkpoint')
        write_end(run_dir, FAILED, exit=2, reason=reason)
        print(f'error: {reason}', flush=True)
        return 2
    print(f'[job] {run_dir}: attempt {attempt}, ' + (
        f'resuming from {checkpoint}' if checkpoint else 'no checkpoint yet: from iteration 0'),
        flush=True)
    mark = _checkpoint_mark(run_dir)
    received = [] if received is None else received
    child, pending = None, []  # pending: signals for a child not started yet

    def act(signum):
        if signum == signal.SIGUSR1:
            signals.request_stop(run_dir, signum)
        elif child is not None:
            child.send_signal(signum)
        else:
            pending.append(signum)

    def note(signum, _frame):
        received.append(signum)
        act(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(signum, note)
    signals.clear_stop_request(run_dir)  # an earlier attempt's
    for signum in list(received):
        act(signum)
    command = training_command(run_dir, job, resume=checkpoint is not None)
    child = subprocess.Popen(command, env=job_environment())
    for signum in pending:  # handed on once, by whoever saw the child first
        child.send_signal(signum)
    code = child.wait()
    now = _checkpoint_mark(run_dir)
    saved = now[0] if now else None
    if code != 0 and not received and code != SAVED_EXIT:
        write_end(run_dir, FAILED, exit=code, checkpoint=saved, reason=f'killed by '
                  f'{signal.Signals(-code).name}' if code < 0 else None)
        return code if code > 0 else 128 - code
    if code == 0:  # trained to its end (a signal that came after does not undo that)
        try:
            finish(run_dir)
        except Exception as exc:  # noqa: BLE001 (recorded, exit code 1)
            write_end(run_dir, FAILED, exit=1, error=f'{type(exc).__name__}: {exc}',
                      checkpoint=saved)
            print(f'error: finishing {run_dir}: {type(exc).__name__}: {exc}', flush=True)
            return 1
        write_end(run_dir, FINISHED, exit=0, checkpoint=saved)
        return 0
    signum = received[0] if received else signal.SIGTERM
    name = signal.Signals(signum).name
    if not slurm_id:
        write_end(run_dir, TERMINATED, signal=name, exit=code, checkpoint=saved)
        print(f'[job] {run_dir}: ended by {name}; a rerun resumes from its last checkpoint',
              flush=True)
        return 128 + signum
    try:
        detail = slurm.job_detail(slurm_id) if signum != signal.SIGUSR1 else None
    except slurm.SlurmError as exc:
        print(f'[job] {run_dir}: why {name} came is unknown ({exc}): taken as a cancel',
              flush=True)
        detail = None
    outcome = after_stop(signal_cause(signum, detail, restarts), attempt, max_attempts,
                         now is not None and now != mark, saved)
    write_end(run_dir, outcome.status, signal=name, exit=code, reason=outcome.reason,
              checkpoint=saved)
    print(f'[job] {run_dir}: {name}: {outcome.reason}', flush=True)
    if outcome.requeue:
        try:
            print(f'[job] {run_dir}: {go_on(run_dir, slurm_id, job)}', flush=True)
        except slurm.SlurmError as exc:
            write_end(run_dir, FAILED, signal=name, exit=code, checkpoint=saved,
                      reason=f'{outcome.reason}, but it could not be queued again: {exc}')
            print(f'error: {exc}', flush=True)
            return 1
        return SAVED_EXIT
    if outcome.status == TERMINATED:
        return 128 + signum
    return SAVED_EXIT if outcome.status == REQUEUED else 1
