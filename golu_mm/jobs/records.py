"""The records of a run directory's jobs: launch.json (what its next job runs: tools/run_job.py
reads it), job.json (who runs it: a Slurm job id, or a local process), end.json (how the job
ended, written by the job), and what a job left behind (its output's last error line). Records
are written whole (a temporary file renamed), so a reader never sees half of one."""
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Optional

LAUNCH_FILE, JOB_FILE, END_FILE = 'launch.json', 'job.json', 'end.json'
LOCAL, SLURM = 'local', 'slurm'
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
    """What the run's next job runs, written before that job is launched; the previous job's
    end record goes (the new job writes its own)."""
    (Path(run_dir) / END_FILE).unlink(missing_ok=True)
    write_json(Path(run_dir) / LAUNCH_FILE, launch)


def write_job(run_dir: Path, job: dict) -> None:
    """Who runs the run's job: {'launcher': 'slurm', 'id': ...} or {'launcher': 'local', 'pid',
    'pid_start', 'host'}."""
    write_json(Path(run_dir) / JOB_FILE, {'submitted': time.strftime('%Y-%m-%dT%H:%M:%S'),
                                          **job})


def write_end(run_dir: Path, status: str, **fields) -> None:
    write_json(Path(run_dir) / END_FILE, {'status': status, 'host': hostname(),
                                          'ended': time.strftime('%Y-%m-%dT%H:%M:%S'), **fields})


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
