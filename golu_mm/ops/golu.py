"""golu(): the functional form of GoLU, backed by the torch.ops.golu_mm operators (fake kernels
and autograd registered here, so torch.compile traces it without graph breaks) or, where those are
unavailable, by the reference implementation with the same numerics."""
import math
import numbers

import torch
from torch import Tensor

from . import reference
from .extension import load_error, uses_extension

__all__ = ['golu', 'golu_reference', 'check_params']


def check_params(alpha, beta, gamma) -> None:
    """ValueError unless alpha, beta and gamma are finite, non-negative real numbers."""
    for name, value in zip(('alpha', 'beta', 'gamma'), (alpha, beta, gamma)):
        if type(value) is not float and (isinstance(value, bool)
                                         or not isinstance(value, numbers.Real)):
            raise TypeError(f'golu: {name} must be a real number, got {type(value).__name__}')
        if not 0 <= value < math.inf:  # also false for NaN
            raise ValueError(f'golu: {name} must be finite and non-negative, got {value}')


def _check_input(x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f'golu: expected a torch.Tensor, got {type(x).__name__}')
    if not x.is_floating_point():
        raise TypeError(f'golu: expected a floating-point tensor (float64/32/16, bfloat16), '
                        f'got {x.dtype}')


def golu(x: Tensor, alpha: float = 1.0, beta: float = 1.0, gamma: float = 1.0) -> Tensor:
    """GoLU(x) = x * alpha * exp(-beta * exp(-gamma * x)), elementwise.

    float16/bfloat16 are computed in float32 and rounded once. Finite inputs give finite outputs
    and gradients; NaN propagates; GoLU(-inf) = 0 with slope 0, GoLU(+inf) = +inf with slope alpha.
    The output has the input's layout (dense layouts such as channels_last are preserved).
    """
    _check_input(x)
    check_params(alpha, beta, gamma)
    alpha, beta, gamma = float(alpha), float(beta), float(gamma)
    if uses_extension(x.device.type):
        return torch.ops.golu_mm.golu(x, alpha, beta, gamma)
    return _ReferenceGoLU.apply(x, alpha, beta, gamma)


def golu_reference(x: Tensor, alpha: float = 1.0, beta: float = 1.0, gamma: float = 1.0) -> Tensor:
    """golu() through the pure-PyTorch reference, whatever is compiled (the fallback path)."""
    _check_input(x)
    check_params(alpha, beta, gamma)
    return _ReferenceGoLU.apply(x, float(alpha), float(beta), float(gamma))


class _ReferenceGoLU(torch.autograd.Function):
    """Autograd for the reference path; like the operator it saves only the input."""

    @staticmethod
    def forward(x, alpha, beta, gamma):
        return reference.golu_forward(x, alpha, beta, gamma)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.params = inputs[1:]

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        # Composed of differentiable torch ops, so double backward works too.
        return reference.golu_backward(grad, x, *ctx.params), None, None, None


def _register_operator() -> None:
    """Fake kernels for torch.ops.golu_mm.{golu,golu_backward}; autograd for golu_backward."""

    @torch.library.register_fake('golu_mm::golu')
    def _golu_fake(x, alpha=1.0, beta=1.0, gamma=1.0):
        _check_input(x)
        return torch.empty_like(x)

    @torch.library.register_fake('golu_mm::golu_backward')
    def _golu_backward_fake(grad, x, alpha=1.0, beta=1.0, gamma=1.0):
        _check_input(x)
        torch._check(grad.shape == x.shape, lambda: 'golu_backward: grad and input shapes differ')
        return torch.empty_like(x)

    def setup_golu_backward(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], inputs[1])
        ctx.params = inputs[2:]

    def golu_backward_grad(ctx, grad2):
        grad, x = ctx.saved_tensors
        d_grad = torch.ops.golu_mm.golu_backward(grad2, x, *ctx.params)
        d_x = grad2 * grad * reference.golu_second_derivative(x, *ctx.params)
        return d_grad, d_x, None, None, None

    # golu's autograd is in C++ (csrc/autograd.cpp); this one is golu_backward's (double backward).
    torch.library.register_autograd('golu_mm::golu_backward', golu_backward_grad,
                                    setup_context=setup_golu_backward)


if load_error() is None:
    _register_operator()
