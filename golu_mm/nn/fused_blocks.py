"""ResNet blocks whose BN → GoLU pairs, and the last BN + identity → GoLU, run as fused
norm_golu nodes: a GoLU ResNet then saves for backward what an in-place ReLU one does. One mixin
for the blocks of mmdet, mmseg, mmpretrain (conv1/norm1, ...) and torchvision (conv1/bn1, ...);
blocks with plugins or drop path, and non-fusable norms/activations, run their own forward."""
from typing import Dict

import torch.utils.checkpoint as cp
from torch import Tensor, nn

from .norm_golu import fusable, norm_golu

__all__ = ['FusedBlockMixin', 'fused_block', 'fuse_resnet_blocks']


class FusedBlockMixin:
    """Mixed in before a BasicBlock/Bottleneck class; ``fuse_bn_golu = False`` turns it off."""

    fuse_bn_golu = True

    def _conv_norm_pairs(self):
        names = ('1', '2', '3') if hasattr(self, 'conv3') else ('1', '2')
        norm = 'norm' if hasattr(self, 'norm1') else 'bn'
        return [(getattr(self, 'conv' + n), getattr(self, norm + n)) for n in names]

    def _fused_here(self, x: Tensor) -> bool:
        plain = not getattr(self, 'with_plugins', False) and isinstance(
            getattr(self, 'drop_path', nn.Identity()), nn.Identity)
        return (self.fuse_bn_golu and plain
                and all(fusable(norm, self.relu, x) for _, norm in self._conv_norm_pairs()))

    def forward(self, x: Tensor) -> Tensor:
        if not self._fused_here(x):
            return super().forward(x)

        def fused(x):
            *inner, (last_conv, last_norm) = self._conv_norm_pairs()
            out = x
            for conv, norm in inner:
                out = norm_golu(norm, self.relu, conv(out))
            identity, identity_norm = _identity(self.downsample, x)
            return norm_golu(last_norm, self.relu, last_conv(out), identity, identity_norm)

        if getattr(self, 'with_cp', False) and x.requires_grad:
            return cp.checkpoint(fused, x, use_reentrant=False)
        return fused(x)


def _identity(downsample, x: Tensor):
    """The identity branch as (input, BatchNorm or None): a downsample Sequential ending in a
    BatchNorm hands that norm to the fused node, which then saves its input, not its output."""
    if downsample is None:
        return x, None
    if (isinstance(downsample, nn.Sequential) and len(downsample) > 1
            and isinstance(downsample[-1], nn.modules.batchnorm._BatchNorm)):
        return downsample[:-1](x), downsample[-1]
    return downsample(x), None


_FUSED: Dict[type, type] = {}


def fused_block(block: type) -> type:
    """The FusedBlockMixin subclass of a block class (one per class, named Act<Block>)."""
    if block not in _FUSED:
        name = f'Act{block.__name__}'
        _FUSED[block] = type(name, (FusedBlockMixin, block), {
            '__module__': __name__, '__qualname__': name,
            '__doc__': f'{block.__module__}.{block.__name__} with BN → GoLU fused.'})
    return _FUSED[block]


def fuse_resnet_blocks(model: nn.Module) -> int:
    """Make every torchvision-style residual block in `model` (conv1, bn1, relu, downsample) a
    fused one, in place (parameters and state_dict keys unchanged); returns how many. For
    models built elsewhere, such as torchvision's; golu_mm's Act* backbones are built fused."""
    count = 0
    for module in model.modules():
        if (not isinstance(module, FusedBlockMixin) and hasattr(module, 'downsample')
                and hasattr(module, 'conv1') and hasattr(module, 'relu')
                and (hasattr(module, 'bn1') or hasattr(module, 'norm1'))):
            module.__class__ = fused_block(type(module))
            count += 1
    return count
