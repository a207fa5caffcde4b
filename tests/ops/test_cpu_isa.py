"""The CPU loops exist once per instruction set (AVX-512, AVX2, baseline), chosen once per process.
GOLU_MM_CPU_ISA caps the choice, so each set this CPU supports runs the CPU operator tests in a
subprocess of its own (slow: make test-slow). Nothing starts at collection: which sets this CPU
supports is asked once, by the first test that needs it."""
import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from golu_mm.ops import cpu_isa
from golu_mm.ops.extension import CPU_ISA_ENV

ROOT = Path(__file__).resolve().parents[2]
ISAS = ['avx512', 'avx2', 'scalar']  # best first
SUITE = ['test_accuracy.py', 'test_special_values.py', 'test_properties.py', 'test_autograd.py']


def run_python(isa, *args):
    """python *args with GOLU_MM_CPU_ISA=isa (None: unset, whatever this process has)."""
    env = {k: v for k, v in os.environ.items() if k != CPU_ISA_ENV}
    if isa is not None:
        env[CPU_ISA_ENV] = isa
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def isa_in_subprocess(isa):
    """What cpu_isa() reports with GOLU_MM_CPU_ISA=isa, or the error it raises."""
    result = run_python(isa, '-c', 'from golu_mm.ops import cpu_isa; print(cpu_isa())')
    return result.stdout.strip() if result.returncode == 0 else result.stderr.strip()


@functools.lru_cache(maxsize=None)
def supported():
    return [isa for isa in ISAS if isa_in_subprocess(isa) == isa]


def test_default_is_the_best_supported_set():
    assert 'scalar' in supported()
    assert isa_in_subprocess(None) == supported()[0] == cpu_isa()


def test_unknown_or_unsupported_set_is_rejected():
    assert 'GOLU_MM_CPU_ISA=sse9 is not one of avx512, avx2, scalar' in isa_in_subprocess('sse9')
    for isa in set(ISAS) - set(supported()):
        assert 'does not support' in isa_in_subprocess(isa)


@pytest.mark.slow
@pytest.mark.parametrize('isa', ISAS)
def test_operator_suite_passes_with(isa):
    if isa == cpu_isa():
        pytest.skip(f'{isa} is this process\'s set: the main run tests it')
    if isa not in supported():
        pytest.skip(f'this CPU does not support {isa}')
    result = run_python(isa, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-m',
                        'not cuda', *(str(Path(__file__).parent / f) for f in SUITE))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert ' passed' in result.stdout and ' failed' not in result.stdout
