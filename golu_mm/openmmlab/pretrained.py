"""Backbone weights across codebases, loaded strictly, with the activation they were trained with.

A backbone checkpoint may be an mmpretrain classifier (``backbone.``/``neck.``/``head.`` keys), an
mmdet/mmseg model, a torchvision ResNet (``fc.`` classifier) or a plain backbone state_dict
(tools/extract_backbone.py). `backbone_state_dict` reduces each to the backbone's own keys in the
layout of the model that loads it: mmpretrain builds a deep stem (V1c/V1d) from ConvModules
(``stem.0.conv.weight``) where mmdet and mmseg use a flat Sequential (``stem.0.weight``).
Loading refuses missing, unexpected or mis-shaped keys by name (mmengine only logs them, which
leaves a silently random backbone), and a checkpoint trained with another activation than the
backbone's (golu_mm.openmmlab.activation_record; a file without a record, such as torchvision's,
counts as ReLU and only warns).
"""
import re
from collections import OrderedDict
from typing import Optional

from .activation_record import (activations_in, check_activations, checkpoint_activations,
                                mismatch_allowed)
from .checkpoint import CheckpointError, mismatch, read_checkpoint, revised_state_dict

KNOWN_RELU_SOURCES = ('torchvision://', 'open-mmlab://', 'mmcls://')  # upstream ImageNet weights
_CONV_MODULE_STEM = re.compile(r'^stem\.(\d)\.(conv|bn)\.')
_FLAT_STEM = re.compile(r'^stem\.(\d)\.')


def _to_flat_stem(key: str) -> str:
    """mmpretrain's ``stem.i.conv.`` / ``stem.i.bn.`` -> mmcv's ``stem.(3i).`` / ``stem.(3i+1).``"""
    match = _CONV_MODULE_STEM.match(key)
    if not match:
        return key
    index = 3 * int(match.group(1)) + (match.group(2) == 'bn')
    return f'stem.{index}.' + key[match.end():]


def _to_conv_module_stem(key: str) -> str:
    match = _FLAT_STEM.match(key)
    if not match or _CONV_MODULE_STEM.match(key):
        return key
    block, part = divmod(int(match.group(1)), 3)
    return f'stem.{block}.{("conv", "bn")[part]}.' + key[match.end():]


def backbone_state_dict(checkpoint: dict, model_keys, prefix: Optional[str] = None) -> OrderedDict:
    """The backbone weights of `checkpoint` named as in `model_keys` (the loading backbone's
    state_dict keys): wrapper ``module.`` and the ``prefix`` (default: ``backbone.`` when present)
    stripped and other parts dropped, a torchvision ``fc.`` classifier dropped, the deep stem
    renamed to the model's layout."""
    state_dict = revised_state_dict(checkpoint, [(r'^module\.', '')])
    if prefix is None and any(k.startswith('backbone.') for k in state_dict):
        prefix = 'backbone.'
    if prefix:
        state_dict = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                                 if k.startswith(prefix))
        if not state_dict:
            raise CheckpointError(f'the checkpoint has no key starting with {prefix!r}')
    model_keys = set(model_keys)
    if not any(k.startswith('fc.') for k in model_keys):
        state_dict = OrderedDict((k, v) for k, v in state_dict.items() if not k.startswith('fc.'))
    conv_module_stem = any(_CONV_MODULE_STEM.match(k) for k in model_keys)
    rename = _to_conv_module_stem if conv_module_stem else _to_flat_stem
    return OrderedDict((rename(k), v) for k, v in state_dict.items())


def checkpoint_act_cfg(checkpoint: dict, filename: str) -> Optional[dict]:
    """The activation a checkpoint was trained with: its meta's act_cfg (a training checkpoint),
    the one an extracted backbone file carries, ReLU for upstream's ImageNet weights, else None."""
    if 'state_dict' in checkpoint:
        act_cfg = (checkpoint.get('meta') or {}).get('act_cfg')
    else:
        act_cfg = _file_info(checkpoint).get('act_cfg')
    if act_cfg is None and filename.startswith(KNOWN_RELU_SOURCES):
        act_cfg = dict(type='ReLU')
    return act_cfg


def _file_info(state_dict) -> dict:
    """What extract_backbone records in a plain state_dict: its `_metadata` entry for the root
    module (where torch keeps per-module versions; load_state_dict ignores other entries)."""
    return (getattr(state_dict, '_metadata', None) or {}).get('', {}).get('golu_mm', {})


def backbone_activations(checkpoint: dict) -> Optional[dict]:
    """{'backbone': activations} as the checkpoint records them (a training checkpoint's meta,
    an extracted backbone file's act_cfg), or None where it records nothing."""
    if 'state_dict' in checkpoint:
        record = checkpoint_activations(checkpoint)
        return None if record is None else {'backbone': record.get('backbone', [])}
    act_cfg = _file_info(checkpoint).get('act_cfg')
    return None if act_cfg is None else {'backbone': [act_cfg['type']]}


def load_backbone(backbone, filename: str, prefix: Optional[str] = None,
                  allow_activation_mismatch: bool = False) -> None:
    """Load the backbone weights of checkpoint `filename` into `backbone`, all of them or none,
    trained with the backbone's activations (activation_record.check_activations)."""
    checkpoint = read_checkpoint(filename)
    own = backbone.state_dict()
    state_dict = backbone_state_dict(checkpoint, own.keys(), prefix)
    for key in own:  # BatchNorm restores a missing counter itself (old torchvision files)
        if key.endswith('num_batches_tracked') and key not in state_dict:
            state_dict[key] = own[key]
    problems = mismatch(backbone, state_dict)
    if problems:
        raise CheckpointError(f'backbone checkpoint {filename} does not match '
                              f'{type(backbone).__name__}: ' + '; '.join(problems) +
                              '. Pretrained with another depth or stem (ResNet vs V1c/V1d)?')
    check_activations(backbone_activations(checkpoint), {'backbone': activations_in(backbone)},
                      filename, 'backbone init', allow_activation_mismatch or mismatch_allowed())
    backbone.load_state_dict(state_dict)


def extract_backbone(checkpoint_file: str, out_file: str) -> OrderedDict:
    """Write the backbone of a checkpoint as a plain state_dict (torchvision's names; mmcv's flat
    layout for a deep stem) that torchvision's and our backbones load, the activation and source
    recorded where torch keeps state_dict metadata; returns it."""
    import torch
    checkpoint = read_checkpoint(checkpoint_file)
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not any(k.startswith(('backbone.', 'module.backbone.')) for k in state_dict):
        raise CheckpointError(f'{checkpoint_file} has no backbone.* keys: not a classifier, '
                              'detector or segmentor checkpoint')
    weights = backbone_state_dict(checkpoint, model_keys=())
    weights._metadata = OrderedDict({'': {'golu_mm': {
        'act_cfg': checkpoint_act_cfg(checkpoint, checkpoint_file), 'source': checkpoint_file}}})
    torch.save(weights, out_file)
    return weights

