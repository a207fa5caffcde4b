"""`act_cfg` for upstream models that hard-code nn.ReLU: ActCfgMixin and, for ResNets (with
BN → GoLU fused), ResNetActCfgMixin; the Act* classes of each codebase mix them in.

Activations hold no parameters or buffers, so swapping them keeps the state_dict keys identical to
upstream's: ReLU checkpoints (torchvision://resnet50, open-mmlab://resnet50_v1c, ...) load as is.
Only a model's own activations are swapped: a ResNet's stem and block activations, not the ReLUs
inside plugins such as ContextBlock, so an activation comparison changes nothing else. A ResNet's
``init_cfg=dict(type='Pretrained', checkpoint=...)`` loads strictly (golu_mm.openmmlab.pretrained).
"""
import copy
from typing import Dict, List, Tuple

from mmcv.cnn import build_activation_layer
from torch import nn

from ..nn import GoLU
from ..nn.activations import module_slots
from ..nn.fused_blocks import run_fused

RELU = dict(type='ReLU', inplace=True)  # what the upstream models build


def check_act_cfg(act_cfg) -> dict:
    if not isinstance(act_cfg, dict) or 'type' not in act_cfg:
        raise TypeError(f"act_cfg must be a dict with a 'type' key, e.g. dict(type='GoLU'), "
                        f'got {act_cfg!r}')
    return act_cfg


def resnet_activations(resnet: nn.Module) -> List[Tuple[nn.Module, str]]:
    """(parent, attribute) of a ResNet's own activations: the stem's (a deep stem's ReLUs, flat
    as in mmdet/mmseg or inside ConvModules as in mmpretrain) and each block's `relu`."""
    if getattr(resnet, 'deep_stem', False):
        slots = module_slots(resnet.stem, nn.ReLU)
    else:
        slots = [(resnet, 'relu')]
    for layer_name in resnet.res_layers:
        slots += [(block, 'relu') for block in getattr(resnet, layer_name)]
    return slots


# Modules whose activations belong to a plugin, an attention or an SE gate, not to the model's
# own path: left as upstream built them (by class name: mmcv's, mmdet's, mmseg's and
# mmpretrain's classes of these names alike).
KEPT_UPSTREAM = ('ContextBlock', 'GeneralizedAttention', 'NonLocal2d', 'SELayer',
                 'EffectiveSELayer')


def own_relu_slots(model: nn.Module) -> List[Tuple[nn.Module, str]]:
    """(parent, attribute) of every nn.ReLU in `model` outside the KEPT_UPSTREAM modules."""
    slots = []

    def walk(module):
        for name, child in module.named_children():
            if type(child) is nn.ReLU:
                slots.append((module, name))
            elif type(child).__name__ not in KEPT_UPSTREAM:
                walk(child)
    walk(model)
    return slots


class ActCfgMixin:
    """Mixed in before an upstream model class: adds the `act_cfg` argument and builds it at each
    of the model's own activations (`activation_slots`: every nn.ReLU but those of plugins,
    attention and SE gates, KEPT_UPSTREAM). The default, upstream's in-place ReLU, leaves the
    upstream model untouched; any other act_cfg, ReLU(inplace=False) included, is built as
    given."""

    def __init__(self, *args, act_cfg: dict = RELU, **kwargs):
        super().__init__(*args, **kwargs)
        self.act_cfg = copy.deepcopy(check_act_cfg(act_cfg))
        if self.act_cfg != RELU:
            for parent, name in self.activation_slots():
                setattr(parent, name, build_activation_layer(copy.deepcopy(self.act_cfg)))

    def activation_slots(self) -> List[Tuple[nn.Module, str]]:
        return own_relu_slots(self)


class ResNetActCfgMixin(ActCfgMixin):
    """ActCfgMixin for ResNet-family backbones: the stem and block activations only. Its blocks
    are the fused classes named in `fused_blocks` (upstream's with nn.fused_blocks'
    FusedBlockMixin): with a GoLU act_cfg each BN → GoLU (and BN + identity → GoLU) runs fused,
    saving for backward what an in-place ReLU model does; with any other act_cfg they run
    upstream's forward. ``fuse_bn_golu=False`` runs the unfused modules (same parameters, same
    results within float rounding). A ``Pretrained`` init_cfg loads the backbone strictly: every
    key or an error naming them."""

    fused_blocks: Dict[type, type] = {}  # upstream block class -> its fused class

    def __init__(self, *args, fuse_bn_golu: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(fuse_bn_golu, bool):
            raise TypeError(f'fuse_bn_golu must be True or False, got {fuse_bn_golu!r}')
        self.fuse_bn_golu = fuse_bn_golu
        for layer_name in self.res_layers:
            for block in getattr(self, layer_name):
                block.fuse_bn_golu = fuse_bn_golu

    def make_res_layer(self, **kwargs):
        """Upstream's, with the block class replaced by its fused class (upstream's own checks,
        such as zero_init_residual's `block is BasicBlock`, still see upstream's class)."""
        block = kwargs['block']
        if block not in self.fused_blocks:
            raise TypeError(f'{type(self).__name__}.fused_blocks has no fused class for '
                            f'{block.__module__}.{block.__qualname__}')
        return super().make_res_layer(**dict(kwargs, block=self.fused_blocks[block]))

    def extra_repr(self) -> str:
        stem = 'BN → GoLU pairs' if self.deep_stem else f'{self.norm1_name} → relu'
        return f'act_cfg={self.act_cfg}, fuse_bn_golu={self.fuse_bn_golu}: stem {stem}'

    def activation_slots(self) -> List[Tuple[nn.Module, str]]:
        return resnet_activations(self)

    def forward(self, x):
        stem = self.stem if self.deep_stem else self.relu
        if not (self.fuse_bn_golu and any(type(m) is GoLU for m in stem.modules())):
            return super().forward(x)
        # upstream's ResNet.forward (mmdet, mmseg and mmpretrain alike) with the stem fused: a
        # deep stem's BN → GoLU pairs (mmpretrain's ConvModule stems run as they are), or
        # conv1 → norm1 → relu; the blocks decide for themselves
        stem = self.stem if self.deep_stem else (self.conv1, self.norm1, self.relu)
        x = self.maxpool(run_fused(stem, x))
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def init_weights(self):
        init_cfg = self.init_cfg
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            from .pretrained import load_backbone
            load_backbone(self, init_cfg['checkpoint'], init_cfg.get('prefix'),
                          init_cfg.get('allow_activation_mismatch', False))
            self._is_init = True
            return
        super().init_weights()
