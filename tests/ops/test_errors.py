"""Bad input gets a clear error naming the problem, on both paths and on the raw operator."""
import math

import pytest
import torch

from golu_mm import GoLU
from golu_mm.ops import reference

from .conftest import EXTENSION_ERROR


@pytest.mark.parametrize('dtype', [torch.int32, torch.int64, torch.uint8, torch.bool,
                                   torch.complex64])
def test_non_floating_dtype_is_a_type_error(impl, dtype):
    x = torch.zeros(3, dtype=dtype)
    with pytest.raises(TypeError, match=str(dtype)):
        impl(x)


def test_raw_operator_checks_dtype_too():
    assert EXTENSION_ERROR is None, EXTENSION_ERROR
    with pytest.raises(TypeError, match='Long'):
        torch.ops.golu_mm.golu(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match='beta'):
        torch.ops.golu_mm.golu(torch.zeros(3), 1.0, -1.0, 1.0)
    with pytest.raises(RuntimeError, match='shape'):
        torch.ops.golu_mm.golu_backward(torch.zeros(2), torch.zeros(3))


@pytest.mark.parametrize('name', ['alpha', 'beta', 'gamma'])
@pytest.mark.parametrize('value', [-1.0, math.inf, math.nan, 10 ** 400, -10 ** 400,
                                   __import__('fractions').Fraction(10 ** 400, 3)])
def test_bad_parameters_are_value_errors(impl, name, value):
    with pytest.raises(ValueError, match=f'golu: {name} must be finite and non-negative'):
        impl(torch.zeros(3), **{name: value})
    with pytest.raises(ValueError, match=f'golu: {name} must be finite and non-negative'):
        GoLU(**{name: value})


def test_non_number_parameter_is_a_type_error(impl):
    with pytest.raises(TypeError, match='alpha'):
        impl(torch.zeros(3), alpha='1')
    with pytest.raises(TypeError, match='Tensor'):
        impl([1.0, 2.0])


@pytest.mark.cuda
def test_mixed_devices_are_rejected():
    x = torch.zeros(3, device='cuda')
    with pytest.raises(RuntimeError, match='device|cuda'):
        torch.ops.golu_mm.golu_backward(torch.zeros(3), x)


@pytest.mark.parametrize('dtype', [torch.float8_e4m3fn, torch.float8_e5m2])
def test_float8_is_a_type_error(impl, dtype):
    with pytest.raises(TypeError, match='float8'):
        impl(torch.zeros(3).to(dtype))
    with pytest.raises(TypeError, match='Float8'):
        torch.ops.golu_mm.golu(torch.zeros(3).to(dtype))


def test_nested_and_sparse_tensors_are_type_errors(impl):
    nested = torch.nested.nested_tensor([torch.zeros(2), torch.zeros(3)])
    with pytest.raises(TypeError, match='nested'):
        impl(nested)
    with pytest.raises(TypeError, match='sparse'):
        impl(torch.zeros(3).to_sparse())


@pytest.mark.parametrize('dtype', [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('params,name', [((1.0, 1e39, 1.0), 'beta'), ((1e39, 1.0, 1.0), 'alpha'),
                                         ((1.0, 1.0, 1e-300), 'gamma'),
                                         ((1e20, 1e20, 1.0), r'alpha\*beta\*gamma'),
                                         ((1e-20, 1e-20, 1.0), r'alpha\*beta\*gamma')])
def test_parameters_outside_the_compute_type_are_value_errors(impl, dtype, params, name):
    """Finite in float64 but not a normal float32 (the compute type): refused on every path."""
    x = torch.zeros(3, dtype=dtype)
    with pytest.raises(ValueError, match=f'{name}=.*float32'):
        impl(x, *params)
    with pytest.raises(ValueError, match=f'{name}=.*float32'):
        torch.ops.golu_mm.golu(x, *params)
    impl(x.double(), *params)  # all normal float64 numbers: accepted


def test_extreme_float64_parameters_agree_between_paths():
    """(1e-280, 4e288, 1e-300) is valid in float64 (beta just below largest_beta): the operator
    and the reference agree, also at the special values, and finite inputs give no NaN."""
    from golu_mm.ops import golu, golu_reference
    x = torch.tensor([-math.inf, -1e300, -700.0, -1.0, 0.0, 1.0, 1e300, math.inf],
                     dtype=torch.float64, requires_grad=True)
    params = (1e-280, 4e288, 1e-300)
    outs = []
    for fn in (golu, golu_reference):
        xi = x.detach().clone().requires_grad_(True)
        y = fn(xi, *params)
        y.sum().backward()
        outs.append((y.detach(), xi.grad))
    torch.testing.assert_close(outs[0][0], outs[1][0], equal_nan=True, rtol=1e-12, atol=0)
    torch.testing.assert_close(outs[0][1], outs[1][1], equal_nan=True, rtol=1e-12, atol=0)
    for y, g in outs:
        assert not y.isnan().any() and not g.isnan().any()


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_alpha_that_would_overflow_before_the_gate_is_refused(impl, dtype):
    """alpha * x is formed before the gate: an alpha for which it overflows where GoLU is finite
    is refused (float32 golu(-3.9, alpha=1e38) would be -inf; exactly -1.37e17). Below the bound
    the result is right."""
    from golu_mm.ops.golu import largest_alpha
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    bound = largest_alpha(1.0, 1.0, compute)
    assert torch.finfo(compute).max / 50 < bound < torch.finfo(compute).max / 5
    x = torch.tensor([-3.9, -1.0, 0.5, 5.0], dtype=dtype)
    with pytest.raises(ValueError, match=f'alpha=.*too large for {compute}'):
        impl(x, alpha=bound * 1.01)
    alpha = bound * 0.99
    exact = [v * alpha * math.exp(-math.exp(-v)) for v in x.tolist()]
    torch.testing.assert_close(impl(x, alpha=alpha).double(),
                               torch.tensor(exact, dtype=torch.float64),
                               rtol=200 * torch.finfo(dtype).eps, atol=0)  # x=-3.9: cond ~190


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_beta_whose_flushed_tail_would_matter_is_refused(impl, dtype):
    """The CPU kernels flush exp(-gamma*x) below the normal range, CUDA does not: a beta large
    enough for that to change GoLU is refused on every path (float32 golu(90, 1, 3e38, 1) gave
    90.0 / slope 1.0 from the operator and slope inf from the reference; exactly 70.39 / 18.08).
    Just below the bound the result is within rounding of the exact one, past the flush point."""
    from golu_mm.ops.golu import largest_beta
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    bound = largest_beta(compute)
    with pytest.raises(ValueError, match=f'beta=.*too large for {compute}'):
        impl(torch.tensor([90.0], dtype=dtype), 1.0, bound * 1.01, 1.0)
    with pytest.raises(ValueError, match='beta=.*too large'):
        torch.ops.golu_mm.golu(torch.tensor([90.0], dtype=dtype), 1.0, bound * 1.01, 1.0)
    if dtype == torch.float32:
        with pytest.raises(ValueError, match='beta=3e[+]38'):
            impl(torch.tensor([90.0]), 1.0, 3e38, 1.0)
    beta = bound * 0.99
    flush = -reference.FLUSHED_BELOW[dtype]
    x = torch.tensor([flush - 1, flush + 0.5, flush + 3, flush + 20], dtype=dtype, requires_grad=True)
    y = impl(x, 1.0, beta, 1.0)
    y.sum().backward()
    xd = x.detach().double()
    u = torch.exp(-xd) if dtype == torch.float32 else torch.tensor([math.exp(-v) for v in xd.tolist()], dtype=torch.float64)
    e = torch.exp(-beta * u)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(y.detach().double(), xd * e, rtol=2 * eps, atol=0)
    torch.testing.assert_close(x.grad.double(), e * (1 + beta * xd * u), rtol=2 * eps, atol=0)


def test_slope_term_does_not_overflow_where_golu_prime_is_finite(impl):
    """float32, alpha=1e10, beta=2e28: alpha*beta*gamma * x overflows at x = 100 although
    GoLU'(100) = 1e10 (x * u is formed first); the reference gave inf before."""
    x = torch.tensor([95.0, 100.0], requires_grad=True)
    impl(x, 1e10, 2e28, 1.0).sum().backward()
    xd = x.detach().double()
    u = torch.exp(-xd)
    exact = 1e10 * torch.exp(-2e28 * u) * (1 + 2e28 * xd * u)
    torch.testing.assert_close(x.grad.double(), exact, rtol=2 * torch.finfo(torch.float32).eps, atol=0)


def _refusal(call):
    """None when call() is accepted, else the checked quantity its ValueError names."""
    try:
        call()
    except ValueError as exc:
        message = str(exc).splitlines()[0]
        return message.split('golu: ', 1)[1].split('=')[0].split(' must')[0]
    return None


@pytest.mark.skipif(EXTENSION_ERROR is not None, reason=f'no compiled operator: {EXTENSION_ERROR}')
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_the_operator_and_the_reference_paths_checks_agree_on_every_parameter(dtype):
    """The checks are the C++ operator's (csrc/golu.cpp); golu.check_params mirrors them for the
    paths where the operator does not run (the reference, inductor's decomposition). Over a grid
    around every bound, both accept the same parameters and refuse the rest for the same reason
    (torch.ops.golu_mm.golu(x, 1e38, 1, 1) returned inf where golu() refused)."""
    from golu_mm.ops.golu import check_params, largest_alpha, largest_beta
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    info = torch.finfo(compute)
    values = [0.0, info.tiny / 2, info.tiny, 1e-30, 0.5, 1.0, 3.0, 1e30, info.max, math.inf,
              -1.0, math.nan, largest_beta(compute) * 0.99, largest_beta(compute) * 1.01]
    cases = [(a, b, g) for a in values for b in values for g in (0.0, 1e-30, 1.0, 7.0, info.max)]
    for beta, gamma in [(1.0, 1.0), (0.01, 3.0), (largest_beta(compute) * 0.9, 1e-3)]:
        bound = largest_alpha(beta, gamma, compute)
        cases += [(bound * 0.999, beta, gamma), (bound * 1.001, beta, gamma)]
    x = torch.ones(1, dtype=dtype)
    disagree = []
    for params in cases:
        python = _refusal(lambda: check_params(*params, dtype))
        operator = _refusal(lambda: torch.ops.golu_mm.golu(x, *params))
        if python != operator:
            disagree.append((params, python, operator))
    assert not disagree, disagree[:5]
    refused = {_refusal(lambda: check_params(*params, dtype)) for params in cases}
    assert refused >= {None, 'alpha', 'beta', 'alpha*beta*gamma'}, refused
