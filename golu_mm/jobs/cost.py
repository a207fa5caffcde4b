"""What a run cost to train: its wall time over every attempt, its GPU-hours, and its seconds per
training iteration, so that a sweep's report can say whether an activation trains as fast as
another on the user's own runs. Attempts come from Slurm's accounting where it is on (sacct,
every requeued instance), else from the run's own records (attempts.json); the seconds per
iteration from the training's log (mmengine's `time` per logged iteration)."""
import math
import statistics
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

from ..analysis.run_record import read_scalars
from .records import read_attempts

COST_METRICS = ('cost/wall_hours', 'cost/gpu_hours', 'cost/seconds_per_iter')
Accounting = Dict[str, Tuple[float, int]]  # Slurm job id -> (seconds run, GPUs), all instances


def _seconds(stamp: str) -> float:
    return time.mktime(time.strptime(stamp, '%Y-%m-%dT%H:%M:%S'))


def run_cost(run_dir: Path, accounting: Optional[Accounting] = None) -> dict:
    """{'cost/wall_hours', 'cost/gpu_hours', 'cost/seconds_per_iter'} of the run, each left out
    where nothing measured it; 'attempts' (how many) and 'source' ('sacct' or 'job records').
    An attempt that never recorded its end (killed with its node) counts only through sacct."""
    attempts = read_attempts(run_dir)
    jobs = list(dict.fromkeys(a['job'] for a in attempts))
    cost: dict = {'attempts': len(attempts)}
    if accounting and jobs and all(j in accounting for j in jobs):
        seconds = sum(accounting[j][0] for j in jobs)
        gpu_seconds = sum(accounting[j][0] * accounting[j][1] for j in jobs)
        cost['source'] = 'sacct'
    else:
        timed = [a for a in attempts if a.get('started') and a.get('ended')]
        spans = [_seconds(a['ended']) - _seconds(a['started']) for a in timed]
        seconds = sum(spans) if timed else None
        gpu_seconds = sum(s * a.get('gpus', 0) for s, a in zip(spans, timed)) if timed else None
        cost['source'] = 'job records'
    if seconds is not None:
        cost['cost/wall_hours'] = seconds / 3600
        if gpu_seconds:
            cost['cost/gpu_hours'] = gpu_seconds / 3600
    times = [float(r['time']) for r in read_scalars(run_dir) if 'loss' in r and 'time' in r
             and math.isfinite(float(r['time']))]
    if times:
        cost['cost/seconds_per_iter'] = statistics.fmean(times)
    return cost
