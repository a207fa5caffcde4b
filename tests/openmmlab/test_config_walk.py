"""The one config walker, and what is built on it: paths through dicts and lists, parents that
change the tree, act_cfg copies found in lists too, SyncBN replaced everywhere."""
from mmengine.config import Config

from golu_mm.openmmlab.machine import replace_sync_bn
from golu_mm.openmmlab.config_options import act_cfg_paths
from golu_mm.openmmlab.config_walk import config_items, dotted

TREE = dict(model=dict(type='M', backbone=dict(type='B', norm_cfg=dict(type='SyncBN')),
                       heads=[dict(type='H', act_cfg=dict(type='GoLU')),
                              (dict(type='SyncBN'), 3)]))


def test_every_dict_item_with_its_path_parents_first():
    items = [(dotted(path), value) for path, value, _ in config_items(TREE)]
    paths = [path for path, _ in items]
    assert paths == ['model', 'model.type', 'model.backbone', 'model.backbone.type',
                     'model.backbone.norm_cfg', 'model.backbone.norm_cfg.type', 'model.heads',
                     'model.heads.0.type', 'model.heads.0.act_cfg', 'model.heads.0.act_cfg.type',
                     'model.heads.1.0.type']
    assert dict(items)['model.heads.0.act_cfg'] == {'type': 'GoLU'}


def test_replace_sync_bn_reaches_lists_and_tuples():
    cfg = Config(TREE)
    replace_sync_bn(cfg.model)
    assert cfg.model.backbone.norm_cfg.type == 'BN' and cfg.model.heads[1][0]['type'] == 'BN'
    assert [v for p, v, _ in config_items(cfg.to_dict()) if v == 'SyncBN'] == []


def test_act_cfg_copies_in_lists_are_found_with_their_index():
    cfg = Config(dict(act_cfg=dict(type='GoLU'), **TREE))
    assert act_cfg_paths(cfg) == ['model.heads.0.act_cfg']
    cfg.merge_from_dict({'model.heads.0.act_cfg.type': 'GELU'})  # the path mmengine accepts
    assert cfg.model.heads[0].act_cfg.type == 'GELU'
