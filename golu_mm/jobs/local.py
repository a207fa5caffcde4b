"""Jobs on this machine: at most max_parallel at once, each on its own GPUs (CUDA_VISIBLE_DEVICES)
or, without GPUs, its own share of the CPU cores (affinity and OMP_NUM_THREADS); a job waits for
the run it depends on (a fine-tune for its pretraining) and is dropped when that one fails."""
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from ..analysis.run_record import RESULT_FILE
from .records import LOCAL, hostname, process_start, write_job


@dataclass
class Job:
    """One run to launch: its directory, its launch record, and the run it waits for."""
    name: str
    run_dir: Path
    launch: dict
    after: Optional[Path] = None


def slots(max_parallel: int, processes: int, gpus: Sequence[str],
          cores: Sequence[int]) -> List[dict]:
    """What each of the max_parallel concurrent jobs runs on: `processes` GPUs each where there
    are GPUs, else an equal share of the cores. Too few of either is an error naming both."""
    if max_parallel < 1 or processes < 1:
        raise ValueError('--max-parallel and the processes per run must be at least 1')
    if gpus:
        if max_parallel * processes > len(gpus):
            raise ValueError(f'{max_parallel} runs at once x {processes} GPU(s) each needs '
                             f'{max_parallel * processes} GPUs; {len(gpus)} visible '
                             f'({",".join(gpus)})')
        return [{'CUDA_VISIBLE_DEVICES': ','.join(gpus[i * processes:(i + 1) * processes])}
                for i in range(max_parallel)]
    share = len(cores) // max_parallel
    if share < processes:
        raise ValueError(f'{max_parallel} runs at once x {processes} process(es) each on '
                         f'{len(cores)} CPU cores: each process needs a core of its own')
    return [{'cores': list(cores[i * share:(i + 1) * share])} for i in range(max_parallel)]


def visible_gpus() -> List[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES names them (torch decides)."""
    import torch
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    listed = [d for d in os.environ.get('CUDA_VISIBLE_DEVICES', '').split(',') if d]
    return listed[:count] if listed else [str(i) for i in range(count)]


def _copy(stream, output: Path, echo: bool) -> None:
    """A job's output into its file (and to this process's stdout with `echo`), line by line."""
    with stream, output.open('ab') as out:
        for line in stream:
            out.write(line)
            out.flush()
            if echo:
                sys.stdout.buffer.write(line)
                sys.stdout.flush()


class LocalPool:
    """Runs jobs with `command(run_dir)` (tools/run_job.py), each in its slot. claim(job) is
    called just before a launch (the caller re-checks, under its lock, that no other sweep
    runs it, and writes its launch and job records); False leaves the run to whoever runs it,
    and its dependents wait for its result. Returns {name: exit code} (None: not run, its
    prerequisite failed)."""

    def __init__(self, command: Callable[[Path], List[str]], slots_: List[dict],
                 claim: Callable[[Job], bool], active: Callable[[Path], bool], log=print,
                 poll: float = 0.5):
        self.command, self.free, self.claim, self.active = command, list(slots_), claim, active
        self.log, self.poll = log, poll
        self.echo = len(slots_) == 1  # one job at a time: its output is shown as it comes

    def _env(self, slot: dict) -> dict:
        env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
        if 'CUDA_VISIBLE_DEVICES' in slot:
            env['CUDA_VISIBLE_DEVICES'] = slot['CUDA_VISIBLE_DEVICES']
        else:
            env['OMP_NUM_THREADS'] = str(len(slot['cores']))
        return env

    def _launch(self, job: Job, slot: dict) -> subprocess.Popen:
        output = job.run_dir / f'job-local-{time.strftime("%Y%m%d_%H%M%S")}.out'
        cores = slot.get('cores')
        child = subprocess.Popen(
            self.command(job.run_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=self._env(slot), start_new_session=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None)
        child.copier = threading.Thread(target=_copy, args=(child.stdout, output, self.echo),
                                        daemon=True)
        child.copier.start()
        write_job(job.run_dir, {'launcher': LOCAL, 'pid': child.pid, 'host': hostname(),
                                'pid_start': process_start(child.pid), 'slot': slot})
        return child

    def run(self, jobs: Sequence[Job]) -> Dict[str, Optional[int]]:
        waiting, running, codes = list(jobs), {}, {}
        failed_dirs = set()
        try:
            while waiting or running:
                for job in list(waiting):
                    after = job.after
                    if after is not None and not (after / RESULT_FILE).is_file():
                        if after in failed_dirs or not (self.active(after) or any(
                                j.run_dir == after for j in waiting + [r[0] for r in
                                                                      running.values()])):
                            waiting.remove(job)
                            codes[job.name] = None
                            failed_dirs.add(job.run_dir)
                            self.log(f'[compare] {job.run_dir}: not run, its prerequisite '
                                     f'{after} failed')
                        continue
                    if not self.free:
                        break
                    waiting.remove(job)
                    if not self.claim(job):
                        continue
                    slot = self.free.pop(0)
                    running[job.name] = (job, self._launch(job, slot), slot)
                for name, (job, child, slot) in list(running.items()):
                    code = child.poll()
                    if code is None:
                        continue
                    del running[name]
                    child.copier.join()
                    self.free.append(slot)
                    codes[name] = code
                    if code != 0:
                        failed_dirs.add(job.run_dir)
                time.sleep(self.poll if running or waiting else 0)
        except BaseException:
            for _, child, _ in running.values():
                child.terminate()  # the job records it as ended by SIGTERM; a rerun resumes
            for _, child, _ in running.values():
                child.wait()
            raise
        return codes
