"""ResNet blocks whose BN → GoLU pairs, and the last BN + identity → GoLU, run as fused
norm_golu nodes: a GoLU ResNet then saves for backward what an in-place ReLU one does. One mixin
for the blocks of mmdet, mmseg, mmpretrain (conv1/norm1, ...) and torchvision (conv1/bn1, ...),
mixed into explicit Fused* classes (golu_mm.openmmlab's *_models, nn.torchvision_blocks); blocks
with plugins or drop path, and non-fusable norms/activations, run their own forward."""
import contextlib
from typing import Iterator, Tuple

import torch.utils.checkpoint as cp
from torch import Tensor, nn

from .norm_golu import fusable, norm_golu

__all__ = ['FusedBlockMixin', 'fused_steps', 'rebuilt_as', 'run_fused', 'unfused']


class FusedBlockMixin:
    """Mixed in before a BasicBlock/Bottleneck class (the Fused* classes): its forward runs the
    block's BN → relu pairs fused when relu is a GoLU; ``fuse_bn_golu = False`` turns it off."""

    fuse_bn_golu = True

    def _conv_norm_pairs(self):
        names = ('1', '2', '3') if hasattr(self, 'conv3') else ('1', '2')
        norm = 'norm' if hasattr(self, 'norm1') else 'bn'
        return [(getattr(self, 'conv' + n), getattr(self, norm + n)) for n in names]

    def extra_repr(self) -> str:
        """What runs fused, e.g. 'fuse_bn_golu=True: bn1 → relu, bn2 + downsample → relu'
        (with 'inactive' while `relu` is not a GoLU); print(model) shows it."""
        names = {id(module): name for name, module in self.named_children()}
        *inner, last = [names[id(norm)] for _, norm in self._conv_norm_pairs()]
        residual = 'identity' if self.downsample is None else 'downsample'
        pairs = [f'{n} → relu' for n in inner] + [f'{last} + {residual} → relu']
        relu = type(self.relu).__name__
        state = '' if relu == 'GoLU' else f' (inactive: relu is {relu})'
        return f'fuse_bn_golu={self.fuse_bn_golu}{state}: ' + ', '.join(pairs)

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


def fused_steps(named_layers, x: Tensor, keep=()) -> Iterator[Tuple[str, Tensor]]:
    """Run (name, module) pairs in order (a ResNet stem), each BatchNorm → GoLU pair as one
    fused norm_golu node where `fusable` unless the BatchNorm's output is wanted (its name in
    `keep`); yields (name, output) after each step, a fused pair's under the GoLU's name."""
    layers = list(named_layers)
    i = 0
    while i < len(layers):
        (name, module), following = layers[i], layers[i + 1] if i + 1 < len(layers) else None
        if following and name not in keep and fusable(module, following[1], x):
            name, x, i = following[0], norm_golu(module, following[1], x), i + 2
        else:
            x, i = module(x), i + 1
        yield name, x


def run_fused(layers, x: Tensor) -> Tensor:
    """The output of a sequence of modules run by `fused_steps`."""
    for _, x in fused_steps(enumerate(layers), x):
        pass
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


def rebuilt_as(cls: type, module: nn.Module) -> nn.Module:
    """A new `cls` instance (cls a subclass of type(module)) holding module's parameters,
    buffers, submodules and hooks: the same tensors, so state_dict keys and an optimizer built
    before are unchanged. `module` itself is left as it was."""
    if not issubclass(cls, type(module)):
        raise TypeError(f'{cls.__name__} is not a subclass of {type(module).__name__}')
    new = cls.__new__(cls)
    new.__dict__.update({k: v.copy() if isinstance(v, dict) else v
                         for k, v in module.__dict__.items()})
    return new


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
