"""The special-value table of docs/operator.md (Numerics), for every dtype, device and
implementation."""
import math

import pytest
import torch

from .conftest import FLOAT_DTYPES

INF, NAN = math.inf, math.nan
# x: (GoLU(x), GoLU'(x)) for alpha = beta = gamma = 1; 'finite' means finite, not NaN.
TABLE = [(NAN, NAN, NAN), (INF, INF, 1.0), (-INF, 0.0, 0.0), (0.0, 0.0, 1 / math.e)]


def run(impl, x):
    x = x.clone().requires_grad_(True)
    y = impl(x)
    y.backward(torch.ones_like(y))
    return y.detach(), x.grad


def assert_value(actual, expected, rtol, what):
    if math.isnan(expected):
        assert math.isnan(actual), f'{what} = {actual}, expected NaN'
    else:
        assert actual == pytest.approx(expected, rel=rtol, abs=0), what


@pytest.mark.parametrize('dtype', FLOAT_DTYPES)
def test_special_values(impl, device, dtype):
    x = torch.tensor([row[0] for row in TABLE], dtype=dtype, device=device)
    y, dy = run(impl, x)
    rtol = 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-6
    for (xv, yv, dv), ya, da in zip(TABLE, y.tolist(), dy.tolist()):
        assert_value(ya, yv, rtol, f'GoLU({xv})')
        assert_value(da, dv, rtol, f"GoLU'({xv})")


@pytest.mark.parametrize('dtype', FLOAT_DTYPES)
def test_finite_inputs_give_finite_values_and_gradients(impl, device, dtype):
    info = torch.finfo(dtype)
    edges = [info.min, -1e4, -1000.0, -120.0, -89.0, -88.0, -11.5, -11.0, -0.567, -info.tiny,
             -info.smallest_normal / 4, 0.0, info.tiny, 1.0, 60.0, 1e4, info.max]
    x = torch.cat([torch.tensor(edges, dtype=torch.float64).clamp(info.min, info.max),
                   torch.linspace(-200, 200, 4001, dtype=torch.float64)]).to(dtype).to(device)
    y, dy = run(impl, x)
    assert torch.isfinite(y).all() and torch.isfinite(dy).all()
    # where the gate is exactly 0 or 1 in every dtype, so are the values: GoLU(x) = 0 with slope
    # 0 from x <= -1000 (exp(-exp(1000)) is 0), GoLU(x) = x with slope 1 from x >= 60
    # (exp(-60) = 8.8e-27 is below half an ulp of 1 even in float64)
    gone, linear = x <= -1000, x >= 60
    assert gone.sum() >= 3 and linear.sum() >= 3
    assert (y[gone] == 0).all() and (dy[gone] == 0).all()
    assert torch.equal(y[linear], x[linear]) and (dy[linear] == 1).all()


def test_nan_gradient_from_upstream_propagates(impl, device):
    """Unlike the paper's kernel, a NaN coming from upstream is not masked to 0."""
    x = torch.tensor([-100.0, 0.0, 3.0], device=device, requires_grad=True)
    impl(x).backward(torch.full((3,), NAN, device=device))
    assert torch.isnan(x.grad).all()


@pytest.mark.parametrize('dtype', FLOAT_DTYPES)
def test_zero_gradient_from_upstream_stays_zero(impl, device, dtype):
    """Where the gate is 0 (x far below 0, -inf included) x * exp(-gamma*x) overflows; a zero
    upstream gradient (max pooling's unpicked inputs, masked losses) must still give 0, not NaN."""
    x = torch.tensor([-INF, -1e4, -1000.0, -120.0, -89.0, -88.0, -50.0, 0.0, 3.0, INF],
                     dtype=torch.float64).clamp(min=torch.finfo(dtype).min).to(dtype).to(device)
    x[0] = -INF
    x.requires_grad_(True)
    impl(x).backward(torch.zeros_like(x))
    assert (x.grad == 0).all(), x.grad


def test_extremes_of_the_function(impl):
    """Minimum about -0.0973 near x = -0.567; GoLU'(0) = 1/e; GoLU' ranges over [-0.115, 1.113]."""
    x = torch.linspace(-10, 10, 200001, dtype=torch.float64, requires_grad=True)
    y = impl(x)
    y.sum().backward()
    assert y.min().item() == pytest.approx(-0.0973, abs=1e-4)
    assert x[y.argmin()].item() == pytest.approx(-0.567, abs=1e-3)
    assert x.grad.min().item() == pytest.approx(-0.115, abs=1e-3)
    assert x.grad.max().item() == pytest.approx(1.113, abs=1e-3)


@pytest.mark.parametrize('alpha,beta,gamma', [(2.0, 0.0, 1.0), (0.5, 3.0, 0.0), (0.0, 1.0, 1.0)])
def test_degenerate_parameters_are_linear(impl, device, alpha, beta, gamma):
    """alpha, beta or gamma == 0 make the gate the constant alpha*exp(-beta) (0 when alpha is)."""
    x = torch.tensor([-INF, -50.0, -1.0, 0.0, 2.0, INF], dtype=torch.float64, device=device,
                     requires_grad=True)
    y = impl(x, alpha, beta, gamma)
    y.sum().backward()
    c = alpha * math.exp(-beta) if beta * gamma == 0 else 0.0
    finite = torch.isfinite(x)
    assert torch.allclose(y[finite], c * x[finite].detach())
    if c == 0:
        assert (y == 0).all()
    else:
        assert y[0].item() == -INF and y[-1].item() == INF
    assert torch.allclose(x.grad, torch.full_like(x, c))
    # NaN still propagates, although the gate no longer depends on x.
    xn = torch.tensor([NAN], dtype=torch.float64, device=device, requires_grad=True)
    yn = impl(xn, alpha, beta, gamma)
    yn.backward(torch.ones_like(yn))
    assert torch.isnan(yn).all() and torch.isnan(xn.grad).all()


@pytest.mark.parametrize('dtype', [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize('alpha,beta,gamma', [(2.524, 1.304, 0.0), (1.392, 2.167, 0.0), (0.3, 0.0, 2.0)])
def test_linear_case_follows_one_parameter_rule(impl, device, dtype, alpha, beta, gamma):
    """The constant c = alpha*exp(-beta) comes from the parameters rounded to the compute type,
    formed in double and rounded once (reference.py's rule): every path gives x * c bit for bit."""
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    a = torch.tensor(alpha, dtype=compute).item()
    b = torch.tensor(beta, dtype=compute).item()
    c = torch.tensor(a * math.exp(-b), dtype=compute)
    x = torch.linspace(-40, 40, 257, dtype=torch.float64).to(dtype).to(device).requires_grad_(True)
    y = impl(x, alpha, beta, gamma)
    y.backward(torch.ones_like(y))
    assert torch.equal(y.detach().cpu(), (x.detach().cpu().to(compute) * c).to(dtype))
    assert torch.equal(x.grad.cpu(), torch.full((257,), c.item(), dtype=compute).to(dtype))
