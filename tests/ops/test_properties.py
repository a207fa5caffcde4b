"""Property tests: the compiled operator agrees with the reference over random shapes, layouts,
dtypes and parameters, keeps the input's layout, and is deterministic."""
import math

import pytest
import torch

# A bare GPU image (torch and pytest only) skips this module instead of failing collection.
pytest.importorskip('hypothesis', reason='requirements/tests.txt (installed by make setup)')
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from golu_mm.ops import golu, golu_reference  # noqa: E402

from .conftest import EXTENSION_ERROR, FLOAT_DTYPES  # noqa: E402

TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1e-2}
LAYOUTS = ['contiguous', 'channels_last', 'transposed', 'sliced', 'expanded']


def make(shape, layout, dtype, device, seed, scale):
    """A tensor of `shape` with the given memory layout (dense or not)."""
    g = torch.Generator().manual_seed(seed)
    randn = lambda *size: torch.randn(size, generator=g, dtype=torch.float64) * scale  # noqa: E731
    n, c, h, w = shape
    if layout == 'channels_last':
        t = randn(n, c, h, w).contiguous(memory_format=torch.channels_last)
    elif layout == 'transposed':  # dense, permuted strides
        t = randn(w, c, h, n).transpose(0, -1)
    elif layout == 'sliced':  # not dense: every other element of the last dimension
        t = randn(n, c, h, 2 * w)[..., ::2]
    elif layout == 'expanded':  # overlapping: stride 0 along the batch
        t = randn(1, c, h, w).expand(n, c, h, w)
    else:
        t = randn(n, c, h, w)
    assert t.shape == tuple(shape)
    return t.to(device=device, dtype=dtype)


cases = st.tuples(
    st.lists(st.integers(1, 7), min_size=4, max_size=4),
    st.sampled_from(LAYOUTS), st.sampled_from(LAYOUTS), st.sampled_from(FLOAT_DTYPES),
    st.integers(0, 2**31 - 1), st.sampled_from([1.0, 5.0, 60.0]),
    st.tuples(*[st.sampled_from([0.0, 0.5, 1.0, 2.0])] * 3))


def check_against_reference(device, case):
    assert EXTENSION_ERROR is None, EXTENSION_ERROR
    shape, layout, grad_layout, dtype, seed, scale, params = case
    x = make(shape, layout, dtype, device, seed, scale).requires_grad_(True)
    grad = make(x.shape, grad_layout, dtype, device, seed + 1, 1.0)
    xr = x.detach().clone(memory_format=torch.preserve_format).requires_grad_(True)
    y = golu(x, *params)
    yr = golu_reference(xr, *params)
    y.backward(grad)
    yr.backward(grad)
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(y, yr, rtol=tol, atol=tol)
    torch.testing.assert_close(x.grad, xr.grad, rtol=tol, atol=tol)
    # Same layout as torch's own elementwise ops give (empty_like keeps dense layouts).
    assert y.stride() == torch.empty_like(x).stride()


@settings(max_examples=150, deadline=None)
@given(cases)
def test_extension_matches_reference_cpu(case):
    check_against_reference('cpu', case)


@pytest.mark.cuda
@settings(max_examples=150, deadline=None)
@given(cases)
def test_extension_matches_reference_cuda(case):
    check_against_reference('cuda', case)


@pytest.mark.parametrize('dtype', FLOAT_DTYPES)
def test_deterministic_bits(impl, device, dtype):
    x = (torch.randn(1 << 18, dtype=torch.float64) * 20).to(device=device, dtype=dtype)
    grad = torch.randn_like(x)
    runs = []
    for _ in range(2):
        xi = x.clone().requires_grad_(True)
        impl(xi).backward(grad)
        runs.append((impl(x), xi.grad))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])


def test_channels_last_output_stays_channels_last(impl, device):
    x = torch.randn(2, 8, 5, 5, device=device).contiguous(memory_format=torch.channels_last)
    assert impl(x).is_contiguous(memory_format=torch.channels_last)


def test_empty_and_zero_dim(impl, device):
    assert impl(torch.empty(0, 3, device=device)).shape == (0, 3)
    x = torch.tensor(2.0, dtype=torch.float64, device=device, requires_grad=True)
    y = impl(x)
    y.backward()
    u = math.exp(-2.0)
    assert y.dim() == 0 and x.grad.dim() == 0
    assert y.item() == pytest.approx(2 * math.exp(-u), rel=1e-14, abs=0)
    assert x.grad.item() == pytest.approx(math.exp(-u) * (1 + 2 * u), rel=1e-14, abs=0)


def test_large_tensor_splits_across_threads(impl):
    """Above the parallel grain size and with a ragged tail, every element is computed (checked
    against the plain formula in float64, exact enough on [-30, 30], not against either path)."""
    x = torch.linspace(-30, 30, (1 << 20) + 37)
    xd = x.double()
    expected = (xd * torch.exp(-torch.exp(-xd))).float()
    torch.testing.assert_close(impl(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('dtype', FLOAT_DTYPES)
def test_result_does_not_depend_on_position(device, dtype):
    """An element gives the same bits whether it falls in a full vector, in the padded last
    vector or at another alignment (golu_loops.h)."""
    x = (torch.randn(301, dtype=torch.float64) * 20).to(device=device, dtype=dtype)
    grad = torch.randn_like(x)
    y = golu(x)
    dx = torch.ops.golu_mm.golu_backward(grad, x)
    for start, length in [(0, 1), (3, 17), (5, 16), (100, 201), (290, 11)]:
        part = slice(start, start + length)
        assert torch.equal(golu(x[part].clone()), y[part])
        assert torch.equal(torch.ops.golu_mm.golu_backward(grad[part].clone(), x[part].clone()),
                           dx[part])
