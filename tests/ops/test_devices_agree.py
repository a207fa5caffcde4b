"""The CPU kernels against the paths that keep subnormal exp(-gamma*x) (the CUDA kernels, and the
reference, which runs here without a GPU), with the remaining legitimate differences stated:
- GoLU and GoLU': each path is within K * (1 + beta*u) ulp of the exact value (test_accuracy.py:
  K = 6 for float32, 2 for float64), so two paths are within twice that of each other;
  the size of a sum is that of its summands (GoLU' and GoLU'' cross zero);
- GoLU'' (double backward) where gamma*x is past the CPU's flush point (reference.FLUSHED_BELOW):
  the CPU gives 0, the others the tiny true value, at most alpha*gamma*eps/2 for any allowed beta
  (golu.largest_beta), so an absolute alpha*gamma*eps on top."""
import pytest
import torch

from golu_mm.ops import golu_reference, reference

from .conftest import EXTENSION_ERROR

K = {torch.float32: 6, torch.float64: 2}
PARAMS = [(1.0, 1.0, 1.0), (1.5, 0.5, 2.0), (0.7, 1e4, 1.0), (2.0, 1e28, 1.0)]


def other_path(name, op, *args):
    """(grad *) GoLU / GoLU' / GoLU'' from the named path, on the CPU."""
    if name == 'cuda':
        return getattr(torch.ops.golu_mm, op)(*(a.cuda() if torch.is_tensor(a) else a
                                                for a in args)).cpu()
    if op == 'golu':
        return reference.golu_forward(*args)
    if op == 'golu_backward':
        return reference.golu_backward(*args)
    grad, x, *params = args
    return grad * reference.golu_second_derivative(x, *params)


@pytest.mark.parametrize('path', ['reference', pytest.param('cuda', marks=pytest.mark.cuda)])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('params', PARAMS)
def test_cpu_kernels_agree_within_the_stated_differences(path, dtype, params):
    assert EXTENSION_ERROR is None, EXTENSION_ERROR
    alpha, beta, gamma = params
    if dtype == torch.float64 and beta > 1e20:
        beta = 1e280  # the float64 counterpart of a beta near float32's bound
    x = torch.cat([torch.linspace(-30, 30, 2001), torch.linspace(30, 800, 771),
                   torch.tensor([-1e4, 1e4, 86.0, 87.0, 90.0, 100.0, 707.0, 709.0])]).to(dtype)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(0)).to(dtype)
    eps, tiny = torch.finfo(dtype).eps, torch.finfo(dtype).tiny
    u = torch.exp(-gamma * x.double())
    bound = 2 * K[dtype] * eps * (1 + beta * u)
    cpu = {op: getattr(torch.ops.golu_mm, op)(*args, alpha, beta, gamma).double()
           for op, args in [('golu', (x,)), ('golu_backward', (grad, x)), ('golu_second', (grad, x))]}
    other = {op: other_path(path, op, *args, alpha, beta, gamma).double()
             for op, args in [('golu', (x,)), ('golu_backward', (grad, x)), ('golu_second', (grad, x))]}
    for op in ('golu', 'golu_backward'):
        scale = other[op].abs() if op == 'golu' else (  # GoLU' = e * (alpha + abg*x*u): its summands' size
            grad.double().abs() * torch.exp(-beta * u) * (alpha + alpha * beta * gamma * (x.double() * u).abs()))
        diff = (cpu[op] - other[op]).abs()  # inf * 0 in the bound (x -> -inf) means 0
        assert (diff <= torch.nan_to_num(bound * scale, nan=0.0) + tiny).all(), (op, diff.max())
    flushed = gamma * x.double() > -reference.FLUSHED_BELOW[dtype]
    diff = (cpu['golu_second'] - other['golu_second']).abs()
    xd, e = x.double(), torch.exp(-beta * u)  # GoLU'' = abg*u*e * (2 + gamma*x*(beta*u - 1)): its summands' size
    scale = grad.double().abs() * alpha * beta * gamma * u * e * (2 + gamma * xd.abs() * (beta * u + 1))
    allowed = torch.nan_to_num(bound * scale, nan=0.0) + tiny + flushed * alpha * gamma * eps * grad.double().abs()
    assert (diff <= allowed).all(), diff.max()
    assert (cpu['golu_second'][flushed] == 0).all()  # what the stated difference is about
