"""torchvision's ResNet parts with BN → GoLU fused, and fuse_resnet, which puts them in a model.
Needs torchvision: golu_mm.nn imports it only when fuse_resnet is asked for."""
from collections import OrderedDict
from typing import Dict

import torch
from torch import Tensor, nn
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from .fused_blocks import FusedBlockMixin, fused_steps, rebuilt_as, run_fused
from .golu import GoLU

__all__ = ['FusedBasicBlock', 'FusedBottleneck', 'FusedResNet', 'FusedIntermediateLayerGetter',
           'FUSED', 'fuse_resnet']


class FusedBasicBlock(FusedBlockMixin, BasicBlock):
    """torchvision's BasicBlock with BN → GoLU fused."""


class FusedBottleneck(FusedBlockMixin, Bottleneck):
    """torchvision's Bottleneck with BN → GoLU fused."""


class FusedStemMixin:
    """Mixed in before a module whose forward runs a ResNet stem (conv1, bn1, relu): bn1 → relu
    runs fused when relu is a GoLU; ``fuse_bn_golu = False`` runs upstream's forward."""

    fuse_bn_golu = True

    def extra_repr(self) -> str:
        return f'fuse_bn_golu={self.fuse_bn_golu}: stem bn1 → relu'


class FusedResNet(FusedStemMixin, ResNet):
    """torchvision's ResNet with its stem's BN → GoLU fused; the blocks decide for themselves."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.fuse_bn_golu:
            return super().forward(x)
        x = self.maxpool(run_fused((self.conv1, self.bn1, self.relu), x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class FusedIntermediateLayerGetter(FusedStemMixin, IntermediateLayerGetter):
    """The ResNet body of torchvision's detection and segmentation backbones, stem fused."""

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        if not self.fuse_bn_golu:
            return super().forward(x)
        out = OrderedDict()
        for name, x in fused_steps(self.items(), x, keep=self.return_layers):
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out


FUSED = {BasicBlock: FusedBasicBlock, Bottleneck: FusedBottleneck, ResNet: FusedResNet,
         IntermediateLayerGetter: FusedIntermediateLayerGetter}


def fuse_resnet(model: nn.Module) -> nn.Module:
    """torchvision ResNets in `model` with BN → GoLU fused, after their ReLUs were swapped for
    GoLU (golu_mm's Act* backbones are built fused): each BasicBlock/Bottleneck whose `relu` is
    a GoLU is replaced by its fused class (below), and so is a ResNet,
    or the IntermediateLayerGetter body of a detection/segmentation model, whose stem `relu` is
    a GoLU. Parameters, state_dict keys and modules stay where they were. Like
    nn.SyncBatchNorm.convert_sync_batchnorm, returns the model to use: `model` itself, or its
    replacement when `model` is one of those parts."""
    def fused(module):
        cls = FUSED.get(type(module))
        golu = type(getattr(module, 'relu', None)) is GoLU
        return rebuilt_as(cls, module) if cls and golu else module

    for parent in reversed(list(model.modules())):  # children before their parents
        for name, child in list(parent.named_children()):
            parent._modules[name] = fused(child)
    return fused(model)
