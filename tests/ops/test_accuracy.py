"""Accuracy against an independent high-precision oracle (mpmath, 40 digits), x in [-1000, 1000].

Tolerances, in units in the last place (ulp) of the exact result:
  float32 and float64: |error| <= K * (1 + beta*u) ulp with u = exp(-gamma*x); K = 6 for float32
    (exp_f32 / expf are within 1-2 ulp, and each rounding of u is amplified by beta*u in
    exp(-beta*u): the conditioning of the gate, at most ~104 where a float32 result is nonzero),
    K = 2 for float64, which is also held to 1e-12 relative for |x| <= 20.
  Measured on CPU: float32 3.4, float64 1.0 (worst of GoLU and GoLU', both parameter sets).
  float16 / bfloat16: within one unit of their grid of the float32 result (computed in float32,
    rounded once).
The derivative's scale is e * (alpha + |alpha*beta*gamma*x*u|), the size of its two summands (it
crosses zero at x = -0.567, where a relative bound is meaningless).
"""
import math

import pytest
import torch

mpmath = pytest.importorskip('mpmath', reason='the oracle (requirements/tests.txt)')

mpmath.mp.dps = 40
PARAMS = [(1.0, 1.0, 1.0), (1.5, 0.5, 2.0)]


def grid(dtype):
    info = torch.finfo(dtype)
    xs = torch.cat([
        torch.linspace(-1000, 1000, 401, dtype=torch.float64),
        torch.linspace(-120, 40, 3201, dtype=torch.float64),
        torch.tensor([-0.567143, -1.0, 1e-30, -1e-30, 1e-7, -1e-7], dtype=torch.float64),
    ]).clamp(info.min, info.max).to(dtype)
    return torch.unique(xs)


def exact(x, alpha, beta, gamma):
    """GoLU, GoLU', u and the derivative's scale at the exact value of x."""
    x = mpmath.mpf(x)
    u = mpmath.exp(-gamma * x)
    e = mpmath.exp(-beta * u)
    y = x * alpha * e
    d = e * (alpha + alpha * beta * gamma * x * u)
    scale = e * (alpha + abs(alpha * beta * gamma * x * u))
    return y, d, u, scale


def ulp(value, dtype):
    info = torch.finfo(dtype)
    v = abs(float(value))
    if v == 0 or v < info.smallest_normal:
        return info.tiny * info.eps  # the subnormal spacing
    return 2.0 ** (math.frexp(v)[1] - 1) * info.eps


def ulp_errors(impl, dtype, params):
    x = grid(dtype).requires_grad_(True)
    y = impl(x, *params)
    y.sum().backward()
    worst_y = worst_d = 0.0
    for xv, yv, dv in zip(x.detach().tolist(), y.detach().tolist(), x.grad.tolist()):
        ey, ed, u, scale = exact(xv, *params)
        bound = 1 + params[1] * float(min(u, 1e300))
        worst_y = max(worst_y, abs(yv - float(ey)) / ulp(ey, dtype) / bound)
        worst_d = max(worst_d, abs(dv - float(ed)) / ulp(scale, dtype) / bound)
    return worst_y, worst_d


@pytest.mark.parametrize('params', PARAMS)
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_within_ulps_of_mpmath(impl, dtype, params):
    worst_y, worst_d = ulp_errors(impl, dtype, params)
    k = 6 if dtype == torch.float32 else 2
    assert worst_y <= k and worst_d <= k, (worst_y, worst_d)


def test_float64_relative_error(impl):
    x = torch.linspace(-20, 20, 2001, dtype=torch.float64)
    y = impl(x)
    for xv, yv in zip(x.tolist(), y.tolist()):
        ey = float(exact(xv, 1.0, 1.0, 1.0)[0])
        assert abs(yv - ey) <= 1e-12 * abs(ey) + 1e-300, xv


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_types_round_the_float32_result_once(impl, device, dtype):
    x = grid(dtype).to(device).requires_grad_(True)
    grad_out = torch.linspace(-2, 2, x.numel(), device=device).to(dtype)
    y = impl(x)
    y.backward(grad_out)
    x32 = x.detach().float().requires_grad_(True)
    y32 = impl(x32)
    y32.backward(grad_out.float())
    for half, full in ((y.detach(), y32.detach()), (x.grad, x32.grad)):
        assert ((half.float() - full).abs() <= grid_unit(full, dtype)).all()


def grid_unit(v, dtype):
    """Spacing of dtype's representable numbers at each value of the float32 tensor v."""
    info = torch.finfo(dtype)
    exponent = torch.frexp(v.abs())[1]
    unit = torch.ldexp(torch.full_like(v, info.eps), exponent - 1)
    return torch.where(v.abs() < info.smallest_normal, torch.full_like(v, info.tiny * info.eps), unit)


# Where the gate exp(-beta*u) or u = exp(-gamma*x) is subnormal in float32 or float64: the kernels
# build these results from normal numbers (no subnormal arithmetic, which is slow on many CPUs).
SUBNORMAL_BANDS = {torch.float32: [(-4.66, -4.45), (87.0, 104.5)],
                   torch.float64: [(-6.62, -6.55), (707.0, 746.0)]}


@pytest.mark.parametrize('params', PARAMS)
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_subnormal_bands_within_ulps(impl, dtype, params):
    """Dense grids over the bands (for the paper's parameters; scaled for the other set)."""
    alpha, beta, gamma = params
    grids = []
    for lo, hi in SUBNORMAL_BANDS[dtype]:
        if lo < 0:  # the gate band: beta * exp(-gamma * x) in the band's u range
            u_lo, u_hi = math.exp(-hi), math.exp(-lo)
            lo, hi = -math.log(u_hi / beta) / gamma, -math.log(u_lo / beta) / gamma
        else:
            lo, hi = lo / gamma, hi / gamma
        grids.append(torch.linspace(lo, hi, 301, dtype=torch.float64))
    x = torch.cat(grids).to(dtype).requires_grad_(True)
    y = impl(x, *params)
    y.sum().backward()
    worst_y = worst_d = 0.0
    for xv, yv, dv in zip(x.detach().tolist(), y.detach().tolist(), x.grad.tolist()):
        ey, ed, u, scale = exact(xv, *params)
        bound = 1 + beta * float(min(u, 1e300))
        worst_y = max(worst_y, abs(yv - float(ey)) / ulp(ey, dtype) / bound)
        worst_d = max(worst_d, abs(dv - float(ed)) / ulp(scale, dtype) / bound)
    k = 6 if dtype == torch.float32 else 2
    assert worst_y <= k and worst_d <= k, (worst_y, worst_d)
    subnormal = (y.detach() != 0) & (y.detach().abs() < torch.finfo(dtype).smallest_normal)
    assert subnormal.any()  # the band really produces subnormal results
