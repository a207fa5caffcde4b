"""Activation-matched pretraining: the mmpretrain configs, a tiny pretraining run through the
tools' runner (top-1 evaluated), and the hand-off of its backbone to the detection and
segmentation models: bit-exact, strict (keys named), the activation recorded and checked."""
import pickle
import warnings
from pathlib import Path

import pytest
import torch

from golu_mm.data import config_options, generate_classification
from golu_mm.openmmlab import apis
from golu_mm.openmmlab.activation_record import ActivationMismatchError, allowing_mismatch
from golu_mm.openmmlab.checkpoint import CheckpointError, read_checkpoint
from golu_mm.openmmlab.pretrained import (backbone_state_dict, checkpoint_act_cfg,
                                          extract_backbone)

ROOT = Path(__file__).resolve().parents[2]
PRETRAIN_DEMO = str(ROOT / 'configs/demo/resnet_golu_pretrain_demo.py')
DET_DEMO = str(ROOT / 'configs/demo/mask_rcnn_golu_demo.py')
SEG_DEMO = str(ROOT / 'configs/demo/deeplabv3_golu_demo.py')


def init_from(checkpoint, **extra):
    return {'model.backbone.init_cfg': dict(_delete_=True, type='Pretrained',
                                            checkpoint=str(checkpoint)), **extra}


def initialised_backbone(config, checkpoint, **extra):
    model, _ = apis.build_model(config, cfg_options=init_from(checkpoint, **extra))
    model.init_weights()
    return model.backbone


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    """Three-iteration pretraining runs of the demo config: GoLU ResNet-18 and ResNet-18-V1c."""
    tmp = tmp_path_factory.mktemp('pretrain')
    data = generate_classification(tmp / 'cls', num_train=12, num_val=6, size=32)
    options = {'train_cfg.max_iters': 3, 'train_dataloader.batch_size': 4,
               **config_options(data, detection=False)}
    runs = {}
    for name, extra in (('resnet', {}), ('v1c', {'model.backbone.type': 'ActResNetV1c'})):
        apis.train(PRETRAIN_DEMO, work_dir=str(tmp / name), cfg_options={**options, **extra})
        runs[name] = tmp / name / 'iter_3.pth'
    runs['metrics'] = apis.test(PRETRAIN_DEMO, str(runs['resnet']), work_dir=str(tmp / 'test'),
                                out=str(tmp / 'predictions.pkl'), cfg_options=options)
    runs['tmp'] = tmp
    return runs


@pytest.mark.parametrize('config', sorted((ROOT / 'configs/pretrain').glob('*.py')),
                         ids=lambda p: p.stem)
def test_pretraining_configs_build_with_the_papers_recipe(config):
    cfg = apis.load_config(str(config), None, None, 'none')
    model, _ = apis.build_model(str(config))
    act = 'GoLU' if 'golu' in config.stem else 'ReLU'
    assert cfg.default_scope == 'mmpretrain' and model.backbone.act_cfg['type'] == act
    assert type(model.backbone).__name__ == ('ActResNetV1c' if 'v1c' in config.stem
                                             else 'ActResNet')
    assert model.backbone.depth == 50 and model.head.num_classes == 1000
    assert all(type(m).__name__ == act for m in model.backbone.modules()
               if type(m).__name__ in ('ReLU', 'GoLU'))
    assert {'type': 'ActivationMetaHook'} in cfg.custom_hooks
    assert cfg.model.backbone.norm_cfg.type == 'BN'  # SyncBN in the file, BN on this machine
    sgd = cfg.optim_wrapper.optimizer
    assert (sgd.type, sgd.momentum, sgd.weight_decay) == ('SGD', 0.9, 1e-4)
    if 'from_relu' in config.stem:
        assert cfg.train_cfg.max_epochs == 10 and sgd.lr == 0.01
        assert cfg.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
        assert [s['type'] for s in cfg.param_scheduler] == ['LinearLR', 'CosineAnnealingLR']
    else:
        assert cfg.train_cfg.max_epochs == 90 and sgd.lr == 0.1
        assert cfg.auto_scale_lr.base_batch_size == 256
        assert (cfg.param_scheduler.type, cfg.param_scheduler.milestones,
                cfg.param_scheduler.gamma) == ('MultiStepLR', [30, 60], 0.1)


@pytest.mark.slow  # the pretrained fixture trains twice
def test_pretraining_run_records_its_activation_and_reports_top1(pretrained):
    checkpoint = read_checkpoint(str(pretrained['resnet']))
    assert checkpoint['meta']['act_cfg'] == {'type': 'GoLU'}
    assert checkpoint['meta']['activations'] == {'backbone': ['GoLU'], 'data_preprocessor': [],
                                                 'head': [], 'neck': []}
    assert any(k.startswith('head.') for k in checkpoint['state_dict'])
    predictions = pickle.loads((pretrained['tmp'] / 'predictions.pkl').read_bytes())
    assert len(predictions) == 6 and all(len(p['pred_score']) == 3 for p in predictions)
    top1 = 100 * sum(int(p['pred_label']) == int(p['gt_label']) for p in predictions) / 6
    assert pretrained['metrics']['accuracy/top1'] == pytest.approx(top1)


@pytest.mark.slow  # the pretrained fixture trains twice
@pytest.mark.parametrize('config,run', [(DET_DEMO, 'resnet'), (SEG_DEMO, 'v1c')],
                         ids=['mask_rcnn', 'deeplabv3'])
def test_pretrained_backbone_loads_bit_exactly(pretrained, config, run):
    source = read_checkpoint(str(pretrained[run]))['state_dict']
    backbone = initialised_backbone(config, pretrained[run])
    loaded = backbone.state_dict()
    # mmpretrain's deep stem is ConvModules (stem.0.conv.weight), mmseg's a flat Sequential.
    renamed = backbone_state_dict(source, loaded.keys())
    assert set(renamed) == set(loaded)
    assert all(torch.equal(loaded[k], renamed[k]) for k in loaded)
    assert sum(k.startswith('backbone.') for k in source) == len(loaded)


@pytest.mark.slow  # the pretrained fixture trains twice
def test_wrong_architecture_is_an_error_naming_the_keys(pretrained):
    # A plain-stem ResNet-18 checkpoint into the V1c (deep stem) backbone of DeepLabV3.
    with pytest.raises(CheckpointError, match=r'missing: stem\.0\.weight.*unexpected: conv1'):
        initialised_backbone(SEG_DEMO, pretrained['resnet'])
    # Same stem, other widths: shape mismatches named.
    with pytest.raises(CheckpointError, match=r'shape mismatch: conv1\.weight \(32, 3, 7, 7\)'):
        initialised_backbone(DET_DEMO, pretrained['resnet'],
                             **{'model.backbone.base_channels': 16,
                                'model.neck.in_channels': [16, 32, 64, 128]})


@pytest.mark.slow  # the pretrained fixture trains twice
def test_activation_mismatch_is_refused_unless_allowed(pretrained):
    relu = {'model.backbone.act_cfg.type': 'ReLU'}
    with pytest.raises(ActivationMismatchError, match=r'for backbone init: backbone: GoLU in the '
                                                      r'checkpoint, ReLU in the model'):
        initialised_backbone(DET_DEMO, pretrained['resnet'], **relu)
    allowed = {'model.backbone.init_cfg': dict(_delete_=True, type='Pretrained',
                                               checkpoint=str(pretrained['resnet']),
                                               allow_activation_mismatch=True)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        for _ in range(2):
            initialised_backbone(DET_DEMO, pretrained['resnet'], **relu, **allowed)
        initialised_backbone(DET_DEMO, pretrained['resnet'])  # matched: no warning
        with allowing_mismatch():  # what tools/train.py --allow-activation-mismatch sets
            initialised_backbone(DET_DEMO, pretrained['resnet'], **relu)
    messages = [str(w.message) for w in caught if 'other activations' in str(w.message)]
    assert len(messages) == 1  # once per file and message
    assert 'backbone: GoLU in the checkpoint, ReLU in the model' in messages[0]


@pytest.mark.slow  # the pretrained fixture trains twice
def test_extracted_backbone_round_trip(pretrained):
    out = pretrained['tmp'] / 'golu_r18.pth'
    written = extract_backbone(str(pretrained['resnet']), str(out))
    on_disk = torch.load(out, weights_only=True)  # a plain state_dict
    assert all(isinstance(v, torch.Tensor) for v in on_disk.values())
    assert checkpoint_act_cfg(on_disk, str(out)) == {'type': 'GoLU'}
    keys = set(on_disk)
    assert {'conv1.weight', 'bn1.running_mean', 'layer1.0.conv1.weight',
            'layer2.0.downsample.0.weight', 'layer4.1.bn2.bias'} <= keys  # torchvision's names
    assert not any(k.startswith(('backbone.', 'head.', 'fc.')) for k in keys)
    assert set(written) == keys
    backbone = initialised_backbone(DET_DEMO, out)
    assert all(torch.equal(v, on_disk[k]) for k, v in backbone.state_dict().items())
    with pytest.raises(ActivationMismatchError, match='GoLU in the checkpoint, SiLU in the model'):
        initialised_backbone(DET_DEMO, out, **{'model.backbone.act_cfg.type': 'SiLU'})
    with pytest.raises(CheckpointError, match='no backbone'):
        extract_backbone(str(out), str(pretrained['tmp'] / 'again.pth'))
    # The V1c backbone is written in mmcv's flat stem layout and loads back into DeepLabV3.
    out_v1c = pretrained['tmp'] / 'golu_r18_v1c.pth'
    extract_backbone(str(pretrained['v1c']), str(out_v1c))
    flat = torch.load(out_v1c, weights_only=True)
    assert 'stem.3.weight' in flat and not any('.conv.' in k for k in flat)
    initialised_backbone(SEG_DEMO, out_v1c)


def test_torchvision_style_checkpoint_loads_without_its_classifier(tmp_path):
    """A torchvision ResNet file: fc.* classifier, no num_batches_tracked (old files)."""
    model, _ = apis.build_model(DET_DEMO)
    weights = {k: torch.randn_like(v, dtype=torch.float32) if v.is_floating_point() else v
               for k, v in model.backbone.state_dict().items()
               if not k.endswith('num_batches_tracked')}
    weights.update({'fc.weight': torch.zeros(10, 256), 'fc.bias': torch.zeros(10)})
    torch.save(weights, tmp_path / 'tv.pth')
    with pytest.warns(UserWarning, match='records no activations.*taken as ReLU.*GoLU in the '
                                         'model. Not an activation-matched run'):
        backbone = initialised_backbone(DET_DEMO, tmp_path / 'tv.pth')  # unrecorded: ReLU
    assert all(torch.equal(backbone.state_dict()[k], v) for k, v in weights.items()
               if not k.startswith('fc.'))


def test_extracted_resnet50_loads_into_torchvision(tmp_path):
    """The extracted file of a ResNet-50 classifier uses torchvision's key names: torchvision's
    resnet50 loads it with only its classifier (fc.*) missing, and computes the same features."""
    torchvision = pytest.importorskip('torchvision')
    from golu_mm.openmmlab.mmpretrain_models import ActResNet
    torch.manual_seed(0)
    backbone = ActResNet(depth=50)
    backbone.eval()  # mmpretrain's ResNet.train() returns None
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in backbone.state_dict().items()},
                'meta': {'act_cfg': {'type': 'ReLU'}}}, tmp_path / 'classifier.pth')
    extract_backbone(str(tmp_path / 'classifier.pth'), str(tmp_path / 'r50.pth'))
    reference = torchvision.models.resnet50().eval()
    result = reference.load_state_dict(torch.load(tmp_path / 'r50.pth', weights_only=True),
                                       strict=False)
    assert sorted(result.missing_keys) == ['fc.bias', 'fc.weight'] and not result.unexpected_keys
    x = torch.randn(1, 3, 64, 64)
    trunk = torch.nn.Sequential(*list(reference.children())[:-2])
    with torch.no_grad():
        torch.testing.assert_close(trunk(x), backbone(x)[-1])
