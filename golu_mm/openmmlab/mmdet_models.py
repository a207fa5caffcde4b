"""mmdet models with a configurable activation, registered in mmdet's MODELS registry.

Backbones (ActResNet, ActResNetV1d, ActResNeXt) use act_cfg in the stem and every block, their
blocks the Fused* classes below (BN → GoLU fused when the activation is GoLU); the heads
(ActRPNHead, ActShared2FCBBoxHead, ActFCNMaskHead, ActRetinaHead) are for the "whole model"
setting. With the default act_cfg (ReLU) each behaves exactly like its upstream class.
"""
from typing import Tuple

from mmcv.cnn import build_activation_layer
from mmdet.models.backbones import ResNet, ResNetV1d, ResNeXt
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck
from mmdet.models.backbones.resnext import Bottleneck as ResNeXtBottleneck
from mmdet.models.dense_heads import RetinaHead, RPNHead
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from mmdet.models.roi_heads.mask_heads import FCNMaskHead
from mmdet.registry import MODELS
from torch import Tensor

from ..nn.fused_blocks import FusedBlockMixin
from .act_cfg import RELU, ActCfgMixin, ResNetActCfgMixin
from .registration import register


class FusedBasicBlock(FusedBlockMixin, BasicBlock):
    """mmdet's BasicBlock with BN → GoLU fused (when its activation is GoLU)."""


class FusedBottleneck(FusedBlockMixin, Bottleneck):
    """mmdet's Bottleneck with BN → GoLU fused (when its activation is GoLU)."""


class FusedResNeXtBottleneck(FusedBlockMixin, ResNeXtBottleneck):
    """mmdet's ResNeXt Bottleneck with BN → GoLU fused (when its activation is GoLU)."""


FUSED_BLOCKS = {BasicBlock: FusedBasicBlock, Bottleneck: FusedBottleneck,
                ResNeXtBottleneck: FusedResNeXtBottleneck}


@register(MODELS)
class ActResNet(ResNetActCfgMixin, ResNet):
    """mmdet's ResNet with `act_cfg` in the stem and every block (ResNetActCfgMixin)."""

    fused_blocks = FUSED_BLOCKS


@register(MODELS)
class ActResNetV1d(ResNetActCfgMixin, ResNetV1d):
    """mmdet's ResNetV1d with `act_cfg` in the stem and every block (ResNetActCfgMixin)."""

    fused_blocks = FUSED_BLOCKS


@register(MODELS)
class ActResNeXt(ResNetActCfgMixin, ResNeXt):
    """mmdet's ResNeXt with `act_cfg` in the stem and every block (ResNetActCfgMixin)."""

    fused_blocks = FUSED_BLOCKS


@register(MODELS)
class ActRPNHead(ActCfgMixin, RPNHead):
    """RPNHead whose activation after the shared conv (upstream: a functional relu) is act_cfg."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rpn_act = build_activation_layer(
            dict(type='ReLU') if self.act_cfg == RELU else self.act_cfg)

    def forward_single(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        x = self.rpn_act(self.rpn_conv(x))
        return self.rpn_cls(x), self.rpn_reg(x)


@register(MODELS)
class ActShared2FCBBoxHead(ActCfgMixin, Shared2FCBBoxHead):
    """Shared2FCBBoxHead with `act_cfg` after its fully connected layers."""


@register(MODELS)
class ActFCNMaskHead(ActCfgMixin, FCNMaskHead):
    """FCNMaskHead with `act_cfg` in its convs and after the upsampling."""


@register(MODELS)
class ActRetinaHead(ActCfgMixin, RetinaHead):
    """RetinaHead with `act_cfg` in its classification and regression conv stacks."""
