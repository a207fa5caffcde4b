"""The CUDA kernels, executed without a GPU: csrc/cuda/golu_kernels.cuh (the source nvcc compiles)
built against a CPU emulation of CUDA (tests/ops/cuda_emulation) and compared with the CPU kernels
on shapes that stress the index math: lengths that are not a multiple of the vector width,
misaligned pointers, several grid-stride rounds, C = 1, inner = 1, per-channel counts below one
block and above one grid row, residual and its scale/centre present or absent; float32 and
float64; blocks in shuffled order. A partial-warp shuffle aborts loudly, and deliberately broken
kernels (wrong stride, lost tail, early return) fail these checks."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .cuda_emulation import EmulatedCuda, build
from .test_devices_agree import assert_agree, cpu_results

ROOT = Path(__file__).resolve().parents[2]
DTYPES = [torch.float32, torch.float64]
# Vector width is 4 (float32) / 2 (float64); one grid round of the emulated GPU is 65536 elements.
LENGTHS = [1, 3, 4, 5, 257, 1023, 65536 + 4 + 3, 3 * 65536 + 1]
# (batch, channels, inner): C = 1 (600 per channel), inner = 1, 100 per channel (< one block),
# 15000 per channel (> one grid row of 8 blocks), and many channels.
SHAPES = [(2, 1, 300), (3, 5, 1), (2, 3, 50), (3, 2, 5000), (2, 37, 7)]


@pytest.fixture(scope='module')
def emulated():
    return EmulatedCuda(build())


def make(shape, dtype, seed, scale=4.0):
    return (torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
            * scale).to(dtype)


def misaligned(t):
    """A copy of t whose storage starts one element past a 16-byte boundary (no vector path)."""
    buf = torch.empty(t.numel() + 1, dtype=t.dtype)
    view = buf[1:].view(t.shape)
    view.copy_(t)
    assert view.data_ptr() % 16 != 0
    return view


def check_elementwise(emulated, n, dtype, aligned=True, params=(1.0, 1.0, 1.0), seed=0):
    x, grad = make(n, dtype, n), make(n, dtype, n + 1, 1.0)
    place = (lambda t: t) if aligned else misaligned
    other = {'golu': emulated.golu(0, place(x), params=params, seed=seed,
                                   out=None if aligned else misaligned(x)),
             'golu_backward': emulated.golu(1, place(grad), place(x), params=params, seed=seed),
             'golu_second': emulated.golu(2, place(grad), place(x), params=params, seed=seed)}
    assert not any(r.isnan().any() for r in other.values()), 'an element was never written'
    assert_agree(cpu_results(grad, x, params), other, grad, x, params)


def oracle(x, dy, scale, shift, r, residual_scale, center, residual_center, params):
    """Forward and backward of the fused affine + GoLU in float64 through the CPU operator."""
    d = lambda t: None if t is None else t.double()  # noqa: E731
    x, dy, r = d(x), d(dy), d(r)
    s, b = d(scale)[:, None], d(shift)[:, None]
    m = torch.zeros_like(s) if center is None else d(center)[:, None]
    rm = torch.zeros_like(s) if residual_center is None else d(residual_center)[:, None]
    z = (x - m) * s + b
    rs = torch.ones_like(s) if residual_scale is None else d(residual_scale)[:, None]
    if r is not None:
        z = z + (r - rm) * rs
    g = torch.ops.golu_mm.golu_backward(dy, z, *params)
    sums = torch.stack([g.sum((0, 2)), (g * (x - m)).sum((0, 2)),
                        (g * (r - rm)).sum((0, 2)) if r is not None else torch.zeros(x.shape[1], dtype=torch.float64)])
    terms = torch.stack([g.abs().sum((0, 2)), (g * (x - m)).abs().sum((0, 2)),
                         (g * (r - rm)).abs().sum((0, 2)) if r is not None else torch.zeros(x.shape[1], dtype=torch.float64)])
    return torch.ops.golu_mm.golu(z, *params), g * s, (g * rs if r is not None else None), sums, terms


def check_affine(emulated, shape, dtype, residual, extras, params=(1.0, 1.0, 1.0), seed=0):
    batch, channels, inner = shape
    x, dy = make(shape, dtype, 1, 1.5), make(shape, dtype, 2, 1.0)
    scale = make(channels, dtype, 3, 0.5).abs() + 0.5  # distinct per channel: a mix-up shows
    shift = make(channels, dtype, 4, 1.0)
    r = make(shape, dtype, 5, 1.0) if residual else None
    residual_scale = make(channels, dtype, 6, 0.5) + 1 if residual and extras else None
    center = make(channels, dtype, 7, 0.2) if extras else None
    residual_center = make(channels, dtype, 8, 0.2) if residual and extras else None
    y = emulated.affine_forward(x, scale, shift, r, residual_scale, center, residual_center,
                                params=params, seed=seed)
    dx, dr, sums = emulated.affine_backward(dy, x, scale, shift, r, residual_scale, center,
                                            residual_center, params=params, seed=seed)
    want_y, want_dx, want_dr, want_sums, terms = oracle(x, dy, scale, shift, r, residual_scale,
                                                        center, residual_center, params)
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(y.double(), want_y, **tol)
    torch.testing.assert_close(dx.double(), want_dx, **tol)
    if residual:
        torch.testing.assert_close(dr.double(), want_dr, **tol)
    else:
        assert dr is None
    eps = torch.finfo(dtype).eps  # sums: accumulated in any order, over up to 15000 terms
    assert ((sums.double() - want_sums).abs() <= 64 * eps * terms + 1e-30).all(), \
        (sums.double() - want_sums).abs().max()
    return y, dx, sums


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('n', LENGTHS)
def test_elementwise_kernels_match_the_cpu(emulated, n, dtype):
    check_elementwise(emulated, n, dtype, aligned=True, seed=n)
    check_elementwise(emulated, n, dtype, aligned=False, params=(1.5, 0.5, 2.0), seed=n + 1)


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('residual,extras', [(False, False), (True, False), (True, True),
                                             (False, True)])
def test_fused_affine_kernels_match_the_cpu(emulated, shape, dtype, residual, extras):
    check_affine(emulated, shape, dtype, residual, extras, params=(1.0, 1.0, 1.0))


def test_block_order_changes_only_the_rounding_of_the_sums(emulated):
    runs = [check_affine(emulated, (3, 2, 5000), torch.float32, True, True, seed=seed)
            for seed in (1, 2)]
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    torch.testing.assert_close(runs[0][2], runs[1][2], rtol=1e-4, atol=1e-4)


def run_emulated(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_partial_warp_shuffle_aborts_loudly():
    code = ('import torch; from tests.ops.cuda_emulation import EmulatedCuda, build\n'
            'lib = EmulatedCuda(build()).lib; out = torch.zeros(1)\n'
            'lib.emu_warp_sum(64, out.data_ptr()); print(int(out.item()))\n'
            'lib.emu_warp_sum(48, out.data_ptr())\n')
    result = run_emulated(code)
    assert result.stdout.strip() == str(sum(range(32)))  # whole warps: lane indices summed
    assert result.returncode != 0
    assert 'warp shuffle in a partial warp' in result.stderr


MUTATIONS = {
    'wrong stride': ('const int64_t stride = static_cast<int64_t>(gridDim.y) * blockDim.x;',
                     'const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;'),
    'lost tail': ('for (int64_t j = i; j < n && j < i + N; ++j)',
                  'for (int64_t j = i; j < n - 1 && j < i + N; ++j)'),
    'early return': ('  T acc[3] = {0, 0, 0};\n',
                     '  T acc[3] = {0, 0, 0};\n  if (threadIdx.x == blockDim.x - 1) return;\n'),
}


@pytest.mark.parametrize('name', list(MUTATIONS))
def test_broken_kernels_fail(name):
    """Each mutant is built and checked in its own process (a loud abort is a failure too)."""
    old, new = MUTATIONS[name]
    code = f'''
import torch
from tests.ops.cuda_emulation import EmulatedCuda, build
from tests.ops.test_cuda_emulation import check_affine, check_elementwise, LENGTHS, SHAPES
emulated = EmulatedCuda(build(lambda source: source.replace({old!r}, {new!r})))
for n in LENGTHS[:6]:
    check_elementwise(emulated, n, torch.float32, aligned=False)
for shape in SHAPES:
    check_affine(emulated, shape, torch.float32, True, True)
print('passed')
'''
    result = run_emulated(code)
    assert result.returncode != 0 and 'passed' not in result.stdout, result.stdout
    assert 'the mutation did not apply' not in result.stderr
    assert 'CalledProcessError' not in result.stderr  # it built, and then failed the checks
