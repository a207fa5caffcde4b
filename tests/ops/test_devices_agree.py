"""The CPU kernels against the paths that keep subnormal exp(-gamma*x): the CUDA kernels (on a
GPU, and here through the CUDA emulation, tests/ops/cuda_emulation) and the reference, with the
remaining legitimate differences stated:
- GoLU and GoLU': each path is within K * (1 + beta*u) ulp of the exact value (test_accuracy.py:
  K = 6 for float32, 2 for float64), so two paths are within twice that of each other; the size
  of a sum is that of its summands (GoLU' and GoLU'' cross zero);
- GoLU'' (double backward) where gamma*x is past the CPU's flush point (reference.FLUSHED_BELOW):
  the CPU gives 0, the others the tiny true value, at most alpha*gamma*eps/2 for any allowed beta
  (golu.largest_beta), so an absolute alpha*gamma*eps on top."""
import pytest
import torch

from golu_mm.ops import reference

from .conftest import EXTENSION_ERROR

K = {torch.float32: 6, torch.float64: 2}
PARAMS = [(1.0, 1.0, 1.0), (1.5, 0.5, 2.0), (0.7, 1e4, 1.0), (2.0, 1e28, 1.0)]
OPS = ('golu', 'golu_backward', 'golu_second')


def other_path(name, op, *args):
    """(grad *) GoLU / GoLU' / GoLU'' from the named path, on the CPU."""
    if name == 'cuda':
        return getattr(torch.ops.golu_mm, op)(*(a.cuda() if torch.is_tensor(a) else a
                                                for a in args)).cpu()
    if name == 'emulated':
        from .cuda_emulation import EmulatedCuda, build
        tensors, params = [a for a in args if torch.is_tensor(a)], args[-3:]
        return EmulatedCuda(build()).golu(OPS.index(op), *tensors, params=params)
    if op == 'golu':
        return reference.golu_forward(*args)
    if op == 'golu_backward':
        return reference.golu_backward(*args)
    grad, x, *params = args
    return grad * reference.golu_second_derivative(x, *params)


def assert_agree(cpu, other, grad, x, params):
    """cpu and other: {op: result} of GoLU (no grad), grad * GoLU', grad * GoLU'' at x; within
    the differences the module docstring states."""
    alpha, beta, gamma = params
    dtype = x.dtype
    eps, tiny = torch.finfo(dtype).eps, torch.finfo(dtype).tiny
    xd, gd = x.double(), grad.double().abs()
    u = torch.exp(-gamma * xd)
    e = torch.exp(-beta * u)
    bound = 2 * K[dtype] * eps * (1 + beta * u)
    # the size of each result's summands; inf * 0 in a bound (x -> -inf) means 0
    scales = {'golu': other['golu'].double().abs(),
              'golu_backward': gd * e * (alpha + alpha * beta * gamma * (xd * u).abs()),
              'golu_second': gd * alpha * beta * gamma * u * e * (2 + gamma * xd.abs() * (beta * u + 1))}
    flushed = gamma * xd > -reference.FLUSHED_BELOW[dtype]
    for op in OPS:
        diff = (cpu[op].double() - other[op].double()).abs()
        allowed = torch.nan_to_num(bound * scales[op], nan=0.0) + tiny
        if op == 'golu_second':
            allowed = allowed + flushed * alpha * gamma * eps * gd
        assert not other[op].isnan().any() or torch.equal(other[op].isnan(), x.isnan()), op
        assert (diff <= allowed).all(), (op, diff.max().item())


def cpu_results(grad, x, params):
    return {op: getattr(torch.ops.golu_mm, op)(*((x,) if op == 'golu' else (grad, x)), *params)
            for op in OPS}


@pytest.mark.parametrize('path', ['reference', 'emulated',
                                  pytest.param('cuda', marks=pytest.mark.cuda)])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('params', PARAMS)
def test_cpu_kernels_agree_within_the_stated_differences(path, dtype, params):
    assert EXTENSION_ERROR is None, EXTENSION_ERROR
    if dtype == torch.float64 and params[1] > 1e20:
        params = (params[0], 1e280, params[2])  # the float64 counterpart of a beta near float32's bound
    x = torch.cat([torch.linspace(-30, 30, 2001), torch.linspace(30, 800, 771),
                   torch.tensor([-1e4, 1e4, 86.0, 87.0, 90.0, 100.0, 707.0, 709.0])]).to(dtype)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(0)).to(dtype)
    cpu = cpu_results(grad, x, params)
    other = {op: other_path(path, op, *((x,) if op == 'golu' else (grad, x)), *params)
             for op in OPS}
    assert_agree(cpu, other, grad, x, params)
    flushed = params[2] * x.double() > -reference.FLUSHED_BELOW[dtype]
    assert (cpu['golu_second'][flushed] == 0).all()  # what the stated difference is about
