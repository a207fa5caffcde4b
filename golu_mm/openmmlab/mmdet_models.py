"""mmdet models with a configurable activation, registered in mmdet's MODELS registry.

Backbones (ActResNet, ActResNetV1d, ActResNeXt) use act_cfg in the stem and every block, their
blocks the Fused* classes below (BN → GoLU fused when the activation is GoLU); the other
backbones that hard-code ReLU (ActRegNet, ActResNeSt, ActRes2Net, ActDetectoRS_ResNet/ResNeXt,
ActTridentResNet, ActHRNet, ActHourglassNet, ActSSDVGG) take it at every own activation,
unfused (docs/backbones.md); the heads
(ActRPNHead, ActShared2FCBBoxHead, ActFCNMaskHead, ActRetinaHead) are for the "whole model"
setting. With the default act_cfg (ReLU) each behaves exactly like its upstream class.
"""
from typing import Tuple

from mmcv.cnn import build_activation_layer
from mmdet.models.backbones import (SSDVGG, HourglassNet, HRNet, RegNet, Res2Net, ResNeSt,
                                    ResNet, ResNetV1d, ResNeXt)
from mmdet.models.backbones.detectors_resnet import DetectoRS_ResNet
from mmdet.models.backbones.detectors_resnext import DetectoRS_ResNeXt
from mmdet.models.backbones.trident_resnet import TridentResNet
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
from .safe_load import allow_mmengine_checkpoints


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


# Backbones that hard-code nn.ReLU, given act_cfg at every own activation (ActCfgMixin); with the
# default act_cfg each is its upstream class exactly. Not fused (their blocks are not ResNet's).


@register(MODELS)
class ActRegNet(ActCfgMixin, RegNet):
    """mmdet's RegNet with `act_cfg` in the stem and every block."""


@register(MODELS)
class ActResNeSt(ActCfgMixin, ResNeSt):
    """mmdet's ResNeSt with `act_cfg` in the deep stem, every block and its split-attention conv
    (whose one ReLU module upstream serves both the conv path and the attention MLP)."""


@register(MODELS)
class ActRes2Net(ActCfgMixin, Res2Net):
    """mmdet's Res2Net with `act_cfg` in the deep stem and every Bottle2neck."""


@register(MODELS)
class ActDetectoRS_ResNet(ActCfgMixin, DetectoRS_ResNet):
    """mmdet's DetectoRS_ResNet with `act_cfg` in the stem and every block (its SAC and RFP
    modules have no activation of their own; plugins keep theirs)."""


@register(MODELS)
class ActDetectoRS_ResNeXt(ActCfgMixin, DetectoRS_ResNeXt):
    """mmdet's DetectoRS_ResNeXt with `act_cfg` in the stem and every block."""


@register(MODELS)
class ActTridentResNet(ActCfgMixin, TridentResNet):
    """mmdet's TridentResNet with `act_cfg` in the stem and every block, trident ones included."""


@register(MODELS)
class ActHRNet(ActCfgMixin, HRNet):
    """mmdet's HRNet with `act_cfg` in the stem, every block and the fuse layers."""


@register(MODELS)
class ActHourglassNet(ActCfgMixin, HourglassNet):
    """mmdet's HourglassNet with `act_cfg` in the stem's ConvModules, every block and between
    the stacks."""


@register(MODELS)
class ActSSDVGG(ActCfgMixin, SSDVGG):
    """mmdet's SSDVGG with `act_cfg` after every conv of the VGG body."""


allow_mmengine_checkpoints()  # configs import this module: upstream's tools load safely too
