"""Every path that loads a checkpoint for a golu_mm config is checked as golu_mm's own tools are:
upstream's Runner (load_from, as upstream tools/test.py), mmdet's init_detector, mmseg's
init_model and the inferencers refuse a bit-flipped, a truncated and an empty file, and a pickle
that is no checkpoint, each in one line naming the file and what is wrong; a script importing
only golu_mm.openmmlab has one documented call that makes mmengine load safely; build_model runs
the act_cfg reach check of training."""
import os
import re
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from golu_mm.openmmlab import apis
from golu_mm.openmmlab.activation_record import IgnoredActCfgError, activation_meta
from golu_mm.openmmlab.checkpoint import UnreadableCheckpointError

ROOT = Path(__file__).resolve().parents[2]
SEG = 'configs/demo/deeplabv3_golu_demo.py'
DET = 'configs/demo/mask_rcnn_golu_demo.py'


def flipped(good: Path, path: Path) -> Path:
    """`good` with one bit of one weight changed (the zip's CRC-32 no longer matches)."""
    data = bytearray(good.read_bytes())
    offset = data.find(b'PK\x03\x04', len(data) // 2)  # a member in the second half ...
    data[offset + 200] ^= 0x10  # ... one bit inside its bytes
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """{kind: path} for each config: a good checkpoint and its damaged variants."""
    folder = tmp_path_factory.mktemp('ckpt')
    found = {}
    for name, config in (('seg', SEG), ('det', DET)):
        model, _ = apis.build_model(config)
        good = folder / f'{name}.pth'
        torch.save({'state_dict': model.state_dict(), 'meta': activation_meta(model)}, good)
        found[name] = {
            'good': good,
            'flipped': flipped(good, folder / f'{name}-flipped.pth'),
            'truncated': folder / f'{name}-truncated.pth',
            'empty': folder / f'{name}-empty.pth',
            'list': folder / f'{name}-list.pth'}
        found[name]['truncated'].write_bytes(good.read_bytes()[:good.stat().st_size // 2])
        found[name]['empty'].write_bytes(b'')
        torch.save([1, 2, 3], found[name]['list'])
    return found


WHAT = {'flipped': r'is corrupt: \S+ fails its CRC-32 check', 'truncated': 'corrupt or truncated',
        'empty': r'is empty \(0 bytes\)', 'list': 'holds a list, not a checkpoint'}


def upstream_runner(config, checkpoint, work_dir):
    """mmengine's own Runner with load_from, as upstream's tools/test.py builds it."""
    from mmengine.runner import Runner
    cfg = Config.fromfile(config)
    cfg.work_dir, cfg.load_from = str(work_dir), str(checkpoint)
    cfg.visualizer['name'] = uuid.uuid4().hex
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    return runner


def init_detector(checkpoint, _work_dir):
    from mmdet.apis import init_detector as init
    return init(DET, str(checkpoint), device='cpu')


def init_model(checkpoint, _work_dir):
    from mmseg.apis import init_model as init
    return init(SEG, str(checkpoint), device='cpu')


def det_inferencer(checkpoint, _work_dir):
    from mmdet.apis import DetInferencer
    return DetInferencer(model=DET, weights=str(checkpoint), device='cpu', show_progress=False)


def seg_inferencer(checkpoint, _work_dir):
    from mmseg.apis import MMSegInferencer
    return MMSegInferencer(model=SEG, weights=str(checkpoint), device='cpu')


PATHS = {'runner-seg': ('seg', lambda c, w: upstream_runner(SEG, c, w)),
         'runner-det': ('det', lambda c, w: upstream_runner(DET, c, w)),
         'init_detector': ('det', init_detector), 'init_model': ('seg', init_model),
         'DetInferencer': ('det', det_inferencer), 'MMSegInferencer': ('seg', seg_inferencer)}


@pytest.mark.parametrize('path', list(PATHS))
def test_upstream_loaders_refuse_damaged_checkpoints_naming_the_file(path, checkpoints,
                                                                     tmp_path):
    from mmengine.registry import DefaultScope
    kind, load = PATHS[path]
    # upstream's init_model and inferencers set the default scope for the whole process: kept
    # to this test
    with DefaultScope.overwrite_default_scope('mmdet' if kind == 'det' else 'mmseg'):
        check_path(load, checkpoints[kind], tmp_path)


def check_path(load, checkpoints, tmp_path):
    assert load(checkpoints['good'], tmp_path / 'good') is not None  # loads when whole
    for damage, what in WHAT.items():
        bad = checkpoints[damage]
        with pytest.raises(UnreadableCheckpointError) as caught:
            load(bad, tmp_path / damage)
        message = str(caught.value)
        assert '\n' not in message and message.startswith(f'checkpoint {bad} ')
        assert re.search(what, message), message


CRAFTED = '''
import os, pickle, sys
class Run:
    def __reduce__(self):
        return (os.system, ('touch ' + sys.argv[2],))
with open(sys.argv[1], 'wb') as f:
    pickle.dump({'state_dict': Run()}, f)
'''


def test_a_script_importing_only_golu_mm_openmmlab_has_one_call(checkpoints, tmp_path):
    """Without an adapter, mmengine's loader is its own (torch 2.14 would refuse golu_mm's good
    checkpoints and suggest TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1); the documented call,
    golu_mm.openmmlab.allow_mmengine_checkpoints(), makes it load them, safely and checked."""
    crafted, ran = tmp_path / 'crafted.pth', tmp_path / 'ran'
    subprocess.run([sys.executable, '-c', CRAFTED, str(crafted), str(ran)], check=True)
    script = f'''
import torch, golu_mm.openmmlab as om
from mmengine.runner import load_checkpoint
from golu_mm.openmmlab.checkpoint import UnreadableCheckpointError
model = torch.nn.Module()
om.allow_mmengine_checkpoints()
assert load_checkpoint(model, {str(checkpoints["seg"]["good"])!r}, strict=False) is not None
for bad in ({str(crafted)!r}, {str(checkpoints["seg"]["flipped"])!r}):
    try:
        load_checkpoint(model, bad)
    except UnreadableCheckpointError as exc:
        print(exc)
'''
    result = subprocess.run([sys.executable, '-c', script], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD': '1'})
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith('checkpoint ')]
    assert lines[0].startswith(f'checkpoint {crafted} cannot be loaded safely or is not a '
                               'checkpoint: it ')
    assert 'numpy values only' in lines[0] and 'weights_only` set to `False' not in lines[0]
    assert 'fails its CRC-32 check' in lines[1]
    assert not ran.exists()  # the crafted file ran no code, even with the variable set


def test_build_model_runs_the_reach_check_of_training():
    with pytest.raises(IgnoredActCfgError, match=r'model\.backbone \(BiSeNetV2\) asks for '
                                                 r'act_cfg=GoLU and holds no GoLU module'):
        apis.build_model('configs/deeplabv3_golu.py', cfg_options={
            'model.backbone': dict(_delete_=True, type='BiSeNetV2', act_cfg=dict(type='GoLU')),
            'model.decode_head.in_channels': 128, 'model.decode_head.in_index': 0,
            'model.auxiliary_head': None})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        apis.build_model('configs/deeplabv3_golu.py', cfg_options={'model.backbone.plugins': [dict(
            cfg=dict(type='ContextBlock', ratio=1. / 16), stages=(False, False, False, True),
            position='after_conv2')]})
    assert any('keep other activations: ReLU at' in str(w.message) for w in caught)
