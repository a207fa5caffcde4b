"""Register GoLU (and Mish, which mmcv lacks) where mmcv registers its activations: mmengine's
root MODELS registry, which mmcv's build_activation_layer, ConvModule and every downstream scope
(mmdet, mmseg) search."""
from mmengine.registry import MODELS
from torch import nn

from ..nn import GoLU


class Mish(nn.Mish):
    """nn.Mish, registered so that the activation comparisons can name it."""


def register_activations() -> None:
    # force=True: importing or reloading golu_mm twice re-registers instead of raising.
    MODELS.register_module(name='GoLU', module=GoLU, force=True)
    if MODELS.get('Mish') is None:
        MODELS.register_module(name='Mish', module=Mish)
