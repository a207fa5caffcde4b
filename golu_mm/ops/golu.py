"""golu(): the functional form of GoLU, backed by the torch.ops.golu_mm operators (fake kernels,
autograd and vmap registered here, so torch.compile traces it without graph breaks) or, where
those are unavailable, by the reference implementation with the same numerics. Exporters see the
reference's standard operators: torch.onnx.export's default (dynamo) exporter through the
decomposition registered for golu_mm::golu, the TorchScript one by tracing the reference."""
import math
import numbers
from types import SimpleNamespace

import torch
from torch import Tensor

from . import reference, torch_compat
from .extension import load_error, uses_extension

__all__ = ['golu', 'golu_reference', 'check_params', 'SUPPORTED_DTYPES']

# The input dtypes golu computes, and the type it computes each in (half types widen to float32).
SUPPORTED_DTYPES = {torch.float64: torch.float64, torch.float32: torch.float32,
                    torch.float16: torch.float32, torch.bfloat16: torch.float32}


def check_params(alpha, beta, gamma, dtype=None) -> None:
    """TypeError unless alpha, beta and gamma are real numbers; ValueError unless they are finite
    and non-negative (what translating them to floats needs). With an input dtype, csrc/golu.cpp's
    checks, mirrored for where no C++ runs (tests/ops/test_errors.py holds the two equal):
    ValueError where a parameter or alpha*beta*gamma, when nonzero, is not a normal number of the
    compute type (for a float32 input, beta=1e39 would overflow to inf and 1e-300 would vanish),
    or beta exceeds largest_beta or alpha largest_alpha: the kernels could not keep their
    numerics, or the devices would disagree."""
    values = (('alpha', alpha), ('beta', beta), ('gamma', gamma))
    for name, value in values:
        if type(value) is not float and (isinstance(value, bool)
                                         or not isinstance(value, numbers.Real)):
            raise TypeError(f'golu: {name} must be a real number, got {type(value).__name__}')
        try:
            finite = 0 <= float(value) < math.inf  # also false for NaN
        except OverflowError:  # an int (or Fraction) beyond every float: 10**400
            finite = False
        if not finite:
            shown = str(value) if len(str(value)) <= 24 else f'{str(value)[:8]}... ' \
                f'({len(str(value))} digits, beyond every float)'
            raise ValueError(f'golu: {name} must be finite and non-negative, got {shown}')
    if dtype is None:
        return
    compute = SUPPORTED_DTYPES[dtype]
    info = torch.finfo(compute)
    alpha, beta, gamma = float(alpha), float(beta), float(gamma)
    product = alpha * beta * gamma
    checked = [(name, float(value), False) for name, value in values]
    checked.append(('alpha*beta*gamma', product, bool(alpha and beta and gamma)))  # 0: underflow
    for name, value, nonzero in checked:
        if (value != 0 or nonzero) and not info.tiny <= value <= info.max:
            raise ValueError(
                f'golu: {name}={float(value):g} is not representable in {compute}, the compute '
                f'type of a {dtype} input: nonzero parameters and their product must lie in '
                f'[{info.tiny:g}, {info.max:g}]')
    if product and beta > largest_beta(compute):
        raise ValueError(
            f'golu: beta={float(beta):g} is too large for {compute} (at most '
            f'{largest_beta(compute):g}): where exp(-gamma*x) falls below {compute}\'s normal '
            'range (the CPU kernels flush it to 0, CUDA keeps it), beta * exp(-gamma*x) would '
            'still change GoLU, so the devices would disagree')
    if product and alpha > largest_alpha(beta, gamma, compute):
        raise ValueError(
            f'golu: alpha={float(alpha):g} is too large for {compute} (at most '
            f'{largest_alpha(beta, gamma, compute):g} with beta={float(beta):g}, '
            f'gamma={float(gamma):g}): alpha * x, formed before the gate, would overflow where '
            'GoLU itself is finite')


def largest_beta(compute: torch.dtype) -> float:
    """The largest beta for which flushing u = exp(-gamma*x) to 0 below reference.FLUSHED_BELOW
    (the CPU kernels do, CUDA does not) moves GoLU and GoLU' by at most half an ulp: with
    s = gamma*x beyond the flush point S, beta*u and beta*s*u (the gate's and the slope's share)
    are at most beta * S*exp(-S)."""
    s = -reference.FLUSHED_BELOW[compute]
    return torch.finfo(compute).eps / 2 / (s * math.exp(-s))


def largest_alpha(beta: float, gamma: float, compute: torch.dtype) -> float:
    """The largest alpha for which alpha * x (the kernels form it before the gate) stays finite
    wherever it matters: for x from where the gate is flushed to 0 (the exponent below
    reference.ZERO_BELOW: the result is 0 whatever alpha * x is) up to where the gate rounds to
    1 (beyond, GoLU is alpha * x itself, overflowing exactly when alpha * x does)."""
    info = torch.finfo(compute)
    flushed = math.log(-reference.ZERO_BELOW[compute]) - math.log(beta)  # no overflow: beta tiny
    saturated = math.log(beta) + (2 - math.log2(info.eps)) * math.log(2)
    return info.max / max(flushed, saturated) * gamma


def _check_input(x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f'golu: expected a torch.Tensor, got {type(x).__name__}')
    if x.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f'golu: expected a floating-point tensor (float64/32/16, bfloat16), '
                        f'got {x.dtype}')
    if x.is_nested or x.layout != torch.strided:
        layout = 'nested' if x.is_nested else str(x.layout)
        raise TypeError(f'golu: expected a dense (strided) tensor, got a {layout} tensor; '
                        'apply golu to its values instead')


def _under_functorch() -> bool:
    """Whether a torch.func transform (grad, jvp, vmap, ...) is active: the operator's C++
    autograd does not support them, the Python autograd.Function below does."""
    return not torch_compat.is_compiling() and torch_compat.functorch_active()


def _exporting_onnx_by_tracing() -> bool:
    """Whether torch.onnx.export(..., dynamo=False) is tracing this call."""
    if not torch.jit.is_tracing():
        return False
    from torch.onnx import is_in_onnx_export
    return is_in_onnx_export()


def golu(x: Tensor, alpha: float = 1.0, beta: float = 1.0, gamma: float = 1.0) -> Tensor:
    """GoLU(x) = x * alpha * exp(-beta * exp(-gamma * x)), elementwise.

    float16/bfloat16 are computed in float32 and rounded once. Finite inputs give finite outputs
    and gradients (unless the exact value overflows the dtype); NaN propagates; GoLU(-inf) = 0
    with slope 0, GoLU(+inf) = +inf with slope alpha. The output has the input's layout (dense
    layouts such as channels_last are preserved). Works under torch.compile and torch.func.
    """
    _check_input(x)
    check_params(alpha, beta, gamma)  # types only: the values are checked where GoLU is computed
    alpha, beta, gamma = float(alpha), float(beta), float(gamma)
    if torch_compat.is_compiling():  # inductor may decompose the op: no C++ check would run
        check_params(alpha, beta, gamma, x.dtype)
        _let_inductor_fuse()
    if _exporting_onnx_by_tracing():
        check_params(alpha, beta, gamma, x.dtype)
        return reference.golu_forward(x, alpha, beta, gamma)
    if not uses_extension(x.device.type):
        return _reference_golu(x, alpha, beta, gamma)
    if _under_functorch():  # without the op's vmap rules (torch < 2.4): standard ops batch
        if not torch_compat.HAS_REGISTER_VMAP:
            return _reference_golu(x, alpha, beta, gamma)
        return _GoLUFunction.apply(x, alpha, beta, gamma, _OPERATOR)
    return torch.ops.golu_mm.golu(x, alpha, beta, gamma)  # checks the values (csrc/golu.cpp)


def _reference_golu(x: Tensor, alpha: float, beta: float, gamma: float) -> Tensor:
    check_params(alpha, beta, gamma, x.dtype)  # csrc/golu.cpp's checks, mirrored
    return _GoLUFunction.apply(x, alpha, beta, gamma, _REFERENCE)


def golu_reference(x: Tensor, alpha: float = 1.0, beta: float = 1.0, gamma: float = 1.0) -> Tensor:
    """golu() through the pure-PyTorch reference, whatever is compiled (the fallback path)."""
    _check_input(x)
    check_params(alpha, beta, gamma)
    return _reference_golu(x, float(alpha), float(beta), float(gamma))


# The two implementations of golu's forward and backward that _GoLUFunction can run.
_REFERENCE = SimpleNamespace(forward=reference.golu_forward, backward=reference.golu_backward)
_OPERATOR = SimpleNamespace(forward=lambda *args: torch.ops.golu_mm.golu(*args),
                            backward=lambda *args: _GoLUBackwardFunction.apply(*args))


class _GoLUFunction(torch.autograd.Function):
    """Autograd in Python: the reference path, and the operator under torch.func transforms.
    Like the operator's C++ autograd it saves only the input. Its backward is differentiable
    (double backward); jvp gives forward-mode AD; vmap runs the forward on batched tensors."""
    generate_vmap_rule = True

    @staticmethod
    def forward(x, alpha, beta, gamma, impl):
        return impl.forward(x, alpha, beta, gamma)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])
        ctx.params, ctx.impl = inputs[1:4], inputs[4]

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.impl.backward(grad, x, *ctx.params), None, None, None, None

    @staticmethod
    def jvp(ctx, x_tangent, *_):
        (x,) = ctx.saved_tensors
        return ctx.impl.backward(x_tangent, x, *ctx.params)  # GoLU'(x) * tangent


class _GoLUBackwardFunction(torch.autograd.Function):
    """golu_backward with Python autograd: the operator's backward under torch.func transforms,
    reverse mode (backward) and forward mode (jvp: hessian, jvp of grad)."""
    generate_vmap_rule = True

    @staticmethod
    def forward(grad, x, alpha, beta, gamma):
        return torch.ops.golu_mm.golu_backward(grad, x, alpha, beta, gamma)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], inputs[1])
        ctx.save_for_forward(inputs[0], inputs[1])
        ctx.params = inputs[2:]

    @staticmethod
    def jvp(ctx, grad_tangent, x_tangent, *_):
        """d(grad * GoLU'(x)) = grad_tangent * GoLU'(x) + grad * GoLU''(x) * x_tangent."""
        grad, x = ctx.saved_tensors
        terms = []
        if grad_tangent is not None:  # through this Function: the op's C++ autograd is not
            terms.append(_GoLUBackwardFunction.apply(grad_tangent, x, *ctx.params))  # torch.func's
        if x_tangent is not None:
            terms.append(torch.ops.golu_mm.golu_second(grad * x_tangent, x, *ctx.params))
        return sum(terms[1:], terms[0]) if terms else torch.zeros_like(x)

    @staticmethod
    def backward(ctx, grad2):
        grad, x = ctx.saved_tensors
        # d/dgrad = grad2 * GoLU'(x), d/dx = grad2 * grad * GoLU''(x)
        return (_GoLUBackwardFunction.apply(grad2, x, *ctx.params),
                torch.ops.golu_mm.golu_second(grad2 * grad, x, *ctx.params), None, None, None)


_INDUCTOR_DECOMPOSED = []


def _let_inductor_fuse() -> None:
    """Once, when torch.compile traces golu: decompositions of the operators into the reference's
    torch ops (the same numerics) in inductor's table, so that inductor fuses GoLU with its
    neighbours (a BatchNorm, a residual addition) as it fuses its own pointwise ops; other
    backends (aot_eager, export) still see the custom operators."""
    if _INDUCTOR_DECOMPOSED or load_error() is not None:
        return
    ops, register = torch.ops.golu_mm, torch_compat.register_inductor_decomposition
    register(ops.golu.default)(reference.golu_forward)
    register(ops.golu_backward.default)(reference.golu_backward)

    @register(ops.golu_second.default)
    def _golu_second(grad, x, alpha=1.0, beta=1.0, gamma=1.0):
        return (grad * reference.golu_second_derivative(x, alpha, beta, gamma)).to(x.dtype)
    _INDUCTOR_DECOMPOSED.append(True)


# Run by torch.compile's tracer as a plain call, its result a constant: traced, the registration
# would break the graph (fullgraph=True would fail).
torch_compat.mark_constant_result(_let_inductor_fuse)


def _register_operator() -> None:
    """Fake kernels and vmap rules for torch.ops.golu_mm.{golu,golu_backward,golu_second} (their
    autograd is C++: csrc/golu_autograd.cpp); golu's decomposition into standard operators (the
    reference), which torch.onnx's exporter applies."""
    torch_compat.register_decomposition(torch.ops.golu_mm.golu.default)(reference.golu_forward)

    @torch_compat.register_fake('golu_mm::golu')
    def _golu_fake(x, alpha=1.0, beta=1.0, gamma=1.0):
        _check_input(x)
        return torch.empty_like(x)

    def _derivative_fake(grad, x, alpha=1.0, beta=1.0, gamma=1.0):
        _check_input(x)
        torch._check(grad.shape == x.shape, lambda: 'golu_backward: grad and input shapes differ')
        return torch.empty_like(x)

    for name in ('golu_backward', 'golu_second'):  # grad * GoLU'(x), grad * GoLU''(x)
        torch_compat.register_fake(f'golu_mm::{name}')(_derivative_fake)

    if not torch_compat.HAS_REGISTER_VMAP:
        return
    # Elementwise ops: batched inputs are computed as they are, with the batch dimension in front.
    @torch_compat.register_vmap('golu_mm::golu')
    def _golu_vmap(info, in_dims, x, alpha=1.0, beta=1.0, gamma=1.0):
        return torch.ops.golu_mm.golu(x, alpha, beta, gamma), in_dims[0]

    def derivative_vmap(op):
        def vmap_rule(info, in_dims, grad, x, alpha=1.0, beta=1.0, gamma=1.0):
            grad, x = (_batch_first(t, d, info.batch_size) for t, d in zip((grad, x), in_dims))
            grad, x = torch.broadcast_tensors(grad, x)
            return op(grad, x, alpha, beta, gamma), 0
        return vmap_rule

    for name in ('golu_backward', 'golu_second'):
        torch_compat.register_vmap(f'golu_mm::{name}')(
            derivative_vmap(getattr(torch.ops.golu_mm, name)))


def _batch_first(t: Tensor, dim, size: int) -> Tensor:
    """t with its vmap batch dimension moved to the front (added, expanded, where it has none)."""
    return t.movedim(dim, 0) if dim is not None else t.expand(size, *t.shape)


golu = torch_compat.opaque_to_compile(golu)
golu_reference = torch_compat.opaque_to_compile(golu_reference)
if load_error() is None:
    _register_operator()
