"""mmpretrain backbones with a configurable activation, registered in mmpretrain's MODELS registry:
the backbones of the activation-matched pretraining (configs/pretrain/). mmpretrain's blocks
already build ``act_cfg`` but its ResNet hard-codes the stem's ReLU and gives its blocks none."""
from mmpretrain.models.backbones import ResNet, ResNetV1c, ResNetV1d
from mmpretrain.registry import MODELS

from .swap import ResNetActCfgMixin


@MODELS.register_module(force=True)
class ActResNet(ResNetActCfgMixin, ResNet):
    """mmpretrain's ResNet with `act_cfg` (torchvision's ResNet layout)."""


@MODELS.register_module(force=True)
class ActResNetV1c(ResNetActCfgMixin, ResNetV1c):
    """mmpretrain's ResNetV1c (deep stem) with `act_cfg`: pretrains DeepLabV3's backbone."""


@MODELS.register_module(force=True)
class ActResNetV1d(ResNetActCfgMixin, ResNetV1d):
    """mmpretrain's ResNetV1d (deep stem, avg-down) with `act_cfg`."""
