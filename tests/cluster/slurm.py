"""A real single-node Slurm cluster for the tests: Debian's slurm-wlm + munge, slurmctld and slurmd
started as root on free localhost ports with their state in a scratch folder, stopped by the pids
they write. The node declares 16 CPUs and 8 GPUs (empty files: jobs that ask for GPUs are
scheduled and run on the CPU), so several small jobs run at once on a 2-core machine. A requeued
job waits cred_expire seconds before it starts again (120 by default): 10 here, so that the
tests' requeues take seconds, not minutes."""
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, Optional

from golu_mm.jobs.runner import free_port

INSTALL = Path(__file__).with_name('install_slurm.sh')
PARTITION = 'debug'
MUNGE_SOCKET = Path('/run/munge/munge.socket.2')


class SlurmUnavailable(RuntimeError):
    """Slurm could not be installed or started here (the reason is the message)."""


def install() -> None:
    """Debian's slurm-wlm and munge, unless present (tests/cluster/install_slurm.sh)."""
    result = subprocess.run(['bash', str(INSTALL)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SlurmUnavailable(f'Slurm is not installed and {INSTALL.name} could not install it: '
                               f'{(result.stderr or result.stdout).strip()[-500:]}')


class SlurmCluster:
    """start() writes slurm.conf under `root` and starts munged (if not running), slurmctld and
    slurmd; env holds SLURM_CONF for every client command; stop() ends what start() began."""

    def __init__(self, root: Path, cpus: int = 16, gpus: int = 8):
        self.root = Path(root)
        self.host = socket.gethostname().split('.')[0]
        self.cpus, self.gpus = cpus, gpus
        self.conf = self.root / 'slurm.conf'
        self.env: Dict[str, str] = {**os.environ, 'SLURM_CONF': str(self.conf)}
        self._started_munge: Optional[Path] = None

    def _write_conf(self) -> None:
        for sub in ('state', 'spool', 'log'):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        gpu_files = self.root / 'fakegpu'
        for i in range(self.gpus):
            (self.root / f'fakegpu{i}').touch()
        (self.root / 'gres.conf').write_text(
            f'NodeName={self.host} Name=gpu File={gpu_files}[0-{self.gpus - 1}]\n')
        self.conf.write_text('\n'.join([
            'ClusterName=golutest', f'SlurmctldHost={self.host}', 'AuthType=auth/munge',
            'AuthInfo=cred_expire=10', 'SlurmUser=root', 'SlurmdUser=root',
            f'SlurmctldPort={free_port()}', f'SlurmdPort={free_port()}',
            f'StateSaveLocation={self.root / "state"}', f'SlurmdSpoolDir={self.root / "spool"}',
            f'SlurmctldPidFile={self.root / "slurmctld.pid"}',
            f'SlurmdPidFile={self.root / "slurmd.pid"}',
            'ProctrackType=proctrack/linuxproc', 'TaskPlugin=task/none', 'MpiDefault=none',
            'SelectType=select/cons_tres', 'SelectTypeParameters=CR_Core', 'ReturnToService=2',
            'AccountingStorageType=accounting_storage/none', 'JobCompType=jobcomp/none',
            'SchedulerType=sched/backfill', 'SchedulerParameters=sched_interval=1',
            'MinJobAge=3600', 'KillWait=5', 'JobRequeue=1',
            'SlurmdParameters=config_overrides', 'GresTypes=gpu',
            f'NodeName={self.host} CPUs={self.cpus} Gres=gpu:{self.gpus} State=UNKNOWN',
            f'PartitionName={PARTITION} Nodes={self.host} Default=YES MaxTime=INFINITE State=UP',
            '']))

    def _start_munge(self) -> None:
        if MUNGE_SOCKET.exists() and subprocess.run(['munge', '-n'], capture_output=True,
                                                    env=self.env).returncode == 0:
            return  # a munged is already serving
        Path('/run/munge').mkdir(parents=True, exist_ok=True)
        shutil.chown('/run/munge', 'munge', 'munge')
        subprocess.run(['munged', '--force'], check=True, capture_output=True)
        self._started_munge = Path('/run/munge/munged.pid')

    def start(self, timeout: float = 60) -> 'SlurmCluster':
        self._write_conf()
        try:
            self._start_munge()
            subprocess.run(['slurmctld', '-L', str(self.root / 'log/slurmctld.log')],
                           env=self.env, check=True, capture_output=True)
            subprocess.run(['slurmd', '-L', str(self.root / 'log/slurmd.log')],
                           env=self.env, check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            self.stop()
            raise SlurmUnavailable(f'the test cluster did not start: {exc} '
                                   f'{getattr(exc, "stderr", b"")!r}') from exc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run('sinfo', '-h', '-o', '%t', check=False).stdout.strip()
            if state in ('idle', 'mix', 'alloc'):
                return self
            time.sleep(0.5)
        logs = (self.root / 'log/slurmd.log').read_text()[-1500:]
        self.stop()
        raise SlurmUnavailable(f'the node did not come up in {timeout:.0f} s: {logs}')

    def restart_controller(self, down: float = 3) -> None:
        """slurmctld stopped (by its pid) and started again `down` seconds later, with its
        state: queued and running jobs go on."""
        _kill_by_pidfile(self.root / 'slurmctld.pid')
        time.sleep(down)
        subprocess.run(['slurmctld', '-L', str(self.root / 'log/slurmctld.log')], env=self.env,
                       check=True, capture_output=True)

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(command, env=self.env, capture_output=True, text=True,
                              check=check, timeout=60)

    def stop(self) -> None:
        """Cancels every job (their step daemons would outlive slurmd), then ends the daemons."""
        if (self.root / 'slurmctld.pid').is_file():
            self.run('scancel', f'--partition={PARTITION}', check=False)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.run(
                    'squeue', '-h', '-t', 'PD,R,CG,CF,S', check=False).stdout.strip():
                time.sleep(0.5)
        for name in ('slurmd', 'slurmctld'):
            _kill_by_pidfile(self.root / f'{name}.pid')
        if self._started_munge is not None:
            _kill_by_pidfile(self._started_munge)


def _kill_by_pidfile(path: Path, timeout: float = 10) -> None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
