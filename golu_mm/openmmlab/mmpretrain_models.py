"""mmpretrain backbones with a configurable activation, registered in mmpretrain's MODELS registry:
the backbones of the activation-matched pretraining (configs/pretrain/). mmpretrain's blocks
already build ``act_cfg`` but its ResNet hard-codes the stem's ReLU and gives its blocks none;
its V1c/V1d deep stems are ConvModules (golu_mm.openmmlab.pretrained converts the keys)."""
from mmpretrain.models.backbones import ResNet, ResNetV1c, ResNetV1d
from mmpretrain.models.backbones.resnet import BasicBlock, Bottleneck
from mmpretrain.registry import MODELS

from ..nn.fused_blocks import FusedBlockMixin
from .act_cfg import ResNetActCfgMixin
from .registration import register


class FusedBasicBlock(FusedBlockMixin, BasicBlock):
    """mmpretrain's BasicBlock with BN → GoLU fused (when its activation is GoLU)."""


class FusedBottleneck(FusedBlockMixin, Bottleneck):
    """mmpretrain's Bottleneck with BN → GoLU fused (when its activation is GoLU)."""


FUSED_BLOCKS = {BasicBlock: FusedBasicBlock, Bottleneck: FusedBottleneck}


@register(MODELS)
class ActResNet(ResNetActCfgMixin, ResNet):
    """mmpretrain's ResNet with `act_cfg` in the stem and every block (ResNetActCfgMixin)."""

    fused_blocks = FUSED_BLOCKS


@register(MODELS)
class ActResNetV1c(ResNetActCfgMixin, ResNetV1c):
    """mmpretrain's ResNetV1c with `act_cfg` in the stem and every block (ResNetActCfgMixin)."""

    fused_blocks = FUSED_BLOCKS


@register(MODELS)
class ActResNetV1d(ResNetActCfgMixin, ResNetV1d):
    """mmpretrain's ResNetV1d with `act_cfg` in the stem and every block (ResNetActCfgMixin)."""

    fused_blocks = FUSED_BLOCKS
