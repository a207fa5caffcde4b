"""What one job does (tools/run_job.py RUN_DIR): train the run as its launch.json says, resuming
from the run's own last checkpoint when it has one (a requeued, preempted, timed-out or cancelled
job that runs again goes on from there), then finish it (the sweep's `finish`: result.json), and
record how it ended in end.json, a SIGTERM included (Slurm's cancel, preemption, time limit)."""
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable, List

from ..analysis.run_record import last_checkpoint
from .records import SLURM, read_launch, write_end


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def training_command(run_dir: Path, job: dict, resume: bool) -> List[str]:
    """tools/train.py for the run: under srun in a Slurm job (mmengine's slurm launcher when the
    job has several tasks), under torchrun for a local job of several processes, else plain."""
    processes = job.get('processes', 1)
    train = [job['python'], '-u', job['train_script'], job['config'], '--work-dir', str(run_dir),
             *(['--resume'] if resume else [])]
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


def run_job(run_dir: Path, finish: Callable[[Path], None]) -> int:
    """Train and finish the run in `run_dir` as its launch.json says; returns the exit code (128 +
    signal when ended by one). finish(run_dir) writes the run's result after its training
    succeeded."""
    run_dir = Path(run_dir)
    job = read_launch(run_dir)
    if job is None:
        print(f'error: {run_dir} has no launch.json: it was not launched by a sweep',
              file=sys.stderr)
        return 2
    try:
        checkpoint = last_checkpoint(run_dir)
    except RuntimeError as exc:
        write_end(run_dir, 'failed', exit=2)
        print(f'error: {exc}', flush=True)
        return 2
    attempt = int(os.environ.get('SLURM_RESTART_COUNT', '0')) + 1
    print(f'[job] {run_dir}: attempt {attempt}, ' + (
        f'resuming from {checkpoint}' if checkpoint else 'no checkpoint yet: from iteration 0'),
        flush=True)
    command = training_command(run_dir, job, resume=checkpoint is not None)
    child = subprocess.Popen(command, env=job_environment())
    received = []

    def forward(signum, _frame):
        received.append(signum)
        child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(signum, forward)
    code = child.wait()
    if received:
        name = signal.Signals(received[0]).name
        write_end(run_dir, 'terminated', signal=name, exit=code)
        print(f'[job] {run_dir}: ended by {name}; a rerun resumes from its last checkpoint',
              flush=True)
        return 128 + received[0]
    if code != 0:
        write_end(run_dir, 'failed', exit=code)
        return code
    try:
        finish(run_dir)
    except Exception as exc:  # noqa: BLE001 (recorded, exit code 1)
        write_end(run_dir, 'failed', exit=1, error=f'{type(exc).__name__}: {exc}')
        print(f'error: finishing {run_dir}: {type(exc).__name__}: {exc}', flush=True)
        return 1
    write_end(run_dir, 'finished', exit=0)
    return 0
