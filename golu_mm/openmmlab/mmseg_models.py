"""mmseg backbones with a configurable activation, registered in mmseg's MODELS registry (mmseg's
decode heads already take act_cfg)."""
from mmseg.models.backbones import ResNet, ResNetV1c, ResNetV1d
from mmseg.registry import MODELS

from .act_cfg import ResNetActCfgMixin


@MODELS.register_module(force=True)
class ActResNet(ResNetActCfgMixin, ResNet):
    """mmseg's ResNet with `act_cfg` in the stem and every block (ResNetActCfgMixin)."""


@MODELS.register_module(force=True)
class ActResNetV1c(ResNetActCfgMixin, ResNetV1c):
    """mmseg's ResNetV1c (DeepLabV3's backbone) with `act_cfg` in the stem and every block."""


@MODELS.register_module(force=True)
class ActResNetV1d(ResNetActCfgMixin, ResNetV1d):
    """mmseg's ResNetV1d with `act_cfg` in the stem and every block (ResNetActCfgMixin)."""
