"""Slurm through its own commands: a batch script per job (sbatch options from Resources; the
run's identity in --comment; a warning signal before the time limit), submitted with sbatch
(with an afterok/afterany dependency where asked; a job whose prerequisite failed is ended by
Slurm), states from squeue (and sacct where accounting keeps finished jobs), requeue, scancel.
Every call names the command's own error where Slurm refuses (an unknown partition, account,
QOS or gres), and a scheduler that does not answer is an error, never an empty answer."""
import getpass
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from .state import PENDING, RUNNING, SchedulerView, slurm_state

COMMANDS = ('sbatch', 'squeue', 'scancel', 'scontrol')


class SlurmError(RuntimeError):
    """Slurm is missing or refused a request (the message says which and why)."""


@dataclass
class Resources:
    """What one run's job asks for. gpus_per_node=0 asks for no GPU (a CPU-only cluster);
    tasks_per_node defaults to one task per GPU (one task without GPUs)."""
    nodes: int = 1
    gpus_per_node: int = 1
    tasks_per_node: Optional[int] = None
    cpus_per_task: int = 4
    mem: Optional[str] = None
    time: Optional[str] = None
    partition: Optional[str] = None
    account: Optional[str] = None
    qos: Optional[str] = None
    extra: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self):
        for name in ('nodes', 'cpus_per_task'):
            if getattr(self, name) < 1:
                raise ValueError(f'{name} must be at least 1, not {getattr(self, name)}')
        if self.gpus_per_node < 0 or (self.tasks_per_node is not None
                                      and self.tasks_per_node < 1):
            raise ValueError('gpus_per_node must be >= 0 and tasks_per_node >= 1')

    @property
    def processes(self) -> int:
        return self.nodes * (self.tasks_per_node or max(self.gpus_per_node, 1))

    def sbatch_options(self) -> List[str]:
        options = [f'--nodes={self.nodes}',
                   f'--ntasks-per-node={self.tasks_per_node or max(self.gpus_per_node, 1)}',
                   f'--cpus-per-task={self.cpus_per_task}']
        if self.gpus_per_node:
            options.append(f'--gres=gpu:{self.gpus_per_node}')
        options += [f'--{name}={value}' for name, value in
                    (('mem', self.mem), ('time', self.time), ('partition', self.partition),
                     ('account', self.account), ('qos', self.qos)) if value]
        return options + list(self.extra)


def require_slurm() -> None:
    missing = [c for c in COMMANDS if shutil.which(c) is None]
    if missing:
        raise SlurmError(f'--launcher slurm needs Slurm\'s {", ".join(missing)} on PATH (not '
                         'found): run the sweep on a machine of the cluster, e.g. a login node')


WARNING_SIGNAL = 'USR1'  # what Slurm sends the batch shell before the time limit (B:USR1@N)
MAX_SIGNAL_LEAD = 65535  # sbatch --signal's largest lead time, in seconds
DEFAULT_SIGNAL_LEAD = 300  # an iteration and a checkpoint of a large model, with room to spare


def batch_script(name: str, output: Path, options: Sequence[str], command: Sequence[str],
                 requeue: bool = True, comment: Optional[str] = None,
                 signal_lead: Optional[int] = None) -> str:
    """A batch script running `command`, its output appended to `output` (%j: the job id) across
    requeues, so that each attempt's lines stay; `comment` (the run's identity) and a warning
    signal to the batch shell `signal_lead` seconds before the time limit, where given."""
    header = [f'--job-name={name}', f'--output={output}', '--open-mode=append', *options,
              *(['--requeue'] if requeue else ['--no-requeue']),
              *([f'--comment={comment}'] if comment else []),
              *([f'--signal=B:{WARNING_SIGNAL}@{signal_lead}'] if signal_lead else [])]
    return '\n'.join(['#!/bin/bash', *(f'#SBATCH {shlex.quote(o)}' for o in header),
                      f'exec {shlex.join(command)}', ''])


def time_limit_seconds(limit: str) -> Optional[int]:
    """sbatch --time in seconds (minutes, minutes:seconds, hours:minutes:seconds, days-hours,
    days-hours:minutes, days-hours:minutes:seconds); None for 'infinite' or a form Slurm
    will judge itself (sbatch --test-only)."""
    match = re.fullmatch(r'(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?', limit.strip())
    if not match:
        return None
    days, a, b, c = (int(g) if g else None for g in match.groups())
    if days is not None:  # days-hours[:minutes[:seconds]]
        return ((days * 24 + a) * 60 + (b or 0)) * 60 + (c or 0)
    if c is not None:
        return (a * 60 + b) * 60 + c
    return a * 60 + (b or 0)


def check_signal_lead(lead: int, limit: Optional[str]) -> None:
    """ValueError unless Slurm can send the warning `lead` seconds before the time limit."""
    if not 0 < lead <= MAX_SIGNAL_LEAD:
        raise ValueError(f'--signal-lead must be 1 to {MAX_SIGNAL_LEAD} seconds, not {lead}')
    seconds = time_limit_seconds(limit) if limit else None
    if seconds is not None and lead >= seconds:
        raise ValueError(f'--signal-lead {lead} s is not shorter than the time limit --time '
                         f'{limit} ({seconds} s): the warning would come before the training '
                         'starts. Give a shorter lead or a longer limit')


def _run(command: List[str], timeout: float = 120) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise SlurmError(f'{command[0]} not found: is Slurm installed here?') from exc
    except subprocess.TimeoutExpired as exc:
        raise SlurmError(f'{command[0]} did not answer within {timeout:.0f} s') from exc


def _refusal(result: subprocess.CompletedProcess) -> str:
    lines = [re.sub(r'^\w+: error: ', '', line).strip()
             for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    return lines[0] if lines else f'exit code {result.returncode}'


def check_submission(script: Path) -> None:
    """sbatch --test-only: Slurm validates the job (partition, account, QOS, gres, limits)
    without submitting it; a refusal raises SlurmError with Slurm's reason."""
    result = _run(['sbatch', '--test-only', str(script)])
    if result.returncode != 0:
        raise SlurmError(f'Slurm refuses the sweep\'s jobs: {_refusal(result)} (nothing was '
                         f'submitted; check --partition/--account/--qos/--gpus-per-node)')


def submit(script: Path, dependency: Optional[str] = None, begin: Optional[str] = None) -> str:
    """Submits the batch script (to start after `begin`, as sbatch --begin takes it, where
    given); returns the job id. A job with a dependency is ended by Slurm when the dependency
    can never be satisfied (--kill-on-invalid-dep=yes: its prerequisite failed), instead of
    waiting for ever."""
    command = ['sbatch', '--parsable', *([f'--dependency={dependency}',
                                          '--kill-on-invalid-dep=yes'] if dependency else []),
               *([f'--begin={begin}'] if begin else []), str(script)]
    result = _run(command)
    if result.returncode != 0:
        raise SlurmError(f'sbatch {script} failed: {_refusal(result)}')
    return result.stdout.strip().split(';')[0]


ACCOUNTING_OFF = 'accounting storage is disabled'


def _asked(command: List[str], tries: int, pause: float):
    """The command's answer, tried `tries` times `pause` s apart; (None, error) where it never
    answered."""
    error = ''
    for attempt in range(tries):
        if attempt:
            time.sleep(pause)
        try:
            result = _run(command, timeout=60)
        except SlurmError as exc:
            error = str(exc)
            continue
        if result.returncode == 0:
            return result, None
        error = f'{command[0]}: {_refusal(result)}'
        if ACCOUNTING_OFF in error:
            return None, None
    return None, error


def query(job_ids: Iterable[str], tries: int = 3, pause: float = 2.0) -> SchedulerView:
    """What Slurm knows of the user's jobs: squeue (every state it keeps: finished jobs for
    MinJobAge) with each job's comment, then sacct for the ids in `job_ids` it no longer lists,
    where accounting is on. A command that fails or times out `tries` times makes the view's
    `error` (Slurm's own message): an unanswered question is never an empty answer."""
    ids = sorted({str(i) for i in job_ids if i})
    result, error = _asked(['squeue', '-h', '-t', 'all', '-u', getpass.getuser(),
                            '-o', '%i|%T|%r|%k'], tries, pause)
    if error:
        return SchedulerView(error=error)
    found: Dict[str, tuple] = {}
    comments: Dict[str, List[str]] = {}
    for line in result.stdout.splitlines():
        job, state, reason, comment = (line.split('|', 3) + ['', '', ''])[:4]
        found[job] = (state, reason)
        if slurm_state(state) in (PENDING, RUNNING) and comment not in ('', '(null)'):
            comments.setdefault(comment, []).append(job)
    rest = [i for i in ids if i not in found]
    if rest and shutil.which('sacct'):
        result, error = _asked(['sacct', '-n', '-X', '-P', '-j', ','.join(rest),
                                '-o', 'JobID,State,Reason'], tries, pause)
        if error:
            return SchedulerView(error=error)
        for line in (result.stdout.splitlines() if result else []):
            job, state, reason = (line.split('|') + ['', ''])[:3]
            found.setdefault(job, (state, reason))
    return SchedulerView(found, comments)


def accounting(job_ids: Iterable[str]) -> Optional[Dict[str, tuple]]:
    """{job id: (seconds run, GPUs)} from Slurm's accounting, summed over every instance of a
    requeued job (sacct -D); None where accounting is off, sacct is missing or fails."""
    ids = sorted({str(i) for i in job_ids if i})
    if not ids or shutil.which('sacct') is None:
        return None
    result, error = _asked(['sacct', '-n', '-X', '-P', '-D', '-j', ','.join(ids),
                            '-o', 'JobID,ElapsedRaw,AllocTRES'], 1, 0)
    if result is None:
        return None
    found: Dict[str, tuple] = {}
    for line in result.stdout.splitlines():
        job, elapsed, tres = (line.split('|') + ['', ''])[:3]
        gpus = re.search(r'gres/gpu(?::[^=,]+)?=(\d+)', tres)
        seconds, count = found.get(job, (0.0, 0))
        found[job] = (seconds + float(elapsed or 0), max(count, int(gpus.group(1)) if gpus else 0))
    return found


def job_detail(job_id: str) -> Dict[str, str]:
    """scontrol show job's fields (JobState, Reason, Restarts, ...) of one job; SlurmError where
    Slurm does not answer."""
    result = _run(['scontrol', '-o', 'show', 'job', str(job_id)], timeout=30)
    if result.returncode != 0:
        raise SlurmError(f'scontrol show job {job_id}: {_refusal(result)}')
    return dict(re.findall(r'(\w+)=(\S*)', result.stdout))


def requeue(job_id: str, tries: int = 5, pause: float = 3.0) -> None:
    """scontrol requeue: the job (running, or ended) goes back to the queue under its id. Asked
    `tries` times (a controller restarting does not answer for a few seconds); SlurmError with
    Slurm's reason where it refuses."""
    result, error = _asked(['scontrol', 'requeue', str(job_id)], tries, pause)
    if error:
        raise SlurmError(f'scontrol requeue {job_id}: {error.removeprefix("scontrol: ")}')


def set_dependency(job_id: str, dependency: str) -> None:
    """A pending job's dependency replaced (a prerequisite resubmitted under a new id)."""
    result = _run(['scontrol', 'update', f'JobId={job_id}', f'Dependency={dependency}'],
                  timeout=60)
    if result.returncode != 0:
        raise SlurmError(f'scontrol update JobId={job_id}: {_refusal(result)}')


def cancel(job_ids: Iterable[str]) -> None:
    ids = [str(i) for i in job_ids]
    if ids:
        result = _run(['scancel', *ids])
        if result.returncode != 0:
            raise SlurmError(f'scancel {" ".join(ids)} failed: {_refusal(result)}')


def dependency(after_ok: Sequence[str] = (), after_any: Sequence[str] = (),
               singleton: bool = False) -> Optional[str]:
    """sbatch --dependency: after the `after_ok` jobs succeeded, after the `after_any` jobs
    ended, and (singleton) once no other job of the same name and user runs."""
    parts = ([f'afterok:{":".join(after_ok)}'] if after_ok else []) + (
        [f'afterany:{":".join(after_any)}'] if after_any else []) + (
        ['singleton'] if singleton else [])
    return ','.join(parts) or None
