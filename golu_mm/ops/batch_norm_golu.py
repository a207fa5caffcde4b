"""batch_norm_golu(): GoLU(batch_norm(x) + residual) as one autograd node that saves only what
batch norm saves anyway (its input and per-channel statistics; the residual where there is one)
and recomputes the normalized value in backward, with golu()'s numerics. The elementwise work is
the fused operator torch.ops.golu_mm.affine_golu (csrc/affine_golu.cpp); batch statistics are
computed here (and all-reduced over a process group for SyncBatchNorm)."""
from typing import NamedTuple, Optional

import torch
import torch.distributed as dist
from torch import Tensor

from . import reference
from .extension import backends, load_error
from .golu import SUPPORTED_DTYPES, _check_input, check_params

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
    return load_error() is None and backends().get(x.device.type, False)


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
    if residual is not None and (residual.shape != x.shape or residual.dtype != x.dtype):
        raise ValueError(f'batch_norm_golu: residual must match x (shape {tuple(x.shape)}, '
                         f'{x.dtype}), got shape {tuple(residual.shape)}, {residual.dtype}')
    if residual_norm is not None and residual is None:
        raise ValueError('batch_norm_golu: residual_norm without a residual')
    if process_group is not None and dist.get_world_size(process_group) == 1:
        process_group = None
    r_norm = residual_norm or BatchNormArgs(None, None)
    return _BatchNormGoLU.apply(x, norm.weight, norm.bias, residual, r_norm.weight, r_norm.bias,
                                norm, residual_norm, training,
                                (float(alpha), float(beta), float(gamma)), process_group)


def _batch_stats(x: Tensor, compute: torch.dtype, group):
    """Per-channel mean and (biased) variance over all but dim 1, and the element count; over
    the processes of `group` when given (the variance combined exactly from local moments)."""
    count = x.numel() // x.shape[1]
    if count * (1 if group is None else dist.get_world_size(group)) <= 1:
        raise ValueError(f'batch_norm_golu: expected more than 1 value per channel when training, '
                         f'got input shape {tuple(x.shape)}')
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


class _Normalized(NamedTuple):
    """A batch norm as a per-channel affine: bn(t) = t * scale + shift."""
    scale: Tensor
    shift: Tensor
    mean: Tensor
    invstd: Tensor
    count: Optional[int]


def _normalize(t: Tensor, args: BatchNormArgs, training: bool, group) -> _Normalized:
    compute = SUPPORTED_DTYPES[t.dtype]
    count = None
    if training:
        mean, var, count = _batch_stats(t, compute, group)
        with torch.no_grad():
            if args.running_mean is not None:
                args.running_mean.mul_(1 - args.momentum).add_(
                    mean.to(args.running_mean.dtype), alpha=args.momentum)
            if args.running_var is not None:
                unbiased = var * (count / max(count - 1, 1))
                args.running_var.mul_(1 - args.momentum).add_(
                    unbiased.to(args.running_var.dtype), alpha=args.momentum)
    else:  # a copy: the buffer may change before backward
        mean, var = args.running_mean.to(compute, copy=True), args.running_var.to(compute)
    invstd = torch.rsqrt(var + args.eps)
    scale = invstd if args.weight is None else args.weight.to(compute) * invstd
    shift = -mean * scale if args.bias is None else args.bias.to(compute) - mean * scale
    return _Normalized(scale, shift, mean, invstd, count)


def _per_channel(t: Tensor, x: Tensor) -> Tensor:
    return t.view(-1, *([1] * (x.dim() - 2)))


def _through_norm(d: Tensor, t: Tensor, n: _Normalized, sum_gz: Tensor, sum_gz_centered: Tensor,
                  training: bool) -> Tensor:
    """The gradient reaching a batch norm's input t, from d = gz * scale (the affine part): in
    training also through the batch statistics, d - scale/M * (sum_gz + invstd^2 * (t - mean) *
    sum_gz_centered), written as d - (k * t + c) per channel."""
    if not training:
        return d
    k = n.scale * n.invstd * n.invstd * sum_gz_centered / n.count
    c = n.scale * sum_gz / n.count - k * n.mean
    return d.sub_((t * _per_channel(k, t)).add_(_per_channel(c, t)).to(d.dtype))


class _BatchNormGoLU(torch.autograd.Function):
    """Saves the inputs (x, residual) and per-channel tensors; recomputes the rest."""

    @staticmethod
    def forward(ctx, x, weight, bias, residual, r_weight, r_bias, norm, residual_norm, training,
                params, group):
        n = _normalize(x, norm, training, group)
        shift, r_scale, r = n.shift, None, None
        if residual_norm is not None:
            r = _normalize(residual, residual_norm, training, group)
            shift, r_scale = n.shift + r.shift, r.scale
        out = torch.ops.golu_mm.affine_golu(x, n.scale, shift, residual, r_scale, *params)
        ctx.save_for_backward(x, residual, shift, *n[:4], *(r[:4] if r is not None else ()))
        ctx.count, ctx.training, ctx.params, ctx.group = n.count, training, params, group
        ctx.dtypes = [None if p is None else p.dtype for p in (weight, bias, r_weight, r_bias)]
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, residual, shift, *saved = ctx.saved_tensors
        n = _Normalized(*saved[:4], ctx.count)
        r = _Normalized(*saved[4:], ctx.count) if len(saved) > 4 else None
        needs = ctx.needs_input_grad
        dx, dr, sums = torch.ops.golu_mm.affine_golu_backward(
            grad, x, n.scale, shift, n.mean, residual, None if r is None else r.scale,
            None if r is None else r.mean, *ctx.params, residual_grad=needs[3])
        # Parameter gradients from this process's sums (DDP reduces them, as for SyncBatchNorm);
        # input gradients through the batch statistics from the sums over the group.
        total = sums
        if ctx.training and ctx.group is not None:
            total = sums.clone()
            dist.all_reduce(total, group=ctx.group)
        sum_gz, sum_gz_x, sum_gz_r = sums
        grads = [_through_norm(dx, x, n, total[0], total[1], ctx.training) if needs[0] else None,
                 n.invstd * sum_gz_x if needs[1] else None, sum_gz if needs[2] else None,
                 None, None, None]
        if needs[3]:
            grads[3] = dr if r is None else _through_norm(dr, residual, r, total[0], total[2],
                                                          ctx.training)
        if r is not None:
            grads[4] = r.invstd * sum_gz_r if needs[4] else None
            grads[5] = sum_gz if needs[5] else None
        for i, dtype in zip((1, 2, 4, 5), ctx.dtypes):
            if grads[i] is not None:
                grads[i] = grads[i].to(dtype)
        return (*grads, None, None, None, None, None)


def _register_operator() -> None:
    """Fake kernels for torch.compile / torch.export, and affine_golu's decomposition into
    standard operators (through golu's reference) for torch.onnx's exporter."""
    from torch._decomp import register_decomposition

    @register_decomposition(torch.ops.golu_mm.affine_golu.default)
    def _affine_golu_decomposition(x, scale, shift, residual=None, residual_scale=None,
                                   alpha=1.0, beta=1.0, gamma=1.0):
        z = x.to(scale.dtype) * _per_channel(scale, x) + _per_channel(shift, x)
        if residual is not None:
            r = residual.to(scale.dtype)
            z = z + (r if residual_scale is None else r * _per_channel(residual_scale, x))
        return reference.golu_forward(z, alpha, beta, gamma).to(x.dtype)

    @torch.library.register_fake('golu_mm::affine_golu')
    def _affine_golu_fake(x, scale, shift, residual=None, residual_scale=None, alpha=1.0,
                          beta=1.0, gamma=1.0):
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    @torch.library.register_fake('golu_mm::affine_golu_backward')
    def _affine_golu_backward_fake(grad, x, scale, shift, center, residual=None,
                                   residual_scale=None, residual_center=None, alpha=1.0,
                                   beta=1.0, gamma=1.0, residual_grad=False):
        dense = torch.empty_like(x, memory_format=torch.contiguous_format)
        dr = torch.empty_like(dense) if residual_grad else x.new_empty(0)
        return dense, dr, scale.new_empty(3, x.shape[1])


if load_error() is None:
    _register_operator()
