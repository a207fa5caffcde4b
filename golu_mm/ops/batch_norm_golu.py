"""batch_norm_golu(): GoLU(batch_norm(x) + residual) as one autograd node that saves only what
batch norm saves anyway (its input and per-channel statistics; the residual where there is one)
and recomputes the normalized value in backward, with golu()'s numerics. The elementwise work is
the fused operator torch.ops.golu_mm.batch_norm_golu (csrc/batch_norm_golu.cpp); batch
statistics are computed here (and all-reduced over a process group for SyncBatchNorm)."""
from typing import NamedTuple, Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from . import reference, torch_compat
from .extension import has_backend, load_error
from .golu import SUPPORTED_DTYPES, _check_input, check_params, golu

__all__ = ['batch_norm_golu', 'BatchNormArgs', 'fused_available']


class BatchNormArgs(NamedTuple):
    """A batch norm's buffers, parameters and constants, as F.batch_norm takes them."""
    running_mean: Optional[Tensor]
    running_var: Optional[Tensor]
    weight: Optional[Tensor] = None
    bias: Optional[Tensor] = None
    momentum: float = 0.1
    eps: float = 1e-5


def fused_available(x: Tensor) -> bool:
    """Whether the fused operator has a kernel for x's device (else callers compose torch ops)."""
    return has_backend(x.device.type)


def batch_norm_golu(x: Tensor, norm: BatchNormArgs, training: bool = False,
                    residual: Optional[Tensor] = None,
                    residual_norm: Optional[BatchNormArgs] = None, alpha: float = 1.0,
                    beta: float = 1.0, gamma: float = 1.0, process_group=None) -> Tensor:
    """GoLU(bn(x) + r) for x of shape (N, C, *), where bn is F.batch_norm(x, *norm, training)
    and r is the residual, or bn_r(residual) with its own batch norm `residual_norm` (a ResNet's
    downsample branch: then its input is saved instead of its output). F.batch_norm's semantics:
    in training, batch statistics and an in-place update of the running ones. With a process
    group of more than one process, the statistics and the backward's sums are all-reduced, as
    SyncBatchNorm does (the weight and bias gradients stay this process's, for DDP to reduce).
    alpha, beta, gamma must be positive. No double backward."""
    _check_input(x)
    check_params(alpha, beta, gamma, x.dtype)
    return _batch_norm_golu(x, norm, training, residual, residual_norm, float(alpha),
                            float(beta), float(gamma), process_group)


def _batch_norm_golu(x, norm, training, residual, residual_norm, alpha, beta, gamma,
                     process_group):
    """batch_norm_golu after the checks of x and the parameters (norm_golu's GoLU module has
    made those)."""
    if not (alpha > 0 and beta > 0 and gamma > 0):
        raise ValueError(f'batch_norm_golu: alpha, beta and gamma must be positive (GoLU is linear '
                         f'otherwise), got {alpha}, {beta}, {gamma}')
    if x.dim() < 2:
        raise ValueError(f'batch_norm_golu: x must have shape (N, C, *), got {tuple(x.shape)}')
    for name, args in (('norm', norm), ('residual_norm', residual_norm)):
        if args is not None and not training and (args.running_mean is None
                                                  or args.running_var is None):
            raise ValueError(f'batch_norm_golu: {name} needs running_mean and running_var when '
                             'not training')
        if args is not None and training and not args.eps > 0:
            raise ValueError(f'batch_norm_golu: {name} eps must be positive in training (as '
                             f'torch\'s batch norm requires: a constant channel has variance 0), '
                             f'got {args.eps}')
    if residual is not None and (residual.shape != x.shape or residual.dtype != x.dtype):
        raise ValueError(f'batch_norm_golu: residual must match x (shape {tuple(x.shape)}, '
                         f'{x.dtype}), got shape {tuple(residual.shape)}, {residual.dtype}')
    if residual_norm is not None and residual is None:
        raise ValueError('batch_norm_golu: residual_norm without a residual')
    if process_group is not None and dist.get_world_size(process_group) == 1:
        process_group = None
    if x.numel() == 0:  # torch's batch norm: an empty result, the running statistics kept
        return _composed(x, norm, training, residual, residual_norm, alpha, beta, gamma)
    r_norm = residual_norm or BatchNormArgs(None, None)
    return _BatchNormGoLU.apply(x, norm.weight, norm.bias, residual, r_norm.weight, r_norm.bias,
                                norm, residual_norm, training, (alpha, beta, gamma),
                                process_group)


def _composed(x, norm, training, residual, residual_norm, alpha, beta, gamma) -> Tensor:
    """The same function from torch's batch norm and golu (for what the fused node leaves to
    torch: empty batches)."""
    def bn(t, args):
        return F.batch_norm(t, args.running_mean, args.running_var, args.weight, args.bias,
                            training, args.momentum, args.eps)
    z = bn(x, norm)
    if residual is not None:
        z = z + (residual if residual_norm is None else bn(residual, residual_norm))
    return golu(z, alpha, beta, gamma)


def _moments(x: Tensor, compute: torch.dtype, group):
    """Per-channel mean and (biased) variance over all but dim 1, and the element count; over
    the processes of `group` when given (the variance combined exactly from local moments)."""
    count = x.numel() // x.shape[1]
    if count * (1 if group is None else dist.get_world_size(group)) <= 1:
        raise ValueError(f'batch_norm_golu: expected more than 1 value per channel when training, '
                         f'got input shape {tuple(x.shape)}')
    if x.device.type == 'cpu':
        mean, var = torch.ops.golu_mm.channel_moments(x)
    else:
        var, mean = torch.var_mean(x.to(compute), dim=[0] + list(range(2, x.dim())), correction=0)
    if group is None:
        return mean, var, count
    counts = torch.tensor([float(count)], dtype=compute, device=x.device)
    dist.all_reduce(counts, group=group)
    total = counts.item()
    global_mean = mean * (count / total)
    dist.all_reduce(global_mean, group=group)
    centered = (var + (mean - global_mean) ** 2) * (count / total)
    dist.all_reduce(centered, group=group)
    return global_mean, centered, int(total)


def _batch_statistics(t: Tensor, args: BatchNormArgs, training: bool, group):
    """(mean, var, count) the batch norm normalizes t with; in training the batch's, with the
    running statistics updated in place as F.batch_norm does."""
    if not training:
        return args.running_mean, args.running_var, None
    mean, var, count = _moments(t, SUPPORTED_DTYPES[t.dtype], group)
    with torch.no_grad():
        if args.running_mean is not None:
            args.running_mean.mul_(1 - args.momentum).add_(mean.to(args.running_mean.dtype),
                                                           alpha=args.momentum)
        if args.running_var is not None:
            unbiased = var * (count / max(count - 1, 1))
            args.running_var.mul_(1 - args.momentum).add_(unbiased.to(args.running_var.dtype),
                                                          alpha=args.momentum)
    return mean, var, count


def _per_channel(t: Tensor, x: Tensor) -> Tensor:
    return t.view(-1, *([1] * (x.dim() - 2)))


def _through_batch_statistics(d: Tensor, t: Tensor, mean: Tensor, var: Tensor,
                              weight: Optional[Tensor], eps: float, sum_gz: Tensor,
                              sum_gz_hat: Tensor, count: int) -> Tensor:
    """The gradient reaching a batch norm's input t in training, from d = gz * scale (its part
    through the affine) and the sums over the batch of gz and gz * t_hat:
    d - scale/M * (sum_gz + t_hat * sum_gz_hat), written as d - (k * (t - mean) + c) per channel
    (centred first, by a float64 mean in two parts as the kernels do: k * t - k * mean would
    lose the spread of t where the mean is large)."""
    invstd = torch.rsqrt(var + eps)
    scale = invstd if weight is None else weight.to(invstd.dtype) * invstd
    # in the compute type (a half-type d: one float32 temporary, rounded once into d)
    compute = SUPPORTED_DTYPES[t.dtype]
    k = (scale * invstd * sum_gz_hat / count).to(compute)
    c = (scale * sum_gz / count).to(compute)
    center = mean.to(compute)
    centred = t.to(compute) - _per_channel(center, t)
    if mean.dtype == torch.float64 and compute != torch.float64:
        centred -= _per_channel((mean - center.double()).to(compute), t)
    out = d.to(compute).addcmul_(centred, _per_channel(-k, t)).sub_(_per_channel(c, t))
    return out if out.dtype == d.dtype else d.copy_(out)


class _BatchNormGoLU(torch.autograd.Function):
    """Saves the inputs (x, residual) and the per-channel statistics; recomputes the rest."""

    @staticmethod
    def forward(ctx, x, weight, bias, residual, r_weight, r_bias, norm, residual_norm, training,
                params, group):
        mean, var, count = _batch_statistics(x, norm, training, group)
        r_mean = r_var = None
        if residual_norm is not None:
            r_mean, r_var, _ = _batch_statistics(residual, residual_norm, training, group)
        ctx.eps = (norm.eps, residual_norm.eps if residual_norm is not None else 1e-5)
        ctx.save_for_backward(x, residual, mean, var, weight, bias, r_mean, r_var, r_weight,
                              r_bias)
        ctx.count, ctx.training, ctx.params, ctx.group = count, training, params, group
        return torch.ops.golu_mm.batch_norm_golu(x, mean, var, weight, bias, norm.eps, residual,
                                                 r_mean, r_var, r_weight, r_bias, ctx.eps[1],
                                                 *params)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, residual, mean, var, weight, bias, r_mean, r_var, r_weight, r_bias = ctx.saved_tensors
        needs = ctx.needs_input_grad
        dx, dr, sums = torch.ops.golu_mm.batch_norm_golu_backward(
            grad, x, mean, var, weight, bias, ctx.eps[0], residual, r_mean, r_var, r_weight,
            r_bias, ctx.eps[1], *ctx.params, residual_grad=needs[3])
        # sums: gz, gz * x_hat, gz * residual_hat summed over this process's batch: the bias,
        # weight and residual weight gradients (DDP reduces them, as for SyncBatchNorm); the
        # inputs' gradients through batch statistics use the sums over the group.
        total = sums
        if ctx.training and ctx.group is not None:
            total = sums.clone()
            dist.all_reduce(total, group=ctx.group)
        if ctx.training and needs[0]:
            dx = _through_batch_statistics(dx, x, mean, var, weight, ctx.eps[0], total[0],
                                           total[1], ctx.count)
        if ctx.training and needs[3] and r_mean is not None:
            dr = _through_batch_statistics(dr, residual, r_mean, r_var, r_weight, ctx.eps[1],
                                           total[0], total[2], ctx.count)
        # Each parameter gets a tensor of its own (copy=True): the bias and the residual bias
        # share sums[0], and views of one buffer would let an in-place op on one parameter's
        # .grad (clipping, accumulation) reach another's.
        param_grads = {}
        for i, param, row in ((1, weight, 1), (2, bias, 0), (4, r_weight, 2), (5, r_bias, 0)):
            if needs[i]:
                param_grads[i] = sums[row].to(param.dtype, copy=True)
        return (dx if needs[0] else None, param_grads.get(1), param_grads.get(2),
                dr if needs[3] else None, param_grads.get(4), param_grads.get(5),
                None, None, None, None, None)


def _register_operator() -> None:
    """Fake kernels for torch.compile / torch.export, and batch_norm_golu's decomposition into
    standard operators (through golu's reference) for torch.onnx's exporter."""
    @torch_compat.register_decomposition(torch.ops.golu_mm.batch_norm_golu.default)
    def _batch_norm_golu_decomposition(x, mean, var, weight, bias, eps, residual=None,
                                       residual_mean=None, residual_var=None,
                                       residual_weight=None, residual_bias=None,
                                       residual_eps=1e-5, alpha=1.0, beta=1.0, gamma=1.0):
        compute = SUPPORTED_DTYPES[x.dtype]

        def normalized(t, mean, var, weight, bias, eps):
            out = (t.to(compute) - _per_channel(mean.to(compute), t)) * _per_channel(
                torch.rsqrt(var.to(compute) + eps), t)
            if weight is not None:
                out = out * _per_channel(weight.to(compute), t)
            return out if bias is None else out + _per_channel(bias.to(compute), t)
        z = normalized(x, mean, var, weight, bias, eps)
        if residual is not None:
            z = z + (residual.to(compute) if residual_mean is None else normalized(
                residual, residual_mean, residual_var, residual_weight, residual_bias,
                residual_eps))
        return reference.golu_forward(z, alpha, beta, gamma).to(x.dtype)

    @torch_compat.register_fake('golu_mm::channel_moments')
    def _channel_moments_fake(x):  # float64 whatever x is
        return (x.new_empty(x.shape[1], dtype=torch.float64),
                x.new_empty(x.shape[1], dtype=torch.float64))

    @torch_compat.register_fake('golu_mm::batch_norm_golu')
    def _batch_norm_golu_fake(x, *args, **kwargs):
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    @torch_compat.register_fake('golu_mm::batch_norm_golu_backward')
    def _batch_norm_golu_backward_fake(grad, x, mean, var, weight, bias, eps, residual=None,
                                       residual_mean=None, residual_var=None,
                                       residual_weight=None, residual_bias=None,
                                       residual_eps=1e-5, alpha=1.0, beta=1.0, gamma=1.0,
                                       residual_grad=False):
        dense = torch.empty_like(x, memory_format=torch.contiguous_format)
        dr = torch.empty_like(dense) if residual_grad else x.new_empty(0)
        return dense, dr, x.new_empty(3, x.shape[1], dtype=SUPPORTED_DTYPES[x.dtype])


if load_error() is None:
    _register_operator()
