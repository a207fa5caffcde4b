"""A GPU run refuses clearly, before anything trains, when the model needs mmcv's compiled ops and
this mmcv was built without their CUDA kernels (faked here: torch patched to see a GPU)."""
from pathlib import Path

import mmcv.ops
import pytest
import torch
from mmengine.config import Config

from golu_mm.openmmlab import apis
from golu_mm.openmmlab.config_options import ConfigError
from golu_mm.openmmlab.preflight import check_mmcv_cuda_ops, mmcv_ops_in

ROOT = Path(__file__).resolve().parents[2]


def config(name):
    return Config.fromfile(str(ROOT / 'configs' / name))


def test_the_mmcv_ops_a_model_uses_are_found():
    assert mmcv_ops_in(config('mask_rcnn_golu.py')) == ['RoIAlign', 'nms']
    assert mmcv_ops_in(config('paper/retinanet_r50_fpn_v2_26e_golu.py')) == ['nms']
    assert mmcv_ops_in(config('deeplabv3_golu.py')) == []  # mmcv.ops' nn wrappers do not count
    cfg = Config(dict(model=dict(type='X', layers=[dict(type='DCNv2'), dict(type='Conv2d')])))
    assert mmcv_ops_in(cfg) == ['DCNv2']


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_gpu_run_without_mmcv_cuda_ops_is_refused(monkeypatch, tmp_path, tool):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version', lambda: 'not available')
    args = dict(work_dir=str(tmp_path)) if tool == 'train' else dict(
        checkpoint=str(tmp_path / 'x.pth'), work_dir=str(tmp_path))
    with pytest.raises(ConfigError) as info:
        getattr(apis, tool)(str(ROOT / 'configs' / 'mask_rcnn_golu.py'), **args)
    message = str(info.value)
    assert 'mmcv ops (RoIAlign, nms)' in message and "'not available'" in message
    assert 'FORCE_CUDA=1' in message and 'CUDA_VISIBLE_DEVICES=' in message
    assert not list(tmp_path.iterdir())  # refused before the runner made anything


def test_check_passes_with_cuda_ops_on_the_cpu_and_for_models_without_ops(monkeypatch):
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version', lambda: 'not available')
    check_mmcv_cuda_ops(config('mask_rcnn_golu.py'))  # CPU run: mmcv's CPU ops serve
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    check_mmcv_cuda_ops(config('deeplabv3_golu.py'))
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version', lambda: '12.1')
    check_mmcv_cuda_ops(config('mask_rcnn_golu.py'))
