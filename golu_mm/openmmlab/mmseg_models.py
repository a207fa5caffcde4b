"""mmseg backbones with a configurable activation, registered in mmseg's MODELS registry (mmseg's
decode heads already take act_cfg): the ResNets and ResNeXt fused (ResNetActCfgMixin), the other
backbones that hard-code ReLU (ResNeSt, HRNet, MobileNetV3) unfused (docs/backbones.md)."""
from mmseg.models.backbones import (HRNet, MobileNetV3, ResNeSt, ResNet, ResNetV1c,
                                    ResNetV1d, ResNeXt)
from mmseg.models.backbones.resnet import BasicBlock, Bottleneck
from mmseg.models.backbones.resnext import Bottleneck as ResNeXtBottleneck
from mmseg.registry import MODELS

from ..nn.fused_blocks import FusedBlockMixin
from .act_cfg import ActCfgMixin, ResNetActCfgMixin
from .registration import register
from .safe_load import allow_mmengine_checkpoints


class FusedBasicBlock(FusedBlockMixin, BasicBlock):
    """mmseg's BasicBlock with BN → GoLU fused (when its activation is GoLU)."""


class FusedBottleneck(FusedBlockMixin, Bottleneck):
    """mmseg's Bottleneck with BN → GoLU fused (when its activation is GoLU)."""


class FusedResNeXtBottleneck(FusedBlockMixin, ResNeXtBottleneck):
    """mmseg's ResNeXt Bottleneck with BN → GoLU fused (when its activation is GoLU)."""


FUSED_BLOCKS = {BasicBlock: FusedBasicBlock, Bottleneck: FusedBottleneck,
                ResNeXtBottleneck: FusedResNeXtBottleneck}


@register(MODELS)
class ActResNet(ResNetActCfgMixin, ResNet):
    """mmseg's ResNet with `act_cfg` in the stem and every block (ResNetActCfgMixin)."""

    fused_blocks = FUSED_BLOCKS


@register(MODELS)
class ActResNetV1c(ResNetActCfgMixin, ResNetV1c):
    """mmseg's ResNetV1c (DeepLabV3's backbone) with `act_cfg` in the stem and every block."""

    fused_blocks = FUSED_BLOCKS


@register(MODELS)
class ActResNetV1d(ResNetActCfgMixin, ResNetV1d):
    """mmseg's ResNetV1d with `act_cfg` in the stem and every block (ResNetActCfgMixin)."""

    fused_blocks = FUSED_BLOCKS


# Backbones that hard-code nn.ReLU, given act_cfg at every own activation; with the default
# act_cfg each is its upstream class exactly. ActResNeXt's blocks are ResNet's, so it runs BN ->
# GoLU fused (ResNetActCfgMixin); the others are not fused (ActCfgMixin).


@register(MODELS)
class ActResNeXt(ResNetActCfgMixin, ResNeXt):
    """mmseg's ResNeXt with `act_cfg` in the stem and every block (ResNetActCfgMixin)."""

    fused_blocks = FUSED_BLOCKS


@register(MODELS)
class ActResNeSt(ActCfgMixin, ResNeSt):
    """mmseg's ResNeSt with `act_cfg` in the deep stem, every block and its split-attention conv
    (whose one ReLU module upstream serves both the conv path and the attention MLP)."""


@register(MODELS)
class ActHRNet(ActCfgMixin, HRNet):
    """mmseg's HRNet with `act_cfg` in the stem, every block and the fuse layers."""


@register(MODELS)
class ActMobileNetV3(ActCfgMixin, MobileNetV3):
    """mmseg's MobileNetV3 with `act_cfg` in place of its ReLUs (the early layers of its
    architecture table); its HSwish layers and the ReLUs of its SE gates stay as upstream."""


allow_mmengine_checkpoints()  # configs import this module: upstream's tools load safely too
