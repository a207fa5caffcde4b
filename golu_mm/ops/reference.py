"""GoLU in plain PyTorch: the fallback when the compiled operator is unavailable, and the oracle
the kernels are tested against. Same numerics as csrc/golu_math.h: float16/bfloat16 are computed
in float32 and rounded once; no NaN from finite inputs; NaN in, NaN out."""
import math
import re
import struct
from pathlib import Path

import torch
from torch import Tensor

__all__ = ['golu_forward', 'golu_backward', 'golu_second_derivative', 'golu_gate']


def _widened(x: Tensor) -> Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _in_compute_type(xw: Tensor, *params: float):
    """The parameters rounded to the compute type (float32 or float64), as the kernels see them;
    in plain Python, so that tracing (torch.export, ONNX) sees constants."""
    if xw.dtype == torch.float64:
        return params
    return tuple(_float32(p) for p in params)


def _float32(value: float) -> float:
    return struct.unpack('f', struct.pack('f', value))[0]


def _exact(xw: Tensor, value: float):
    """`value` for arithmetic with xw: the Python float, or for float64 a tensor built from
    float32-exact pieces (torch.onnx's exporter stores scalar constants through float32):
    value = (m1 + m2 + m3) * 2^e, each factor exact in float32."""
    if xw.dtype != torch.float64:
        return value
    mantissa, exponent = math.frexp(value)
    pieces = []
    for _ in range(3):
        pieces.append(_float32(mantissa))
        mantissa -= pieces[-1]
    const = sum(torch.full((), p, dtype=torch.float64, device=xw.device) for p in pieces)
    while exponent:
        step = max(-100, min(100, exponent))
        const, exponent = const * 2.0 ** step, exponent - step
    return const


def _is_linear(alpha: float, beta: float, gamma: float) -> bool:
    """With alpha, beta or gamma 0 the gate is the constant alpha * exp(-beta)."""
    return alpha == 0 or beta == 0 or gamma == 0


def _gate(x: Tensor, beta: float, gamma: float):
    """u = exp(-gamma*x) and e = exp(-beta*u); the gate is alpha * e."""
    u = torch.exp(-gamma * x)
    return u, torch.exp(-beta * u)


def golu_gate(x: Tensor, alpha: float = 1.0, beta: float = 1.0, gamma: float = 1.0) -> Tensor:
    """The gate g(x) = alpha * exp(-beta * exp(-gamma * x)), GoLU(x) = x * g(x) (for plots)."""
    return alpha * _gate(_widened(x), beta, gamma)[1]


def _keep_nan(x: Tensor, y: Tensor) -> Tensor:
    return torch.where(torch.isnan(x), x, y)


def _zero_where(mask: Tensor, y: Tensor) -> Tensor:
    return torch.where(mask, torch.zeros_like(y), y)


def _kernel_constants() -> dict:
    """The `constexpr double kName = value;` lines of golu_mm/include/golu_mm/constants.h, the
    thresholds the kernels are compiled with."""
    text = (Path(__file__).resolve().parents[1] / 'include' / 'golu_mm' / 'constants.h').read_text()
    return {name: float(value) for name, value in
            re.findall(r'^constexpr double (k\w+) = (-?[0-9.]+);', text, flags=re.MULTILINE)}


_CONSTANTS = _kernel_constants()
# Below these t, a * exp(t) is 0, as in the kernels.
ZERO_BELOW = {torch.float32: _CONSTANTS['kZeroBelowF32'], torch.float64: _CONSTANTS['kZeroBelowF64']}
# Below these t the CPU kernels take exp(t) as 0: u = exp(-gamma*x) is never subnormal there; CUDA
# and this file keep it.
FLUSHED_BELOW = {torch.float32: _CONSTANTS['kFlushedBelowF32'],
                 torch.float64: _CONSTANTS['kFlushedBelowF64']}


def _times_exp(a: Tensor, t: Tensor) -> Tensor:
    """a * exp(t) as the kernels compute it: where exp(t) alone is below the normal range, in the
    log domain (rounding exp(t) first would lose the product's digits); 0 far below, even for
    infinite a (GoLU's limit at x = -inf); NaN a stays NaN."""
    e = torch.exp(t)
    magnitude = torch.exp(t + torch.log(a.abs()))
    scaled = torch.where(a < 0, -magnitude, magnitude)  # not copysign: ONNX has no such op
    y = torch.where(e < _exact(t, torch.finfo(t.dtype).tiny), scaled, a * e)
    return torch.where((t < ZERO_BELOW[t.dtype]) & ~torch.isnan(a), torch.zeros_like(y), y)


def _slope(xw: Tensor, u: Tensor, alpha: float, beta: float, gamma: float) -> Tensor:
    """alpha + alpha*beta*gamma * x * u, the second term dropped where u is 0 (x -> +inf) and
    where the gate is 0 (x -> -inf, where x * u may overflow): a zero grad then gives 0."""
    gate_zero = -beta * u < ZERO_BELOW[xw.dtype]
    # x * u first, as the kernels: for x > 0 it is bounded where alpha*beta*gamma * x may overflow
    return alpha + _zero_where((u == 0) | gate_zero, alpha * beta * gamma * (xw * u))


def golu_forward(x: Tensor, alpha: float = 1.0, beta: float = 1.0, gamma: float = 1.0) -> Tensor:
    """GoLU(x) = (alpha * x) * exp(-beta * exp(-gamma * x)); 0 where the gate is 0 (x -> -inf)."""
    xw = _widened(x)
    alpha, beta, gamma = _in_compute_type(xw, alpha, beta, gamma)
    if _is_linear(alpha, beta, gamma):
        c = alpha * math.exp(-beta)
        # 0 * inf is 0 here: GoLU is then 0
        y = xw * _exact(xw, c) if c != 0 else torch.zeros_like(xw)
    else:
        a, b, g = (_exact(xw, p) for p in (alpha, beta, gamma))
        y = _times_exp(a * xw, -b * torch.exp(-g * xw))
    return _keep_nan(xw, y).to(x.dtype)


def golu_backward(grad: Tensor, x: Tensor, alpha: float = 1.0, beta: float = 1.0,
                  gamma: float = 1.0) -> Tensor:
    """grad * GoLU'(x), GoLU'(x) = (alpha + alpha*beta*gamma * x * u) * e, with grad folded into
    the product with e as in the kernels; computed in float32 for half types, rounded once."""
    if grad.device != x.device:
        raise RuntimeError(f'golu_backward: grad is on {grad.device} but input is on {x.device}')
    xw, gw = _widened(x), _widened(grad)
    alpha, beta, gamma = _in_compute_type(xw, alpha, beta, gamma)
    if _is_linear(alpha, beta, gamma):
        dx = gw * _keep_nan(xw, torch.full_like(xw, alpha * math.exp(-beta)))
    else:
        u = torch.exp(-gamma * xw)
        dx = _keep_nan(xw, _times_exp(gw * _slope(xw, u, alpha, beta, gamma), -beta * u))
    return dx.to(x.dtype)


def golu_second_derivative(x: Tensor, alpha: float = 1.0, beta: float = 1.0,
                           gamma: float = 1.0) -> Tensor:
    """GoLU''(x) = alpha*beta*gamma * u * (2 + gamma*x * (beta*u - 1)) * e; for double backward."""
    xw = _widened(x)
    alpha, beta, gamma = _in_compute_type(xw, alpha, beta, gamma)
    if _is_linear(alpha, beta, gamma):
        return _keep_nan(xw, torch.zeros_like(xw)).to(x.dtype)
    u = torch.exp(-gamma * xw)
    t = -beta * u
    factor = alpha * beta * gamma * u * (2 + gamma * xw * (beta * u - 1))
    # as golu_backward: dropped where u is 0 and where the gate is 0 (it may overflow there), and
    # multiplied by e in the log domain where e alone would underflow
    factor = _zero_where((u == 0) | (t < ZERO_BELOW[xw.dtype]), factor)
    return _keep_nan(xw, _times_exp(factor, t)).to(x.dtype)
