"""mmengine checkpoints load safely on every supported torch (weights_only with the allow-list,
or the restricted unpickler where torch has no allow-list); a malicious checkpoint does not."""
import os
import pickle

import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import load_checkpoint

import golu_mm.openmmlab.mmdet_models  # noqa: F401  (what a config imports: safe loading on)
from golu_mm.openmmlab.safe_load import UnreadableCheckpointError, safe_load

# Both loading paths on this torch: its own weights_only allow-list where it has one (>= 2.4),
# and the restricted unpickler (what torch < 2.4 gets), forced here by hiding the allow-list.
PATHS = ['torch'] if hasattr(torch.serialization, 'add_safe_globals') else []
PATHS.append('restricted')


@pytest.fixture(params=PATHS)
def loading_path(request, monkeypatch):
    if request.param == 'restricted':
        monkeypatch.delattr(torch.serialization, 'add_safe_globals', raising=False)
    return request.param


class RunsCode:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


class ReachesPastTheAllowList:
    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


def test_mmengine_checkpoint_with_message_hub_loads(tmp_path, loading_path):
    hub = MessageHub.get_instance('golu_test')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', 0.5)
    model = torch.nn.Linear(2, 2)
    path = tmp_path / 'ok.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'iter': 3},
                'message_hub': hub.state_dict()}, path)
    loaded = safe_load(path)
    assert loaded['meta']['iter'] == 3
    assert loaded['message_hub']['log_scalars']['train/loss'].mean() == 1.0
    load_checkpoint(torch.nn.Linear(2, 2), str(path))


@pytest.mark.parametrize('payload,message', [(RunsCode(), 'system'),
                                             (ReachesPastTheAllowList(), 'only allows')])
def test_malicious_checkpoint_is_rejected(tmp_path, payload, message, loading_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': payload}, path)
    with pytest.raises(pickle.UnpicklingError, match=message if loading_path == 'torch' else
                       'could run code|only allows'):
        safe_load(path)
    with pytest.raises(UnreadableCheckpointError, match=rf'checkpoint {path} cannot be loaded '
                                                        rf'safely .*({message}|could run '
                                                        'code|only allows)'):
        load_checkpoint(torch.nn.Linear(2, 2), str(path))


@pytest.mark.parametrize('scheme', ['https://download.example.org/ckpt/', 'torchvision://'])
def test_downloaded_checkpoints_load_safely_too(tmp_path, monkeypatch, loading_path, scheme):
    """URLs and model-zoo schemes (mmengine loads them with weights_only=False) go through the
    same safe loading: a downloaded file that runs code is refused. The download is faked: it
    copies a local file into torch hub's checkpoints directory, where mmengine keeps them."""
    import shutil
    from mmengine.runner.checkpoint import _load_checkpoint
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    good, evil = tmp_path / 'good.pth', tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}}, good)
    torch.save({'state_dict': {}, 'meta': RunsCode()}, evil)
    source = {}
    monkeypatch.setattr(torch.hub, 'download_url_to_file',
                        lambda url, path, progress=False: shutil.copy(source['file'], path))
    name = 'resnet18' if scheme == 'torchvision://' else 'good.pth'
    source['file'] = good
    assert torch.equal(_load_checkpoint(scheme + name)['state_dict']['w'], torch.ones(2))
    assert list((tmp_path / 'hub' / 'checkpoints').iterdir())  # cached where mmengine keeps them
    source['file'] = evil
    with pytest.raises(UnreadableCheckpointError, match=r'evil\.pth cannot be loaded safely'):
        _load_checkpoint('https://download.example.org/ckpt/evil.pth')


def test_object_storage_and_pavi_checkpoints_load_safely_too(tmp_path, monkeypatch, loading_path):
    """s3://, petrel:// (bytes from mmengine's petrel backend) and pavi:// (a model-cloud
    download): mmengine's loaders call torch.load without weights_only; golu_mm's do not run a
    file's code. Both services are faked with local files."""
    import shutil
    import sys
    import types
    import mmengine.fileio
    from mmengine.runner.checkpoint import _load_checkpoint
    good, evil = tmp_path / 'good.pth', tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}}, good)
    torch.save({'state_dict': {}, 'meta': RunsCode()}, evil)
    files = {'good': good, 'evil': evil}

    def file_of(name):
        return files[name.rsplit('/', 1)[-1].split('.')[0]]

    backend = types.SimpleNamespace(get=lambda name: file_of(name).read_bytes())
    monkeypatch.setattr(mmengine.fileio, 'get_file_backend', lambda name, backend_args: backend)
    model = lambda name: types.SimpleNamespace(  # noqa: E731
        name='model.pth', download=lambda path: shutil.copy(file_of(name), path))
    pavi = types.ModuleType('pavi')
    pavi.modelcloud = types.SimpleNamespace(get=model)
    monkeypatch.setitem(sys.modules, 'pavi', pavi)
    for prefix in ('s3://bucket/', 'cluster:s3://bucket/', 'petrel://bucket/', 'pavi://'):
        assert torch.equal(_load_checkpoint(prefix + 'good.pth')['state_dict']['w'], torch.ones(2))
        with pytest.raises(UnreadableCheckpointError, match=rf'checkpoint {prefix}evil\.pth '
                                                            'cannot be loaded safely'):
            _load_checkpoint(prefix + 'evil.pth')


def test_open_mmlab_names_of_local_files_load_safely_too(tmp_path, monkeypatch, loading_path):
    """An open-mmlab:// name that mmengine's model list (with the user's open_mmlab.json in
    MMENGINE_HOME) maps to a file, not a URL: mmengine torch.loads it without weights_only."""
    import json
    from mmengine.runner.checkpoint import _load_checkpoint
    monkeypatch.setenv('MMENGINE_HOME', str(tmp_path))
    torch.save({'state_dict': {'w': torch.ones(2)}}, tmp_path / 'good.pth')
    torch.save({'state_dict': {}, 'meta': RunsCode()}, tmp_path / 'evil.pth')
    (tmp_path / 'open_mmlab.json').write_text(json.dumps({'goodnet': 'good.pth',
                                                          'evilnet': 'evil.pth'}))
    loaded = _load_checkpoint('open-mmlab://goodnet')
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2))
    with pytest.raises(UnreadableCheckpointError, match=r'evil\.pth cannot be loaded safely'):
        _load_checkpoint('openmmlab://evilnet')
    with pytest.raises(KeyError, match='nonet'):
        _load_checkpoint('open-mmlab://nonet')


def test_safe_loading_is_switched_on_where_needed_and_only_there():
    """Importing golu_mm.openmmlab changes nothing in mmengine's checkpoint loading; importing
    the adapters a config names (so upstream's tools load safely) or reading a checkpoint does."""
    import subprocess
    import sys
    probe = ('import sys\n'
             'from mmengine.runner import checkpoint as c\n'
             'import golu_mm.openmmlab\n'
             'print(c.load_from_local.__module__)\n'
             'import importlib; importlib.import_module(sys.argv[1])\n'
             'print(c.load_from_local.__module__)\n')
    for module in ('golu_mm.openmmlab.mmseg_models', 'golu_mm.openmmlab.checkpoint'):
        out = subprocess.run([sys.executable, '-c', probe, module], capture_output=True,
                             text=True, timeout=300, check=True).stdout.split()
        expected = 'golu_mm.openmmlab.safe_load' if module.endswith('models') else \
            'mmengine.runner.checkpoint'
        assert out == ['mmengine.runner.checkpoint', expected], (module, out)
