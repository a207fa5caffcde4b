"""Each private mmengine hook of golu_mm.openmmlab.mmengine_private does what golu_mm relies on:
an mmengine release that renames or changes one fails here."""
import pytest
import torch
from mmengine.config import Config, ConfigDict

from golu_mm.openmmlab import allow_mmengine_checkpoints, mmengine_private


def test_load_checkpoint_object_reads_what_was_saved(tmp_path):
    saved = {'state_dict': {'w': torch.arange(3.0)}, 'meta': {'epoch': 2}}
    torch.save(saved, tmp_path / 'c.pth')
    loaded = mmengine_private.load_checkpoint_object(str(tmp_path / 'c.pth'))
    assert torch.equal(loaded['state_dict']['w'], saved['state_dict']['w'])
    assert loaded['meta'] == {'epoch': 2}


def test_load_into_model_revises_keys_and_copies_the_weights():
    model = torch.nn.Linear(2, 3)
    source = torch.nn.Linear(2, 3)
    checkpoint = {'state_dict': {'module.' + k: v for k, v in source.state_dict().items()}}
    mmengine_private.load_into_model(model, checkpoint, [(r'^module\.', '')])
    assert torch.equal(model.weight, source.weight) and torch.equal(model.bias, source.bias)


def test_config_tree_is_the_configs_own_dict():
    cfg = Config(dict(model=dict(backbone=dict(depth=50))))
    tree = mmengine_private.config_tree(cfg)
    assert isinstance(tree, ConfigDict) and tree['model']['backbone']['depth'] == 50
    tree['model']['backbone']['depth'] = 101  # the same object, not a copy
    assert cfg.model.backbone.depth == 101


def test_route_checkpoint_loading_reaches_files_urls_and_model_zoo_schemes(tmp_path):
    from mmengine.runner import checkpoint as mmengine_checkpoint
    calls = []
    try:
        mmengine_private.route_checkpoint_loading(
            lambda filename, map_location=None: calls.append(('local', filename)) or {},
            lambda filename, map_location=None, **kw: calls.append(('http', filename)) or {})
        mmengine_private.load_checkpoint_object(str(tmp_path / 'a.pth'))
        mmengine_private.load_checkpoint_object('https://example.org/b.pth')
        mmengine_checkpoint.load_from_torchvision('torchvision://resnet18')
    finally:
        allow_mmengine_checkpoints()  # golu_mm's safe loaders again
    assert calls[0] == ('local', str(tmp_path / 'a.pth'))
    assert calls[1] == ('http', 'https://example.org/b.pth')
    assert calls[2][0] == 'http' and 'resnet18' in calls[2][1]
    assert mmengine_checkpoint.load_from_local.__module__ == 'golu_mm.openmmlab.checkpoint'
