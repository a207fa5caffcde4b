"""mmpretrain backbones with a configurable activation, registered in mmpretrain's MODELS registry:
the backbones of the activation-matched pretraining (configs/pretrain/). mmpretrain's blocks
already build ``act_cfg`` but its ResNet hard-codes the stem's ReLU and gives its blocks none;
its V1c/V1d deep stems are ConvModules (golu_mm.openmmlab.pretrained converts the keys). The
other backbones that hard-code ReLU take act_cfg at every own activation, unfused; SE gates keep
theirs (docs/backbones.md)."""
from mmpretrain.models.backbones import (HRNet, AlexNet, Conformer, InceptionV3, MobileNetV3,
                                         RegNet, RepMLPNet, Res2Net, ResNeSt, ResNet,
                                         ResNet_CIFAR, ResNetV1c, ResNetV1d, ResNeXt, SEResNet,
                                         SEResNeXt)
from mmpretrain.models.backbones.resnet import BasicBlock, Bottleneck
from mmpretrain.models.backbones.resnext import Bottleneck as ResNeXtBottleneck
from mmpretrain.registry import MODELS

from ..nn.fused_blocks import FusedBlockMixin
from .act_cfg import ActCfgMixin, ResNetActCfgMixin
from .registration import register
from .safe_load import allow_mmengine_checkpoints


class FusedBasicBlock(FusedBlockMixin, BasicBlock):
    """mmpretrain's BasicBlock with BN → GoLU fused (when its activation is GoLU)."""


class FusedBottleneck(FusedBlockMixin, Bottleneck):
    """mmpretrain's Bottleneck with BN → GoLU fused (when its activation is GoLU)."""


class FusedResNeXtBottleneck(FusedBlockMixin, ResNeXtBottleneck):
    """mmpretrain's ResNeXt Bottleneck with BN → GoLU fused (when its activation is GoLU)."""


FUSED_BLOCKS = {BasicBlock: FusedBasicBlock, Bottleneck: FusedBottleneck,
                ResNeXtBottleneck: FusedResNeXtBottleneck}


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


# Backbones that hard-code nn.ReLU, given act_cfg at every own activation; with the default
# act_cfg each is its upstream class exactly. ActResNeXt's blocks are ResNet's, so it runs BN ->
# GoLU fused (ResNetActCfgMixin); the others are not fused (ActCfgMixin).


@register(MODELS)
class ActResNeXt(ResNetActCfgMixin, ResNeXt):
    """mmpretrain's ResNeXt with `act_cfg` in the stem and every block (ResNetActCfgMixin)."""

    fused_blocks = FUSED_BLOCKS


@register(MODELS)
class ActResNet_CIFAR(ActCfgMixin, ResNet_CIFAR):
    """mmpretrain's ResNet_CIFAR with `act_cfg` in the stem and every block."""


@register(MODELS)
class ActSEResNet(ActCfgMixin, SEResNet):
    """mmpretrain's SEResNet with `act_cfg` in the stem and every block; the SE gates keep
    their ReLU."""


@register(MODELS)
class ActSEResNeXt(ActCfgMixin, SEResNeXt):
    """mmpretrain's SEResNeXt with `act_cfg` in the stem and every block; the SE gates keep
    their ReLU."""


@register(MODELS)
class ActRegNet(ActCfgMixin, RegNet):
    """mmpretrain's RegNet with `act_cfg` in the stem and every block."""


@register(MODELS)
class ActResNeSt(ActCfgMixin, ResNeSt):
    """mmpretrain's ResNeSt with `act_cfg` in the deep stem, every block and its split-attention
    conv (whose one ReLU module upstream serves both the conv path and the attention MLP)."""


@register(MODELS)
class ActRes2Net(ActCfgMixin, Res2Net):
    """mmpretrain's Res2Net with `act_cfg` in the deep stem and every Bottle2neck."""


@register(MODELS)
class ActHRNet(ActCfgMixin, HRNet):
    """mmpretrain's HRNet with `act_cfg` in the stem, every block and the fuse layers."""


@register(MODELS)
class ActMobileNetV3(ActCfgMixin, MobileNetV3):
    """mmpretrain's MobileNetV3 with `act_cfg` in place of its ReLUs; its HSwish layers and the
    ReLUs of its SE gates stay as upstream."""


@register(MODELS)
class ActInceptionV3(ActCfgMixin, InceptionV3):
    """mmpretrain's InceptionV3 with `act_cfg` after every conv."""


@register(MODELS)
class ActAlexNet(ActCfgMixin, AlexNet):
    """mmpretrain's AlexNet with `act_cfg` after every conv."""


@register(MODELS)
class ActConformer(ActCfgMixin, Conformer):
    """mmpretrain's Conformer with `act_cfg` at the ReLUs of its convolution branch and its
    feature couplings; the transformer branch keeps its GELU (set through its layer configs)."""


@register(MODELS)
class ActRepMLPNet(ActCfgMixin, RepMLPNet):
    """mmpretrain's RepMLPNet with `act_cfg` at the ReLUs of its units (their FFNs and stem)."""


allow_mmengine_checkpoints()  # configs import this module: upstream's tools load safely too
