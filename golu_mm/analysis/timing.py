"""Wall-clock timing for the benchmarks: medians, CUDA synchronised, several functions taking
turns so that a slow spell of a shared machine hits them all alike."""
import statistics
import time
from typing import Callable, Dict

import torch


def seconds(fn: Callable[[], object]) -> float:
    """Wall time of one fn() call, the GPU's queued work included."""
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def interleaved_medians(fns: Dict[str, Callable[[], object]], steps: int = 10,
                        warmup: int = 2) -> Dict[str, float]:
    """Median wall time of each fn over `steps` rounds after `warmup`, the fns taking turns within
    each round."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: Dict[str, list] = {name: [] for name in fns}
    for _ in range(steps):
        for name, fn in fns.items():
            times[name].append(seconds(fn))
    return {name: statistics.median(values) for name, values in times.items()}


def median_seconds(fn: Callable[[], object], steps: int = 10, warmup: int = 2) -> float:
    """Median wall time of fn() over `steps` calls after `warmup`."""
    return interleaved_medians({'fn': fn}, steps, warmup)['fn']
