"""torchvision's ResNet parts with BN → GoLU fused (golu_mm.nn.fuse_resnet puts them in a model).
Needs torchvision: imported only by fuse_resnet."""
from collections import OrderedDict
from typing import Dict

import torch
from torch import Tensor
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from .fused_blocks import FusedBlockMixin, fused_steps, run_fused

__all__ = ['FusedBasicBlock', 'FusedBottleneck', 'FusedResNet', 'FusedIntermediateLayerGetter',
           'FUSED']


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
