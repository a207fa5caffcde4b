"""Giving upstream models that hard-code nn.ReLU an `act_cfg`.

Activations hold no parameters or buffers, so swapping them keeps the state_dict keys identical to
upstream's: ReLU checkpoints (torchvision://resnet50, open-mmlab://resnet50_v1c, ...) load as is.
Only a model's own activations are swapped: a ResNet's stem and block activations, not the ReLUs
inside plugins such as ContextBlock, so an activation comparison changes nothing else.
"""
import copy
from typing import List, Tuple

from mmcv.cnn import build_activation_layer
from torch import nn

RELU = dict(type='ReLU', inplace=True)  # what the upstream models build


def check_act_cfg(act_cfg) -> dict:
    if not isinstance(act_cfg, dict) or 'type' not in act_cfg:
        raise TypeError(f"act_cfg must be a dict with a 'type' key, e.g. dict(type='GoLU'), "
                        f'got {act_cfg!r}')
    return act_cfg


def resnet_activations(resnet: nn.Module) -> List[Tuple[nn.Module, str]]:
    """(parent, attribute) of a ResNet's own activations: the stem's and each block's `relu`."""
    if getattr(resnet, 'deep_stem', False):
        slots = [(resnet.stem, name) for name, child in resnet.stem.named_children()
                 if type(child) is nn.ReLU]
    else:
        slots = [(resnet, 'relu')]
    for layer_name in resnet.res_layers:
        slots += [(block, 'relu') for block in getattr(resnet, layer_name)]
    return slots


def all_relus(module: nn.Module) -> List[Tuple[nn.Module, str]]:
    """(parent, attribute) of every nn.ReLU inside `module` (heads: they have no plugins)."""
    return [(parent, name) for parent in module.modules()
            for name, child in parent.named_children() if type(child) is nn.ReLU]


class ActCfgMixin:
    """Mixed in before an upstream model class: adds the `act_cfg` argument and builds it at each
    of the model's own activations (`activation_slots`). The default, upstream's in-place ReLU,
    leaves the upstream model untouched; any other act_cfg, ReLU(inplace=False) included, is
    built as given."""

    def __init__(self, *args, act_cfg: dict = RELU, **kwargs):
        super().__init__(*args, **kwargs)
        self.act_cfg = copy.deepcopy(check_act_cfg(act_cfg))
        if self.act_cfg != RELU:
            for parent, name in self.activation_slots():
                setattr(parent, name, build_activation_layer(copy.deepcopy(self.act_cfg)))

    def activation_slots(self) -> List[Tuple[nn.Module, str]]:
        return all_relus(self)


class ResNetActCfgMixin(ActCfgMixin):
    """ActCfgMixin for ResNet-family backbones: the stem and block activations only."""

    def activation_slots(self) -> List[Tuple[nn.Module, str]]:
        return resnet_activations(self)
