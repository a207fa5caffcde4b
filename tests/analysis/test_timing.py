"""The one timing helper: medians over the asked number of calls after the warm-up, functions
taking turns; and tools/benchmark_activation.py, which times the activation table with it."""
import sys
from pathlib import Path

import pytest

from golu_mm.analysis import timing

ROOT = Path(__file__).resolve().parents[2]


def test_interleaved_medians_take_turns_and_return_the_median(monkeypatch):
    calls = []
    fns = {'a': lambda: calls.append('a'), 'b': lambda: calls.append('b')}
    durations = iter([5.0, 1.0, 3.0, 9.0, 4.0, 2.0])  # a, b, a, b, a, b after the warm-up
    monkeypatch.setattr(timing, 'seconds', lambda fn: (fn(), next(durations))[1])
    medians = timing.interleaved_medians(fns, steps=3, warmup=1)
    assert calls == ['a', 'b'] + ['a', 'b'] * 3  # warm-up once each, then turns
    assert medians == {'a': 4.0, 'b': 2.0}


def test_seconds_measures_the_call():
    import time
    assert 0.02 <= timing.seconds(lambda: time.sleep(0.02)) < 1.0
    assert timing.median_seconds(lambda: time.sleep(0.01), steps=3, warmup=0) >= 0.01


def test_benchmark_activation_times_the_tables_functions(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / 'tools'))
    benchmark = pytest.importorskip('benchmark_activation')
    from golu_mm import golu
    assert benchmark.FUNCTIONS['GoLU'] is golu
    rows, bandwidth = benchmark.main(['--sizes', '64K', '--dtypes', 'float32', '--devices', 'cpu',
                                      '--repeats', '2', '--range-dtypes',
                                      '--activations', 'GoLU', 'GoLU-formula', 'ReLU'])
    assert [r['activation'] for r in rows] == ['SiLU', 'GoLU', 'GoLU-formula', 'ReLU']
    silu = rows[0]
    assert silu['forward_vs_silu'] == silu['forward_backward_vs_silu'] == 1.0
    for r in rows:
        assert r['forward_vs_silu'] == pytest.approx(r['forward_ms'] / silu['forward_ms'])
    assert bandwidth == []  # CUDA only
    sys.modules.pop('benchmark_activation', None)
