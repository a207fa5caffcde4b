"""The backbones that hard-code nn.ReLU, given act_cfg (ActCfgMixin): with the default act_cfg
each is its upstream class exactly (modules, state_dict keys, outputs bitwise); with GoLU every
own activation is GoLU (what stays upstream's is named: MobileNetV3's HSwish and SE gates), the
keys are upstream's (its checkpoints load strictly), it runs, and configs build it by name."""
import importlib

import pytest
import torch
from torch import nn

import golu_mm.openmmlab.mmdet_models  # noqa: F401 (registers the Act* classes)
import golu_mm.openmmlab.mmpretrain_models  # noqa: F401
import golu_mm.openmmlab.mmseg_models  # noqa: F401
from golu_mm.openmmlab.activation_record import activations_in, check_act_cfg_reach
from golu_mm.openmmlab.backbone_survey import ARGS

HRNET = ARGS['mmdet']['HRNet']  # a small HRNet
# (scope, upstream class, its arguments, input size, what GoLU leaves upstream's)
CASES = [
    ('mmdet', 'RegNet', dict(arch='regnetx_400mf'), 64, ()),
    ('mmdet', 'ResNeSt', dict(depth=50, stem_channels=32), 64, ()),
    ('mmdet', 'Res2Net', dict(depth=50), 64, ()),
    ('mmdet', 'DetectoRS_ResNet', dict(depth=50), 64, ()),
    ('mmdet', 'DetectoRS_ResNeXt', dict(depth=50, groups=4, base_width=4), 64, ()),
    ('mmdet', 'TridentResNet', dict(depth=50, num_branch=3, test_branch_idx=1, strides=(1, 2, 2),
                                    dilations=(1, 1, 1), trident_dilations=(1, 2, 3),
                                    num_stages=3, out_indices=(2,)), 64, ()),
    ('mmdet', 'HRNet', HRNET, 64, ()),
    ('mmdet', 'HourglassNet', dict(downsample_times=2, num_stacks=1,
                                   stage_channels=(16, 16, 32), stage_blocks=(1, 1, 1),
                                   feat_channel=16), 64, ()),
    ('mmdet', 'SSDVGG', dict(depth=16, out_indices=(3, 4)), 64, ()),
    ('mmseg', 'ResNeSt', dict(depth=50, stem_channels=32), 64, ()),
    ('mmseg', 'HRNet', HRNET, 64, ()),
    ('mmseg', 'MobileNetV3', dict(arch='small'), 64, ('Hardswish', 'ReLU')),
    ('mmpretrain', 'ResNet_CIFAR', dict(depth=18), 32, ()),
    ('mmpretrain', 'SEResNet', dict(depth=50), 64, ('ReLU',)),
    ('mmpretrain', 'SEResNeXt', dict(depth=50, groups=4, width_per_group=4), 64, ('ReLU',)),
    ('mmpretrain', 'RegNet', dict(arch='regnetx_400mf'), 64, ()),
    ('mmpretrain', 'ResNeSt', dict(depth=50, stem_channels=32), 64, ()),
    ('mmpretrain', 'Res2Net', dict(depth=50), 64, ()),
    ('mmpretrain', 'HRNet', dict(arch='w18'), 64, ()),
    ('mmpretrain', 'MobileNetV3', dict(arch='small'), 64, ('Hardswish', 'ReLU')),
    ('mmpretrain', 'InceptionV3', dict(aux_logits=False), 96, ()),
    ('mmpretrain', 'AlexNet', dict(), 96, ()),
    ('mmpretrain', 'Conformer', dict(arch='tiny'), 64, ('GELU',)),
    ('mmpretrain', 'RepMLPNet', dict(arch='B', img_size=64), 64, ('GELU',)),
]
IDS = [f'{scope}-{name}' for scope, name, *_ in CASES]


def registry(scope):
    importlib.import_module(f'{scope}.utils').register_all_modules(init_default_scope=False)
    return importlib.import_module(f'{scope}.registry').MODELS


def build(scope, cfg, seed=0):
    from mmengine.registry import DefaultScope
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope(scope):  # for its nested builds (norm layers)
        model = registry(scope).build(cfg)
    model.init_weights()
    for module in model.modules():  # upstream leaves TridentConv's weight uninitialised memory
        if type(module).__name__ == 'TridentConv':
            nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
    model.eval()  # (mmdet's ResNet.train returns None)
    return model


def outputs(model, size):
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1)))
    def flat(o):
        return [t for item in o for t in flat(item)] if isinstance(o, (list, tuple)) else [o]
    return [t for t in flat(out) if t is not None]


@pytest.mark.parametrize('scope, name, args, size, kept', CASES, ids=IDS)
def test_default_is_upstream_exactly(scope, name, args, size, kept):
    upstream = build(scope, dict(type=name, **args))
    ours = build(scope, dict(type=f'Act{name}', **args))
    assert [type(m).__name__ for m in ours.modules()][1:] == \
        [type(m).__name__ for m in upstream.modules()][1:]
    assert list(ours.state_dict()) == list(upstream.state_dict())
    ours.load_state_dict(upstream.state_dict(), strict=True)
    for a, b in zip(outputs(ours, size), outputs(upstream, size)):
        assert torch.equal(a, b)


@pytest.mark.parametrize('scope, name, args, size, kept', CASES, ids=IDS)
def test_golu_reaches_every_own_activation(scope, name, args, size, kept):
    upstream = build(scope, dict(type=name, **args))
    cfg = dict(type=f'Act{name}', act_cfg=dict(type='GoLU'), **args)
    ours = build(scope, cfg)
    holder = nn.Module()
    holder.backbone = ours
    notes = check_act_cfg_reach(holder, dict(backbone=cfg))
    assert activations_in(ours) == sorted({'GoLU', *kept})
    if kept:  # named, with where they are
        assert len(notes) == 1 and all(k in notes[0] for k in kept)
    else:
        assert notes == []
    ours.load_state_dict(upstream.state_dict(), strict=True)  # upstream's checkpoints load
    ours_out, upstream_out = outputs(ours, size), outputs(upstream, size)
    for a, b in zip(ours_out, upstream_out):
        assert a.shape == b.shape and torch.isfinite(a).all()
    assert not torch.equal(ours_out[-1], upstream_out[-1])  # GoLU runs: other outputs


def test_plugins_and_se_gates_keep_upstreams_relu():
    from golu_mm.openmmlab.act_cfg import own_relu_slots
    block = nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU())
    block.add_module('plugin', type('ContextBlock', (nn.Module,), {})())
    block.plugin.relu = nn.ReLU()
    block.add_module('se', type('SELayer', (nn.Module,), {})())
    block.se.act = nn.Sequential(nn.ReLU())
    assert own_relu_slots(block) == [(block, '1')]
