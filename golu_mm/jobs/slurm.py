"""Slurm through its own commands: a batch script per job (sbatch options from Resources),
submitted with sbatch (with an afterok/afterany dependency where asked), states from squeue
(and sacct where accounting keeps finished jobs), scancel. Every call names the command's own
error where Slurm refuses (an unknown partition, account, QOS or gres)."""
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

from .state import SchedulerView

COMMANDS = ('sbatch', 'squeue', 'scancel')


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


def batch_script(name: str, output: Path, options: Sequence[str], command: Sequence[str],
                 requeue: bool = True) -> str:
    """A batch script running `command`, its output appended to `output` (%j: the job id) across
    requeues, so that each attempt's lines stay."""
    header = [f'--job-name={name}', f'--output={output}', '--open-mode=append', *options,
              *(['--requeue'] if requeue else ['--no-requeue'])]
    return '\n'.join(['#!/bin/bash', *(f'#SBATCH {shlex.quote(o)}' for o in header),
                      f'exec {shlex.join(command)}', ''])


def _run(command: List[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=120)
    except FileNotFoundError as exc:
        raise SlurmError(f'{command[0]} not found: is Slurm installed here?') from exc


def _refusal(result: subprocess.CompletedProcess) -> str:
    lines = [line.removeprefix('sbatch: error: ').strip()
             for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    return lines[0] if lines else f'exit code {result.returncode}'


def check_submission(script: Path) -> None:
    """sbatch --test-only: Slurm validates the job (partition, account, QOS, gres, limits)
    without submitting it; a refusal raises SlurmError with Slurm's reason."""
    result = _run(['sbatch', '--test-only', str(script)])
    if result.returncode != 0:
        raise SlurmError(f'Slurm refuses the sweep\'s jobs: {_refusal(result)} (nothing was '
                         f'submitted; check --partition/--account/--qos/--gpus-per-node)')


def submit(script: Path, dependency: Optional[str] = None) -> str:
    """Submits the batch script; returns the job id."""
    command = ['sbatch', '--parsable', *([f'--dependency={dependency}'] if dependency else []),
               str(script)]
    result = _run(command)
    if result.returncode != 0:
        raise SlurmError(f'sbatch {script} failed: {_refusal(result)}')
    return result.stdout.strip().split(';')[0]


def query(job_ids: Iterable[str]) -> SchedulerView:
    """{job id: (state, reason)} for the jobs Slurm still knows: squeue (every state it keeps,
    finished jobs for MinJobAge), then sacct for the rest where accounting is on."""
    ids = sorted({str(i) for i in job_ids if i})
    if not ids or shutil.which('squeue') is None:
        return {}
    found: SchedulerView = {}
    result = _run(['squeue', '-h', '-t', 'all', '-j', ','.join(ids), '-o', '%i|%T|%r'])
    if result.returncode == 0:
        for line in result.stdout.splitlines():
            job, state, reason = line.split('|', 2)
            found[job] = (state, reason)
    rest = [i for i in ids if i not in found]
    if rest and shutil.which('sacct'):
        result = _run(['sacct', '-n', '-X', '-P', '-j', ','.join(rest), '-o', 'JobID,State,Reason'])
        if result.returncode == 0:
            for line in result.stdout.splitlines():
                job, state, reason = (line.split('|') + ['', ''])[:3]
                found.setdefault(job, (state, reason))
    return found


def cancel(job_ids: Iterable[str]) -> None:
    ids = [str(i) for i in job_ids]
    if ids:
        result = _run(['scancel', *ids])
        if result.returncode != 0:
            raise SlurmError(f'scancel {" ".join(ids)} failed: {_refusal(result)}')


def dependency(after_ok: Sequence[str] = (), after_any: Sequence[str] = ()) -> Optional[str]:
    parts = ([f'afterok:{":".join(after_ok)}'] if after_ok else []) + (
        [f'afterany:{":".join(after_any)}'] if after_any else [])
    return ','.join(parts) or None

