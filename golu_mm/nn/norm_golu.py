"""norm_golu(): a BatchNorm module followed by a GoLU module (after an optional residual
addition, the residual optionally through its own BatchNorm), run as one fused batch_norm_golu
node where that is possible: the building block of the Act* ResNets' memory parity with
in-place ReLU."""
from typing import Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ..ops.batch_norm_golu import BatchNormArgs, _batch_norm_golu, fused_available
from ..ops.golu import SUPPORTED_DTYPES
from ..ops.torch_compat import is_compiling
from .golu import GoLU

__all__ = ['norm_golu', 'fusable']


def fusable(norm: nn.Module, act: nn.Module, x: Tensor) -> bool:
    """Whether norm → act on x runs fused: norm a torch BatchNorm (SyncBatchNorm included), act
    a GoLU with positive parameters, x contiguous (NCHW: the kernels' layout; channels_last
    would be copied twice per step) and not empty, the fused operator built for x's device, and neither
    TorchScript/ONNX tracing (which records golu's reference instead) nor torch.compile (whose
    inductor fuses BN → GoLU itself: golu.py's decompositions; measured faster there)."""
    return (isinstance(norm, nn.modules.batchnorm._BatchNorm) and type(act) is GoLU
            and act.alpha > 0 and act.beta > 0 and act.gamma > 0 and x.dim() >= 2
            and x.dtype in SUPPORTED_DTYPES and x.is_contiguous() and x.numel() > 0
            and not torch.jit.is_tracing()
            and not is_compiling() and fused_available(x))


def _uses_batch_stats(norm: nn.Module) -> bool:
    return norm.training or (norm.running_mean is None and norm.running_var is None)


def _bn_args(norm: nn.Module) -> Tuple[BatchNormArgs, object]:
    """What norm's forward would pass to F.batch_norm (counting the batch as its forward does),
    and the process group of a SyncBatchNorm that syncs (else None)."""
    factor = 0.0 if norm.momentum is None else norm.momentum
    if norm.training and norm.track_running_stats and norm.num_batches_tracked is not None:
        norm.num_batches_tracked.add_(1)
        if norm.momentum is None:  # cumulative moving average
            factor = 1.0 / float(norm.num_batches_tracked)
    keep = not norm.training or norm.track_running_stats
    group = None
    # SyncBatchNorm syncs batch statistics in training only: in eval mode (no running statistics)
    # each process normalises its own batch, as torch's forward does.
    if (norm.training and isinstance(norm, nn.SyncBatchNorm) and dist.is_available()
            and dist.is_initialized()):
        group = norm.process_group or dist.group.WORLD
    args = BatchNormArgs(norm.running_mean if keep else None, norm.running_var if keep else None,
                         norm.weight, norm.bias, factor, norm.eps)
    return args, group


def norm_golu(norm: nn.Module, act: nn.Module, x: Tensor, residual: Optional[Tensor] = None,
              residual_norm: Optional[nn.Module] = None) -> Tensor:
    """act(norm(x) + r), r = residual_norm(residual) (or the residual itself, or nothing): one
    batch_norm_golu node, saving the norms' inputs and not their outputs, when `fusable`; else
    the modules as they are. The BatchNorms' running statistics, momentum and
    num_batches_tracked behave as in their forward."""
    if not fusable(norm, act, x):
        y = norm(x)
        if residual is not None:
            y = y + (residual if residual_norm is None else residual_norm(residual))
        return act(y)
    if residual_norm is not None and not (
            fusable(residual_norm, act, residual)
            and _uses_batch_stats(residual_norm) == _uses_batch_stats(norm)
            and type(residual_norm) is type(norm)):
        residual, residual_norm = residual_norm(residual), None
    args, group = _bn_args(norm)
    r_args = _bn_args(residual_norm)[0] if residual_norm is not None else None
    return _batch_norm_golu(x, args, _uses_batch_stats(norm), residual, r_args, act.alpha,
                            act.beta, act.gamma, group)
