"""ResNet blocks whose BN → GoLU pairs, and the last BN + identity → GoLU, run as fused
norm_golu nodes: a GoLU ResNet then saves for backward what an in-place ReLU one does. One mixin
for the blocks of mmdet, mmseg, mmpretrain (conv1/norm1, ...) and torchvision (conv1/bn1, ...);
blocks with plugins or drop path, and non-fusable norms/activations, run their own forward."""
import contextlib
from typing import Dict, Iterator

import torch.utils.checkpoint as cp
from torch import Tensor, nn

from .golu import GoLU
from .norm_golu import fusable, norm_golu

__all__ = ['FusedBlockMixin', 'fuse_block', 'fuse_resnet', 'run_fused', 'unfused']


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


def run_fused(layers, x: Tensor) -> Tensor:
    """Run a sequence of modules (a ResNet stem), each BatchNorm → GoLU pair as one fused
    norm_golu node where `fusable`, every other module as it is."""
    layers = list(layers)
    i = 0
    while i < len(layers):
        if i + 1 < len(layers) and fusable(layers[i], layers[i + 1], x):
            x, i = norm_golu(layers[i], layers[i + 1], x), i + 2
        else:
            x, i = layers[i](x), i + 1
    return x


def _identity(downsample, x: Tensor):
    """The identity branch as (input, BatchNorm or None): a downsample Sequential ending in a
    BatchNorm hands that norm to the fused node, which then saves its input, not its output."""
    if downsample is None:
        return x, None
    if (isinstance(downsample, nn.Sequential) and len(downsample) > 1
            and isinstance(downsample[-1], nn.modules.batchnorm._BatchNorm)):
        return downsample[:-1](x), downsample[-1]
    return downsample(x), None


_SUBCLASSES: Dict[tuple, type] = {}


def _subclass(mixin: type, base: type, name: str) -> type:
    """type(name, (mixin, base)), made once per (mixin, base)."""
    if (mixin, base) not in _SUBCLASSES:
        _SUBCLASSES[mixin, base] = type(name, (mixin, base), {
            '__module__': __name__, '__qualname__': name,
            '__doc__': f'{base.__module__}.{base.__name__} with BN → GoLU fused.'})
    return _SUBCLASSES[mixin, base]


def fuse_block(block: nn.Module) -> bool:
    """Make a residual block whose activation is GoLU a fused one (its class becomes the
    FusedBlockMixin subclass Act<Block>, in place); whether it now is."""
    if not isinstance(block, FusedBlockMixin) and type(block.relu) is GoLU:
        block.__class__ = _subclass(FusedBlockMixin, type(block), f'Act{type(block).__name__}')
    return isinstance(block, FusedBlockMixin)


class _StemNormGoLU:
    """Mixed in before a stem's BatchNorm class: the BatchNorm followed by its `golu` (the
    stem's activation, moved here), fused where `fusable`."""

    fuse_bn_golu = True

    def forward(self, x: Tensor) -> Tensor:
        if self.fuse_bn_golu and fusable(self, self.golu, x):
            return norm_golu(self, self.golu, x)
        return self.golu(super().forward(x))


def fuse_resnet(model: nn.Module) -> int:
    """BN → GoLU fused in place in every torchvision-style ResNet part of `model` (for models
    built elsewhere, such as torchvision's, after their ReLUs were swapped for GoLU; golu_mm's
    Act* backbones are built fused): each residual block (conv1, bn1, relu, downsample) with a
    GoLU becomes a FusedBlockMixin subclass, and a stem's bn1 → GoLU (beside a maxpool) a
    BatchNorm that applies the GoLU itself, its relu slot an nn.Identity. Parameters and
    state_dict keys are unchanged. Returns how many blocks and stems were newly fused."""
    count = 0
    for module in list(model.modules()):
        if isinstance(module, FusedBlockMixin) or not hasattr(module, 'conv1'):
            continue
        if hasattr(module, 'downsample') and hasattr(module, 'relu'):
            count += fuse_block(module)
        elif (hasattr(module, 'maxpool') and isinstance(getattr(module, 'relu', None), GoLU)
              and isinstance(getattr(module, 'bn1', None), nn.modules.batchnorm._BatchNorm)):
            stem_norm = module.bn1
            stem_norm.__class__ = _subclass(_StemNormGoLU, type(stem_norm),
                                            f'GoLU{type(stem_norm).__name__}')
            stem_norm.golu, module.relu = module.relu, nn.Identity()
            count += 1
    return count


@contextlib.contextmanager
def unfused(model: nn.Module) -> Iterator[nn.Module]:
    """Within it, every fused part of `model` (Act* backbones, fuse_resnet) runs its modules one
    after the other, so that forward hooks on the activation modules see every call."""
    switched = [(m, m.__dict__.get('fuse_bn_golu')) for m in model.modules()
                if hasattr(m, 'fuse_bn_golu')]
    for module, _ in switched:
        module.fuse_bn_golu = False
    try:
        yield model
    finally:
        for module, own in switched:
            if own is None:
                del module.fuse_bn_golu  # back to the class's default
            else:
                module.fuse_bn_golu = own
