"""The sweep's pieces: which act_cfg keys an activation replaces, and the metrics it reads back."""
import json
from pathlib import Path

import pytest
from mmengine import Config

from golu_mm.openmmlab.sweep import activation_options, final_metrics


def test_activation_options_follow_the_declared_act_cfg():
    backbone_only = activation_options(Config.fromfile('configs/mask_rcnn_golu.py'), 'GELU')
    assert backbone_only == ['act_cfg.type=GELU', 'model.backbone.act_cfg.type=GELU']
    whole = activation_options(Config.fromfile('configs/mask_rcnn_golu_whole.py'), 'SiLU')
    assert set(whole) == {'act_cfg.type=SiLU', 'model.backbone.act_cfg.type=SiLU',
                          'model.rpn_head.act_cfg.type=SiLU',
                          'model.roi_head.bbox_head.act_cfg.type=SiLU',
                          'model.roi_head.mask_head.act_cfg.type=SiLU'}
    with pytest.raises(ValueError, match='no top-level act_cfg'):
        activation_options(Config(dict(model=dict())), 'GoLU')


def test_final_metrics_take_the_last_logged_values(tmp_path):
    for session, miou in (('20260101_000000', 10.0), ('20260102_000000', 12.5)):
        log = tmp_path / session / 'vis_data' / 'scalars.json'
        log.parent.mkdir(parents=True)
        log.write_text('\n'.join(json.dumps(r) for r in (
            {'loss': 1.0, 'step': 1}, {'mIoU': miou, 'mAcc': 20.0, 'step': 2})))
    assert final_metrics(tmp_path, ['mIoU', 'mAcc']) == {'mIoU': 12.5, 'mAcc': 20.0}
    assert final_metrics(tmp_path, ['mIoU', 'aAcc']) == {'mIoU': 12.5}  # never logged: absent


def load_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('compare_activations',
                                                  'tools/compare_activations.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_one_failed_run_does_not_end_the_sweep(tmp_path, monkeypatch):
    """GELU's training fails, SiLU's evaluation logs nothing, the rest finish: every run is in
    the table, each number says how many runs it rests on, and the tool exits with an error
    naming the failed run after writing everything."""
    import subprocess
    tool = load_tool()
    trained = []

    def fake_train(command, check, env):
        run_dir = Path(command[command.index('--work-dir') + 1])
        act, seed = run_dir.name.split('_seed')
        trained.append((act, int(seed)))
        if act == 'GELU':
            raise subprocess.CalledProcessError(1, command)
        log = run_dir / '20260101_000000' / 'vis_data' / 'scalars.json'
        log.parent.mkdir(parents=True)
        metrics = {} if act == 'SiLU' else {'mIoU': 40.0 + int(seed), 'mAcc': 50.0, 'aAcc': 60.0}
        log.write_text(json.dumps({'loss': 1.0, 'step': 1, **metrics}) + '\n')

    monkeypatch.setattr(tool.subprocess, 'run', fake_train)
    work = tmp_path / 'sweep with space'
    with pytest.raises(RuntimeError, match=r'2 of 6 runs failed \(GELU seed 0, GELU seed 1\)'):
        tool.main(['configs/demo/deeplabv3_golu_demo.py', '--activations', 'GoLU', 'GELU',
                   'SiLU', '--seeds', '0', '1', '--work-dir', str(work)])
    assert len(trained) == 6
    table = (work / 'comparison.md').read_text()
    assert '| GoLU | 2 | 40.5000 ± 0.7071 (n=2) |' in table
    assert '| GELU | 2 | no result (n=0) |' in table and '| SiLU | 2 | no result (n=0) |' in table
    assert '| GELU | 0 | failed | CalledProcessError' in table
    assert '| SiLU | 1 | finished | no mIoU, mAcc, aAcc logged |' in table
    assert 'mIoU_n' in (work / 'comparison.csv').read_text()
    # A rerun retries the failed runs only (the finished ones, SiLU's included, are reused).
    trained.clear()
    with pytest.raises(RuntimeError, match='2 of 6 runs failed'):
        tool.main(['configs/demo/deeplabv3_golu_demo.py', '--activations', 'GoLU', 'GELU',
                   'SiLU', '--seeds', '1', '0', '--work-dir', str(work)])
    assert sorted(trained) == [('GELU', 0), ('GELU', 1)]


def test_from_scratch_sweep_with_frozen_batch_norm_is_refused(tmp_path, monkeypatch):
    from golu_mm.openmmlab.config_checks import ConfigError
    tool = load_tool()
    monkeypatch.setattr(tool.subprocess, 'run', lambda *a, **k: pytest.fail('trained'))
    with pytest.raises(ConfigError, match=r'from scratch with model\.backbone\.frozen_stages=1 '
                                          r'.*model\.backbone\.norm_eval=True'):
        tool.main(['configs/mask_rcnn_golu.py', '--work-dir', str(tmp_path),
                   '--cfg-options', 'model.backbone.init_cfg=None'])
