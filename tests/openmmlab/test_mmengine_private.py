"""Each private mmengine hook of golu_mm.openmmlab.mmengine_private does what golu_mm relies on:
an mmengine release that renames or changes one fails here."""
import pytest
import torch
from mmengine.config import Config, ConfigDict

from golu_mm.openmmlab import mmengine_private
from golu_mm.openmmlab.safe_load import allow_mmengine_checkpoints


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


def test_mmengine_home_follows_mmengine_home_variable(tmp_path, monkeypatch):
    monkeypatch.setenv('MMENGINE_HOME', str(tmp_path / 'home'))
    assert mmengine_private.mmengine_home() == str(tmp_path / 'home')


def test_route_checkpoint_loading_reaches_every_scheme(tmp_path):
    from mmengine.runner import checkpoint as mmengine_checkpoint
    calls = []

    def loader(kind):
        return lambda filename, map_location=None, **kw: calls.append((kind, filename)) or {}

    try:
        mmengine_private.route_checkpoint_loading(loader('local'), loader('http'), {
            mmengine_private.OBJECT_STORAGE: loader('storage'), ('pavi://',): loader('pavi')})
        for name in (str(tmp_path / 'a.pth'), 'https://example.org/b.pth', 's3://bucket/c.pth',
                     'cluster:s3://bucket/d.pth', 'petrel://e.pth', 'pavi://f'):
            mmengine_private.load_checkpoint_object(name)
        mmengine_checkpoint.load_from_torchvision('torchvision://resnet18')
    finally:
        allow_mmengine_checkpoints()  # golu_mm's safe loaders again
    assert [kind for kind, _ in calls] == ['local', 'http', 'storage', 'storage', 'storage',
                                           'pavi', 'http']
    assert calls[0][1] == str(tmp_path / 'a.pth') and calls[4][1] == 'petrel://e.pth'
    assert 'resnet18' in calls[6][1]
    assert mmengine_checkpoint.load_from_local.__module__ == 'golu_mm.openmmlab.safe_load'


def test_every_scheme_mmengine_knows_loads_through_golu_mm():
    """Each loader in mmengine's registry is golu_mm's (safe_load) or one of mmengine's that only
    resolves a name to a URL for load_from_http: a scheme a new mmengine adds fails here."""
    import inspect
    allow_mmengine_checkpoints()
    loaders = mmengine_private.checkpoint_loaders()
    assert len(loaders) >= 10
    for prefix, loader in loaders.items():
        if loader.__module__ == 'golu_mm.openmmlab.safe_load':
            continue
        assert loader.__name__ in mmengine_private.RESOLVING_LOADERS, prefix
        assert 'load_from_http(' in inspect.getsource(loader) and (
            'torch.load(' not in inspect.getsource(loader)), prefix
