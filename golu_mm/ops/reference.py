"""GoLU in plain PyTorch: the fallback when the compiled operator is unavailable, and the oracle
the kernels are tested against. Same numerics as csrc/golu_math.h: float16/bfloat16 are computed
in float32 and rounded once; no NaN from finite inputs; NaN in, NaN out."""
import math

import torch
from torch import Tensor

__all__ = ['golu_forward', 'golu_derivative', 'golu_backward', 'golu_second_derivative']


def _widened(x: Tensor) -> Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _in_compute_type(xw: Tensor, *params: float):
    """The parameters rounded to the compute type, as the kernels see them."""
    if xw.dtype == torch.float64:
        return params
    return torch.tensor(params, dtype=xw.dtype).tolist()


def _is_linear(beta: float, gamma: float) -> bool:
    """With beta == 0 or gamma == 0 the gate is the constant alpha * exp(-beta)."""
    return beta == 0 or gamma == 0


def _gate(x: Tensor, beta: float, gamma: float):
    """u = exp(-gamma*x) and e = exp(-beta*u); the gate is alpha * e."""
    u = torch.exp(-gamma * x)
    return u, torch.exp(-beta * u)


def _keep_nan(x: Tensor, y: Tensor) -> Tensor:
    return torch.where(torch.isnan(x), x, y)


def _zero_where(mask: Tensor, y: Tensor) -> Tensor:
    return torch.where(mask, torch.zeros_like(y), y)


def golu_forward(x: Tensor, alpha: float = 1.0, beta: float = 1.0, gamma: float = 1.0) -> Tensor:
    """GoLU(x) = x * alpha * exp(-beta * exp(-gamma * x)); 0 where the gate is 0 (x -> -inf)."""
    xw = _widened(x)
    alpha, beta, gamma = _in_compute_type(xw, alpha, beta, gamma)
    if _is_linear(beta, gamma):
        g = torch.full_like(xw, alpha * math.exp(-beta))
    else:
        g = alpha * _gate(xw, beta, gamma)[1]
    return _keep_nan(xw, _zero_where(g == 0, xw * g)).to(x.dtype)


def golu_derivative(x: Tensor, alpha: float = 1.0, beta: float = 1.0, gamma: float = 1.0) -> Tensor:
    """GoLU'(x) = e * (alpha + alpha*beta*gamma * x * u), computed in float32 for half types."""
    xw = _widened(x)
    alpha, beta, gamma = _in_compute_type(xw, alpha, beta, gamma)
    if _is_linear(beta, gamma):
        return _keep_nan(xw, torch.full_like(xw, alpha * math.exp(-beta)))
    u, e = _gate(xw, beta, gamma)
    slope = _zero_where(u == 0, alpha * beta * gamma * xw * u)
    return _keep_nan(xw, _zero_where(e == 0, e * (alpha + slope)))


def golu_backward(grad: Tensor, x: Tensor, alpha: float = 1.0, beta: float = 1.0,
                  gamma: float = 1.0) -> Tensor:
    """grad * GoLU'(x), rounded once to x's dtype."""
    if grad.device != x.device:
        raise RuntimeError(f'golu_backward: grad is on {grad.device} but input is on {x.device}')
    return (_widened(grad) * golu_derivative(x, alpha, beta, gamma)).to(x.dtype)


def golu_second_derivative(x: Tensor, alpha: float = 1.0, beta: float = 1.0,
                           gamma: float = 1.0) -> Tensor:
    """GoLU''(x) = alpha*beta*gamma * u*e * (2 + gamma*x * (beta*u - 1)); for double backward."""
    xw = _widened(x)
    alpha, beta, gamma = _in_compute_type(xw, alpha, beta, gamma)
    if _is_linear(beta, gamma):
        return _keep_nan(xw, torch.zeros_like(xw)).to(x.dtype)
    u, e = _gate(xw, beta, gamma)
    w = _zero_where(e == 0, u * e)
    result = _zero_where(w == 0, alpha * beta * gamma * w * (2 + gamma * xw * (beta * u - 1)))
    return _keep_nan(xw, result).to(x.dtype)
