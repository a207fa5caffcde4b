"""Giving upstream models that hard-code nn.ReLU an `act_cfg`.

Activations hold no parameters or buffers, so swapping them keeps the state_dict keys identical to
upstream's: ReLU checkpoints (torchvision://resnet50, open-mmlab://resnet50_v1c, ...) load as is.
"""
import copy

from mmcv.cnn import build_activation_layer
from torch import nn

RELU = dict(type='ReLU', inplace=True)


def is_relu(act_cfg: dict) -> bool:
    return act_cfg.get('type') in ('ReLU', nn.ReLU)


def check_act_cfg(act_cfg) -> dict:
    if not isinstance(act_cfg, dict) or 'type' not in act_cfg:
        raise TypeError(f"act_cfg must be a dict with a 'type' key, e.g. dict(type='GoLU'), "
                        f'got {act_cfg!r}')
    return act_cfg


def swap_relu(module: nn.Module, act_cfg: dict) -> nn.Module:
    """Replace, in place, every nn.ReLU inside `module` by a new layer built from act_cfg."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.ReLU:
                setattr(parent, name, build_activation_layer(copy.deepcopy(act_cfg)))
    return module


class ActCfgMixin:
    """Mixed in before an upstream model class: adds the `act_cfg` argument (default ReLU, which
    leaves the upstream model untouched) and applies it to every nn.ReLU the model built."""

    def __init__(self, *args, act_cfg: dict = RELU, **kwargs):
        super().__init__(*args, **kwargs)
        self.act_cfg = copy.deepcopy(check_act_cfg(act_cfg))
        if not is_relu(self.act_cfg):
            swap_relu(self, self.act_cfg)
