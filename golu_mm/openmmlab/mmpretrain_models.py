"""mmpretrain backbones with a configurable activation, registered in mmpretrain's MODELS registry:
the backbones of the activation-matched pretraining (configs/pretrain/). mmpretrain's blocks
already build ``act_cfg`` but its ResNet hard-codes the stem's ReLU and gives its blocks none;
its V1c/V1d deep stems are ConvModules (golu_mm.openmmlab.pretrained converts the keys)."""
from mmpretrain.models.backbones import ResNet, ResNetV1c, ResNetV1d
from mmpretrain.registry import MODELS

from .swap import register_act_backbones

ActResNet, ActResNetV1c, ActResNetV1d = register_act_backbones(
    MODELS, __name__, ResNet, ResNetV1c, ResNetV1d)
