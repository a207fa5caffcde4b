"""The records of a run directory's jobs: launch.json (what its next job runs: tools/run_job.py
reads it), job.json (who runs it: a Slurm job id, or a local process), end.json (how the job
ended, written by the job), attempts.json (every attempt of every job: when it ran, from which
checkpoint to which), and what a job left behind (its output's last error line). Records are
written whole (a temporary file renamed), so a reader never sees half of one."""
import json
import os
import re
import socket
import time
import uuid
from pathlib import Path
from typing import Optional

LAUNCH_FILE, JOB_FILE, END_FILE, ATTEMPTS_FILE = (
    'launch.json', 'job.json', 'end.json', 'attempts.json')
LOCAL, SLURM = 'local', 'slurm'
# How a job ended (end.json's status): trained and finished; failed; stopped by a signal and
# not coming back (cancelled); stopped to come back (a Slurm requeue or resubmission).
FINISHED, FAILED, TERMINATED, REQUEUED = 'finished', 'failed', 'terminated', 'requeued'
OUTPUT_GLOB = 'job-*.out'


def write_json(path: Path, record: dict) -> None:
    path = Path(path)
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def read_json(path: Path) -> Optional[dict]:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def read_launch(run_dir: Path) -> Optional[dict]:
    return read_json(Path(run_dir) / LAUNCH_FILE)


def read_job(run_dir: Path) -> Optional[dict]:
    return read_json(Path(run_dir) / JOB_FILE)


def read_end(run_dir: Path) -> Optional[dict]:
    return read_json(Path(run_dir) / END_FILE)


def write_launch(run_dir: Path, launch: dict) -> None:
    """What the run's next job runs, written before that job is launched, stamped with the time
    (its attempts count from there); the previous job's end record goes (the new job writes its
    own)."""
    (Path(run_dir) / END_FILE).unlink(missing_ok=True)
    write_json(Path(run_dir) / LAUNCH_FILE, {**launch, 'launched': _now(),
                                             'launch_id': uuid.uuid4().hex[:12]})


def write_job(run_dir: Path, job: dict) -> None:
    """Who runs the run's job: {'launcher': 'slurm', 'id': ...} or {'launcher': 'local', 'pid',
    'pid_start', 'host'}."""
    write_json(Path(run_dir) / JOB_FILE, {'submitted': time.strftime('%Y-%m-%dT%H:%M:%S'),
                                          **job})


def write_end(run_dir: Path, status: str, **fields) -> None:
    """How the job ended (a status above, with its exit code, signal or reason); the attempt
    that was running ends with it."""
    ended = _now()
    write_json(Path(run_dir) / END_FILE, {'status': status, 'host': hostname(), 'ended': ended,
                                          **fields})
    attempts = read_attempts(run_dir)
    if attempts and 'ended' not in attempts[-1]:
        attempts[-1].update(ended=ended, how=status, to=fields.get('checkpoint'),
                            reason=fields.get('reason'))
        _write_attempts(run_dir, attempts)


def _now() -> str:
    return time.strftime('%Y-%m-%dT%H:%M:%S')


def job_comment(run_dir: Path) -> str:
    """What every Slurm job of the run carries (--comment): the run's identity, so that a sweep
    finds a run's jobs in squeue even where job.json does not name them."""
    return f'golu_mm:{Path(run_dir).resolve()}'


def job_label(job: dict) -> str:
    """A job record as the state table shows it: the Slurm id ('' before it is known), or the
    local process."""
    if job.get('launcher') == SLURM:
        return str(job.get('id') or '')
    return f'pid {job.get("pid")}@{job.get("host")}'


def read_attempts(run_dir: Path) -> list:
    record = read_json(Path(run_dir) / ATTEMPTS_FILE)
    return list(record['attempts']) if record else []


def _write_attempts(run_dir: Path, attempts: list) -> None:
    write_json(Path(run_dir) / ATTEMPTS_FILE, {'attempts': attempts})


def start_attempt(run_dir: Path, job: str, launch_id: str, checkpoint: Optional[str],
                  gpus: int) -> int:
    """Records that an attempt of the run's job starts (job id or pid, its launch's stamp, the
    checkpoint it resumes from, the GPUs it holds); returns its number among the attempts of
    that launch. An attempt that never ended (killed with its node) stays without an end."""
    attempts = read_attempts(run_dir)
    number = 1 + sum(1 for a in attempts if a.get('launch_id') == launch_id)
    attempts.append({'attempt': number, 'job': job, 'launch_id': launch_id, 'started': _now(),
                     'host': hostname(), 'gpus': gpus, 'from': checkpoint})
    _write_attempts(run_dir, attempts)
    return number


def hostname() -> str:
    return socket.gethostname().split('.')[0]


def process_start(pid: int) -> Optional[str]:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): with the
    pid, it names one process, where a pid alone may be reused. None where there is none."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return None
    return stat.rpartition(')')[2].split()[19]


def process_alive(job: dict) -> Optional[bool]:
    """Whether a local job's process runs (None: it ran on another host, unknowable here)."""
    if job.get('host') != hostname():
        return None
    return job.get('pid') is not None and process_start(job['pid']) == job.get('pid_start')


# What ends a job's output when it fails: our tools' one-line error, a Python exception, or
# Slurm's own notice (CANCELLED, DUE TO TIME LIMIT, ...).
ERROR_LINE = re.compile(r'^(error: .*|\w*(Error|Exception)\b.*|.*\*\*\* .* \*\*\*.*|'
                        r'.*(Killed|Terminated|Out Of Memory|oom-kill).*)$', re.M)


def job_outputs(run_dir: Path):
    """The run's job output files, oldest first."""
    return sorted(Path(run_dir).glob(OUTPUT_GLOB), key=lambda p: p.stat().st_mtime)


def last_error_line(run_dir: Path) -> Optional[str]:
    """The last error line of the run's newest job output (None: no output, or no error in it)."""
    outputs = job_outputs(run_dir)
    if not outputs:
        return None
    lines = ERROR_LINE.findall(outputs[-1].read_text(errors='replace'))
    return lines[-1][0].strip()[:300] if lines else None
