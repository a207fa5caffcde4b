"""Register GoLU (and Mish, which mmcv lacks) where mmcv registers its activations: mmengine's
root MODELS registry, which mmcv's build_activation_layer, ConvModule and every downstream scope
(mmdet, mmseg) search."""
from mmengine.registry import MODELS
from torch import nn

from ..nn import GoLU
from .registration import register


class Mish(nn.Mish):
    """nn.Mish, registered so that the activation comparisons can name it."""


def register_activations() -> None:
    """GoLU in the root MODELS registry (an error if another class holds the name: registration),
    and Mish unless mmcv or another project registered one."""
    register(MODELS, 'GoLU', GoLU)
    if MODELS.get('Mish') is None:
        register(MODELS, 'Mish', Mish)
