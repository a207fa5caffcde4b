"""A built model holds the activation its config asks for: a component that ignores act_cfg
(mmseg's BiSeNetV1) is refused, one that uses it in part (PIDNet) is named with what it keeps,
and golu_mm's training hook runs the check on every run."""
import logging
from types import SimpleNamespace

import pytest
from mmengine import Config
from torch import nn

import golu_mm.openmmlab.mmdet_models  # noqa: F401 (ActResNet)
from golu_mm.openmmlab.activation_record import (ActivationMetaHook, IgnoredActCfgError,
                                                 check_act_cfg_reach, component_act_cfgs)

GOLU = dict(type='GoLU')


def built(scope, **components):
    import importlib
    importlib.import_module(f'{scope}.utils').register_all_modules(init_default_scope=False)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    holder = nn.Module()
    for name, cfg in components.items():
        setattr(holder, name, registry.build(cfg))
    return holder


def test_component_act_cfgs_are_found_by_attribute_path():
    cfg = dict(type='MaskRCNN', backbone=dict(type='ActResNet', act_cfg=GOLU,
                                              init_cfg=dict(type='Pretrained', act_cfg=GOLU)),
               roi_head=dict(type='R', bbox_head=dict(type='B', act_cfg=dict(type='ReLU'))),
               act_cfg=dict(type='SiLU'))
    assert component_act_cfgs(cfg) == {'backbone': 'GoLU', 'roi_head.bbox_head': 'ReLU'}


def test_a_backbone_that_ignores_act_cfg_is_refused():
    bisenet = dict(type='BiSeNetV1', act_cfg=GOLU, backbone_cfg=dict(type='ResNet', depth=18))
    with pytest.raises(IgnoredActCfgError, match=r'model\.backbone \(BiSeNetV1\) asks for '
                       r'act_cfg=GoLU and holds no GoLU module \(it runs ReLU\): BiSeNetV1 '
                       r'ignores act_cfg'):
        check_act_cfg_reach(built('mmseg', backbone=bisenet), dict(backbone=bisenet))
    relu = {**bisenet, 'act_cfg': dict(type='ReLU')}  # what it runs anyway: nothing to say
    assert check_act_cfg_reach(built('mmseg', backbone=relu), dict(backbone=relu)) == []


def test_partial_use_is_named_with_what_is_left():
    pidnet = dict(type='PIDNet', act_cfg=GOLU)
    notes = check_act_cfg_reach(built('mmseg', backbone=pidnet), dict(backbone=pidnet))
    assert len(notes) == 1 and notes[0].startswith(
        'model.backbone (PIDNet): act_cfg=GoLU reaches 4 module(s); 42 keep other activations: '
        'ReLU at stem.2.0.conv1.activate')


def test_full_reach_and_own_sub_components():
    backbone = dict(type='ActResNet', depth=18, act_cfg=GOLU)
    model = built('mmdet', backbone=backbone)
    assert check_act_cfg_reach(model, dict(backbone=backbone)) == []
    # A sub-component with an act_cfg of its own is checked on its own, not as its parent's.
    model.backbone.head = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    cfg = dict(backbone={**backbone, 'head': dict(type='Head', act_cfg=dict(type='ReLU'))})
    assert check_act_cfg_reach(model, cfg) == []
    cfg['backbone']['head']['act_cfg'] = GOLU
    with pytest.raises(IgnoredActCfgError, match=r'model\.backbone\.head \(Sequential\)'):
        check_act_cfg_reach(model, cfg)


def test_the_training_hook_runs_the_check(caplog):
    pidnet = dict(type='PIDNet', act_cfg=GOLU)
    logger = logging.getLogger('reach-test')
    runner = SimpleNamespace(model=built('mmseg', backbone=pidnet),
                             cfg=Config(dict(model=dict(type='Seg', backbone=pidnet))),
                             logger=logger)
    with caplog.at_level(logging.WARNING, logger='reach-test'):
        ActivationMetaHook().before_run(runner)
    assert 'act_cfg=GoLU reaches 4 module(s)' in caplog.text
    runner.cfg.model.backbone = dict(type='BiSeNetV1', act_cfg=GOLU,
                                     backbone_cfg=dict(type='ResNet', depth=18))
    runner.model = built('mmseg', backbone=runner.cfg.model.backbone)
    with pytest.raises(IgnoredActCfgError):
        ActivationMetaHook().before_run(runner)
