"""mmseg backbones with a configurable activation, registered in mmseg's MODELS registry (mmseg's
decode heads already take act_cfg)."""
from mmseg.models.backbones import ResNet, ResNetV1c, ResNetV1d
from mmseg.models.backbones.resnet import BasicBlock, Bottleneck
from mmseg.registry import MODELS

from ..nn.fused_blocks import FusedBlockMixin
from .act_cfg import ResNetActCfgMixin
from .registration import register


class FusedBasicBlock(FusedBlockMixin, BasicBlock):
    """mmseg's BasicBlock with BN → GoLU fused (when its activation is GoLU)."""


class FusedBottleneck(FusedBlockMixin, Bottleneck):
    """mmseg's Bottleneck with BN → GoLU fused (when its activation is GoLU)."""


FUSED_BLOCKS = {BasicBlock: FusedBasicBlock, Bottleneck: FusedBottleneck}


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
