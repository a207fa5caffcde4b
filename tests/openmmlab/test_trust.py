"""Paths that used to return a wrong number with exit code 0, checked fast: the activation swap
stays in the backbone's own activations, schedules follow their length, --cfg-options and
annotation files are checked, checkpoints must match the model, sweeps never reuse another run."""
import json
import warnings

import pytest
import torch
from mmcv.cnn.bricks import ContextBlock
from mmengine.optim import OptimWrapper
from mmengine.registry import PARAM_SCHEDULERS
from torch import nn

from golu_mm import GoLU
from golu_mm.analysis.run_record import StaleRunError, finish_run, plan_run, run_spec, start_run
from golu_mm.openmmlab import mmdet_models as det
from golu_mm.openmmlab import mmseg_models as seg
from golu_mm.openmmlab import apis
from golu_mm.openmmlab.checkpoint import (UnreadableCheckpointError, checkpoints_newest_first,
                                         mismatch, read_checkpoint)
from golu_mm.openmmlab import preflight
from golu_mm.openmmlab.config_options import ConfigError, unknown_option_keys
from golu_mm.openmmlab.preflight import check_annotation_file
from golu_mm.openmmlab.tool_arguments import tool_arguments

CONTEXT_BLOCK = [dict(cfg=dict(type='ContextBlock', ratio=1. / 16),
                      stages=(False, True, True, True), position='after_conv3')]


def test_swap_leaves_plugin_activations_alone():
    model = det.ActResNet(depth=50, plugins=CONTEXT_BLOCK, act_cfg=dict(type='GoLU'))
    blocks = [b for name in model.res_layers for b in getattr(model, name)]
    assert isinstance(model.relu, GoLU) and all(isinstance(b.relu, GoLU) for b in blocks)
    plugin_relus = [m for b in blocks for name in b.after_conv3_plugin_names
                    for m in getattr(b, name).modules() if type(m) is nn.ReLU]
    assert plugin_relus and len(plugin_relus) == 13  # one per ContextBlock, stages 2-4
    assert sum(isinstance(m, ContextBlock) for m in model.modules()) == 13


@pytest.mark.parametrize('cls,kwargs', [(det.ActResNet, dict(depth=18)),
                                        (det.ActResNetV1d, dict(depth=50)),
                                        (seg.ActResNetV1c, dict(depth=18))])
def test_relu_act_cfg_is_honoured(cls, kwargs):
    default = cls(**kwargs)
    not_inplace = cls(**kwargs, act_cfg=dict(type='ReLU', inplace=False))
    acts = [m for m in not_inplace.modules() if isinstance(m, nn.ReLU)]
    assert acts and not any(m.inplace for m in acts)
    assert all(m.inplace for m in default.modules() if isinstance(m, nn.ReLU))
    assert len(acts) == sum(isinstance(m, nn.ReLU) for m in default.modules())


def last_lrs(config, max_iters):
    """(lr of every iteration, the schedule's final lr) as mmengine's runner would step them."""
    cfg = apis.load_config(config, {'train_cfg.max_iters': max_iters}, None, 'none')
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=cfg.optim_wrapper.optimizer.lr)
    wrapper = OptimWrapper(optimizer)
    schedulers = [PARAM_SCHEDULERS.build(dict(s), default_args=dict(optimizer=wrapper))
                  for s in cfg.param_scheduler]
    lrs = []
    for _ in range(cfg.train_cfg.max_iters):
        lrs.append(optimizer.param_groups[0]['lr'])
        for s in schedulers:
            s.step()
    final = cfg.param_scheduler[-1]['eta_min']
    return cfg, lrs, final


@pytest.mark.parametrize('config', ['configs/demo/mask_rcnn_golu_demo.py',
                                    'configs/demo/deeplabv3_golu_demo.py'])
@pytest.mark.parametrize('max_iters', [12, 40, 200, 600, 1500])
def test_demo_schedule_follows_max_iters(config, max_iters):
    cfg, lrs, final = last_lrs(config, max_iters)
    assert len(lrs) == max_iters
    # Annealed at the last iteration: PolyLR lands on eta_min, mmengine's chained cosine within a
    # step of it (2.4 % of the range at 12 iterations, 0.001 % at 600).
    assert abs(lrs[-1] - final) <= 0.03 * (cfg.optim_wrapper.optimizer.lr - final)
    assert max(lrs) == pytest.approx(cfg.optim_wrapper.optimizer.lr, rel=0.05)  # warm-up ended
    assert lrs.index(max(lrs)) <= max_iters // 8 + 1
    assert cfg.train_cfg.val_interval == max_iters
    assert cfg.default_hooks.checkpoint.interval == max_iters


def test_cfg_options_must_be_key_value(capsys):
    with pytest.raises(SystemExit) as exc:
        tool_arguments(__import__('argparse').ArgumentParser(), 'train',
                            ['cfg.py', '--cfg-options', 'garbage'])
    assert exc.value.code == 2
    assert "takes KEY=VALUE items, got 'garbage'" in capsys.readouterr().err


def test_unknown_option_keys_are_named_with_a_suggestion():
    cfg = apis.Config.fromfile('configs/demo/deeplabv3_golu_demo.py')
    messages = unknown_option_keys(cfg, {'trian_cfg.max_iters': 1, 'train_cfg.max_iters': 1,
                                         'model.backbone.dpeth': 50, 'model.new_key': 1})
    assert len(messages) == 3
    assert 'no trian_cfg (did you mean train_cfg?)' in messages[0]
    assert 'model.backbone.dpeth (did you mean model.backbone.depth?)' in messages[1]
    with pytest.warns(UserWarning, match='trian_cfg'):
        apis.load_config('configs/demo/deeplabv3_golu_demo.py', {'trian_cfg.max_iters': 1},
                         None, 'none')


@pytest.mark.parametrize('config', ['configs/demo/deeplabv3_golu_demo.py',
                                    'configs/demo/mask_rcnn_golu_demo.py'])
def test_arguments_of_the_built_class_are_known_keys(config):
    """A key the config does not write but its class takes (mmengine's BaseDataset `indices`,
    through the dataset's **kwargs) is no unknown key; a near miss is, with that suggestion."""
    cfg = apis.Config.fromfile(config)
    assert unknown_option_keys(cfg, {'train_dataloader.dataset.indices': 4,
                                     'model.backbone.with_cp': True}) == []
    messages = unknown_option_keys(cfg, {'train_dataloader.dataset.indicez': 4})
    assert messages == ['train_dataloader.dataset.indicez: the config has no '
                        'train_dataloader.dataset.indicez (did you mean '
                        'train_dataloader.dataset.indices?)']


@pytest.mark.parametrize('content,message', [(b'', 'is empty'),
                                             (b'{"images": [{"id": 1}', 'not valid JSON'),
                                             (b'\x00\xff garbage', 'not valid JSON')])
def test_bad_annotation_files_are_named(tmp_path, content, message):
    path = tmp_path / 'instances_val.json'
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=f'{path}.*{message}|{message}'):
        check_annotation_file(str(path))
    with pytest.raises(ConfigError, match='does not exist'):
        check_annotation_file(str(tmp_path / 'missing.json'))
    path.write_text(json.dumps({'images': []}))
    check_annotation_file(str(path))


def test_annotations_of_unknown_categories_are_refused(tmp_path):
    path = tmp_path / 'instances_val.json'
    annotations = [{'id': i, 'image_id': 1, 'category_id': c} for i, c in
                   enumerate([1, 2, 99, 1, 77, 99])]
    path.write_text(json.dumps({'images': [{'id': 1}], 'annotations': annotations,
                                'categories': [{'id': 1}, {'id': 2}]}))
    with pytest.raises(ConfigError, match=r'3 of 6 annotations have a category_id its '
                                          r'categories do not list \(77, 99\)'):
        check_annotation_file(str(path), ('images', 'annotations', 'categories'))
    annotations[2]['category_id'] = annotations[4]['category_id'] = annotations[5][
        'category_id'] = 2
    path.write_text(json.dumps({'images': [{'id': 1}], 'annotations': annotations,
                                'categories': [{'id': 1}, {'id': 2}]}))
    check_annotation_file(str(path), ('images', 'annotations', 'categories'))


def test_checkpoint_mismatch_names_keys():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4))
    assert mismatch(model, model.state_dict()) == []
    other = {k.replace('1.', '2.'): v for k, v in model.state_dict().items()}
    other['0.weight'] = torch.zeros(5, 2)
    problems = mismatch(model, other)
    assert any(p.startswith('2 missing: 1.weight, 1.bias') for p in problems)
    assert any(p.startswith('2 unexpected: 2.weight, 2.bias') for p in problems)
    assert any('0.weight (5, 2) in the checkpoint, (3, 2) in the model' in p for p in problems)


@pytest.mark.parametrize('content,message', [(b'', 'empty'), (b'\x93garbage' * 10, 'cannot be'),
                                             (None, 'truncated')])
def test_unreadable_checkpoints_are_named(tmp_path, content, message):
    path = tmp_path / 'iter_5.pth'
    if content is None:  # a real checkpoint cut short
        torch.save({'state_dict': nn.Linear(64, 64).state_dict()}, path)
        path.write_bytes(path.read_bytes()[:3000])
    else:
        path.write_bytes(content)
    with pytest.raises(UnreadableCheckpointError, match=f'{path}.*{message}'):
        read_checkpoint(str(path))


def test_checkpoints_newest_first(tmp_path):
    for i in (2, 10, 4):
        (tmp_path / f'iter_{i}.pth').write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_10.pth'))
    assert [p.split('/')[-1] for p in checkpoints_newest_first(str(tmp_path))] == \
        ['iter_10.pth', 'iter_4.pth', 'iter_2.pth']


def test_sweep_runs_are_reused_only_when_identical(tmp_path):
    spec = run_spec('cfg.py', 'model = 1', ['train_cfg.max_iters=12'], 'GoLU', 0, '0.1.0')
    run_dir = tmp_path / 'GoLU_seed0'
    assert plan_run(run_dir, spec) == 'train'
    start_run(run_dir, spec)
    assert plan_run(run_dir, spec) == 'resume'  # started, not finished: resume it
    finish_run(run_dir, spec, {'mIoU': 1.0})
    assert plan_run(run_dir, spec) == 'reuse'
    longer = run_spec('cfg.py', 'model = 1', ['train_cfg.max_iters=600'], 'GoLU', 0, '0.1.0')
    with pytest.raises(StaleRunError, match="options: recorded .*max_iters=12.*max_iters=600"):
        plan_run(run_dir, longer)
    edited = run_spec('cfg.py', 'model = 2', ['train_cfg.max_iters=12'], 'GoLU', 0, '0.1.0')
    with pytest.raises(StaleRunError, match='config_sha256'):
        plan_run(run_dir, edited)
    assert plan_run(run_dir, longer, force=True) == 'train' and not run_dir.exists()
    legacy = tmp_path / 'ReLU_seed0'
    legacy.mkdir()
    (legacy / 'result.json').write_text('{}')
    with pytest.raises(StaleRunError, match='no readable run.json'):
        plan_run(legacy, spec)


def test_build_model_refuses_a_mismatched_checkpoint(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': nn.Linear(2, 2).state_dict()}, path)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(RuntimeError, match=r'does not match the model \(EncoderDecoder\): '
                                               r'\d+ missing: backbone\..*; 2 unexpected: '
                                               r'weight, bias'):
            apis.build_model('configs/demo/deeplabv3_golu_demo.py', str(path))


def test_image_tensor_is_what_the_preprocessor_feeds(tmp_path):
    """The demo's plot input goes through the model's own data preprocessor: BGR -> RGB,
    normalised, padded to the size divisor (32 for Mask R-CNN)."""
    import cv2
    import numpy as np
    img = np.random.default_rng(0).integers(0, 255, (100, 90, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'x.png'), img)
    model, cfg = apis.build_model('configs/mask_rcnn_golu.py')
    x = apis.image_tensor(tmp_path / 'x.png', model)
    assert x.shape == (1, 3, 128, 96)
    pre = cfg.model.data_preprocessor
    rgb = torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1).float()
    expected = (rgb - torch.tensor(pre.mean).view(3, 1, 1)) / torch.tensor(pre.std).view(3, 1, 1)
    torch.testing.assert_close(x[0, :, :100, :90], expected)
    assert (x[0, :, 100:, :] == 0).all()


def test_option_values_keep_their_spaces_and_need_a_value(capsys):
    import argparse
    args = tool_arguments(argparse.ArgumentParser(), 'train', [
        'c.py', '--cfg-options', 'load_from=/work dir/a b.pth', 'x=1,2', 'y=[a, b]', 'z=None'])
    assert args.cfg_options == {'load_from': '/work dir/a b.pth', 'x': [1, 2], 'y': ['a', 'b'],
                                'z': None}
    with pytest.raises(SystemExit):
        tool_arguments(argparse.ArgumentParser(), 'train',
                            ['c.py', '--cfg-options', 'param_scheduler.7.end='])
    assert 'param_scheduler.7.end: no value after "="' in capsys.readouterr().err
    from golu_mm.openmmlab.config_options import parse_options  # the sweep's parser: same rules
    assert parse_options(['load_from=/work dir/a b.pth']) == {'load_from': '/work dir/a b.pth'}
    with pytest.raises(ConfigError, match='--cfg-options x: no value after "="'):
        parse_options(['x='])


def test_config_variables_reach_the_model():
    """backbone_checkpoint and act_cfg set from the command line change the model, not only the
    variable; from scratch trains every stage and batch norm (in the file, or as an option)."""
    config = 'configs/mask_rcnn_golu.py'
    backbone = apis.load_config(config, None, None, 'none').model.backbone
    assert (backbone.init_cfg.checkpoint, backbone.frozen_stages, backbone.norm_eval) == (
        'torchvision://resnet50', 1, True)
    backbone = apis.load_config(config, {'backbone_checkpoint': None}, None,
                                'none').model.backbone
    assert (backbone.init_cfg, backbone.frozen_stages, backbone.norm_eval) == (None, -1, False)
    cfg = apis.load_config(config, {'backbone_checkpoint': '/a b/golu.pth',
                                      'act_cfg.type': 'GELU'}, None, 'none')
    assert dict(cfg.model.backbone.init_cfg) == {'type': 'Pretrained',
                                                 'checkpoint': '/a b/golu.pth'}
    assert cfg.model.backbone.act_cfg.type == 'GELU' and cfg.act_cfg.type == 'GELU'
    # An explicit option for the same key wins over the linked one.
    cfg = apis.load_config(config, {'backbone_checkpoint': None,
                                      'model.backbone.frozen_stages': 2}, None, 'none')
    assert cfg.model.backbone.frozen_stages == 2


@pytest.mark.parametrize('key,value,message', [
    ('train_cfg.max_iters', 'abc', "train_cfg.max_iters must be a whole number of at least 1, "
                                   "got 'abc'"),
    ('train_cfg.max_iters', 0, 'train_cfg.max_iters must be a whole number of at least 1, got 0'),
    ('train_cfg.val_interval', 1.5, 'train_cfg.val_interval must be a whole number')])
def test_train_cfg_numbers_are_checked_by_name(key, value, message):
    with pytest.raises(ConfigError, match=message):
        apis.load_config('configs/demo/deeplabv3_golu_demo.py', {key: value}, None, 'none')


def test_sweep_identity_ignores_option_order():
    a = run_spec('c.py', 'text', ['b=1', 'a=2', 'seed=0'], 'GoLU', 0, '1')
    b = run_spec('c.py', 'text', ['seed=0', 'a=2', 'b=1'], 'GoLU', 0, '1')
    assert a == b and a['options'] == ['a=2', 'b=1', 'seed=0']
    assert run_spec('c.py', 'text', ['a=1', 'a=2'], 'GoLU', 0, '1')['options'] == ['a=2']


def test_flipped_checkpoint_bytes_are_caught(tmp_path):
    path = tmp_path / 'ckpt.pth'
    torch.save({'state_dict': {'w': torch.arange(4096, dtype=torch.float32)}}, path)
    assert read_checkpoint(str(path))['state_dict']['w'][100] == 100
    data = bytearray(path.read_bytes())
    offset = data.find(torch.arange(4096, dtype=torch.float32).numpy().tobytes()[400:408])
    assert offset > 0
    data[offset + 3] ^= 0x40  # one bit of one weight
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadableCheckpointError, match=r'ckpt\.pth is corrupt: .*data/0 fails '
                                                        r'its CRC-32 check'):
        read_checkpoint(str(path))


def test_downloads_are_named_before_and_when_they_fail(monkeypatch, tmp_path, capsys):
    import urllib.error

    from golu_mm.openmmlab.preflight import announce_downloads

    def offline(*args, **kwargs):
        raise urllib.error.URLError('[Errno -2] Name or service not known')

    monkeypatch.setattr(torch.hub, 'download_url_to_file', offline)  # what checkpoint.py calls
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path))
    with pytest.raises(UnreadableCheckpointError, match=r'cannot download checkpoint '
                                                        r'torchvision://resnet50 \(https://.*'
                                                        r'resnet50.*\.pth\).*offline\?'):
        read_checkpoint('torchvision://resnet50')
    cfg = apis.load_config('configs/mask_rcnn_golu.py', None, None, 'none')
    announce_downloads(cfg)
    said = capsys.readouterr().out
    assert 'checkpoint torchvision://resnet50: downloaded from https://' in said
    assert 'needs the network' in said and 'backbone_checkpoint=/path/to/file.pth' in said
    url = said.split('downloaded from ')[1].split(' ')[0]
    (tmp_path / 'checkpoints').mkdir(exist_ok=True)  # the failed download made it
    (tmp_path / 'checkpoints' / url.rsplit('/', 1)[1]).write_bytes(b'x')
    announce_downloads(cfg)
    assert 'downloaded before: ' in capsys.readouterr().out
    announce_downloads(apis.load_config('configs/mask_rcnn_golu.py',
                                        {'backbone_checkpoint': None}, None, 'none'))
    assert capsys.readouterr().out == ''


def test_annotation_files_need_cocos_keys_and_large_ones_are_parsed_once(tmp_path, monkeypatch):
    path = tmp_path / 'instances_val.json'
    path.write_text('{}')
    with pytest.raises(ConfigError, match=r"has no 'images', 'annotations', 'categories': not a "
                                          r'COCO instances file'):
        check_annotation_file(str(path), preflight.COCO_KEYS)
    cfg = apis.load_config('configs/demo/mask_rcnn_golu_demo.py', None, None, 'none')
    assert all(keys == preflight.COCO_KEYS for _, keys in preflight.annotation_files(cfg))
    monkeypatch.setenv('GOLU_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setattr(preflight, 'STAMPED_BYTES', 0)
    path.write_text(json.dumps({'images': [], 'annotations': [], 'categories': []}))
    check_annotation_file(str(path), preflight.COCO_KEYS)  # parsed, then stamped

    load = json.load

    def no_parse(f):
        if f.name == str(path):
            raise AssertionError('parsed again')
        return load(f)
    monkeypatch.setattr(preflight.json, 'load', no_parse)
    check_annotation_file(str(path), preflight.COCO_KEYS)
    path.write_text(json.dumps({'images': [], 'annotations': [], 'categories': [1]}))
    with pytest.raises(AssertionError, match='parsed again'):  # another size: parsed again
        check_annotation_file(str(path), preflight.COCO_KEYS)


def test_upstream_tool_options_set_what_upstream_sets():
    seg = apis.load_config('configs/demo/deeplabv3_golu_demo.py', None, None, 'none')
    model = seg.model.copy()
    apis.use_test_time_augmentation(seg)
    assert seg.model.type == 'SegTTAModel' and seg.model.module == model
    assert seg.test_dataloader.dataset.pipeline == seg.tta_pipeline
    det_cfg = apis.load_config('configs/demo/mask_rcnn_golu_demo.py', None, None, 'none')
    with pytest.raises(ConfigError, match='--tta needs tta_model and tta_pipeline'):
        apis.use_test_time_augmentation(det_cfg)
    apis.draw_predictions(det_cfg, 'shown', show=True, wait_time=0.5)
    hook = det_cfg.default_hooks.visualization
    assert (hook.draw, hook.show, hook.wait_time, hook.test_out_dir) == (True, True, 0.5, 'shown')
    apis.enable_auto_scale_lr(det_cfg)
    assert det_cfg.auto_scale_lr == dict(enable=True, base_batch_size=16)
    seg.auto_scale_lr = dict(enable=False)
    with pytest.raises(ConfigError, match='--auto-scale-lr needs auto_scale_lr.base_batch_size'):
        apis.enable_auto_scale_lr(seg)
