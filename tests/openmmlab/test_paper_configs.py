"""configs/paper/: the paper's recipes build (models and data pipelines), run a forward/backward
on a tiny input, and DeepLabV3 trains and evaluates on COCO-VOC labels converted from COCO-style
synthetic scenes."""
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from golu_mm.data import generate
from golu_mm.data.coco_voc import convert
from golu_mm.openmmlab import apis

from .test_configs import build
from .test_stack_smoke import assert_trains, segmentation_inputs

PAPER = Path(__file__).resolve().parents[2] / 'configs' / 'paper'
CONFIGS = sorted(p.name for p in PAPER.glob('*.py'))


def test_every_row_has_a_relu_and_a_golu_config():
    rows = {name.rsplit('_', 1)[0] for name in CONFIGS}
    assert rows == {'faster_rcnn_r50_fpn_26e', 'mask_rcnn_r50_fpn_26e_lr003',
                    'mask_rcnn_r50_fpn_26e', 'retinanet_r50_fpn_v2_26e',
                    'deeplabv3_r50_d8_cocovoc_30e'}
    assert set(CONFIGS) == {f'{row}_{act}.py' for row in rows for act in ('relu', 'golu')}


@pytest.mark.parametrize('name', CONFIGS)
def test_recipe(name):
    cfg, model = build(f'paper/{name}')
    act = 'GoLU' if name.endswith('golu.py') else 'ReLU'
    assert cfg.act_cfg == dict(type=act) and model.backbone.act_cfg['type'] == act
    assert model.backbone.depth == 50
    sgd = cfg.optim_wrapper.optimizer
    if name.startswith('deeplabv3'):
        assert cfg.train_cfg.max_epochs == 30 and (sgd.type, sgd.lr) == ('SGD', 0.01)
        assert model.decode_head.num_classes == 21 and model.auxiliary_head.num_classes == 21
        assert model.auxiliary_head.loss_decode.loss_weight == 0.5
        assert model.backbone.dilations == (1, 1, 2, 4) and not model.backbone.deep_stem
        assert cfg.train_dataloader.dataset.type == 'COCOVOCDataset'
        return
    assert cfg.train_cfg.max_epochs == 26
    steps = [s for s in cfg.param_scheduler if s['type'] == 'MultiStepLR']
    assert steps and steps[0]['milestones'] == [16, 22]
    assert cfg.auto_scale_lr.base_batch_size == 16
    if name.startswith('retinanet'):
        assert (sgd.type, sgd.lr, sgd.weight_decay) == ('AdamW', 1e-4, 0.05)
        assert type(model.bbox_head.loss_bbox).__name__ == 'GIoULoss'
        assert any(type(m).__name__ == 'GroupNorm' for m in model.bbox_head.modules())
    else:
        assert sgd.lr == (0.03 if 'lr003' in name else 0.02)


def scoped_pipeline(cfg, pipeline):
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return Compose(pipeline)


@pytest.mark.slow  # a training step of each full-size recipe
@pytest.mark.parametrize('name', [n for n in CONFIGS if n.endswith('golu.py')])
def test_pipelines_resolve_and_model_trains(name):
    cfg, model = build(f'paper/{name}')
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        assert len(scoped_pipeline(cfg, loader.dataset.pipeline).transforms) >= 3
    torch.manual_seed(0)
    for p in model.backbone.parameters():
        p.requires_grad_(True)
    model.backbone.frozen_stages = -1
    if name.startswith('deeplabv3'):
        data = segmentation_inputs(model, num_classes=21)
    else:
        from mmdet.testing import demo_mm_inputs
        data = demo_mm_inputs(batch_size=2, image_shapes=[(3, 96, 96)] * 2, num_items=[2, 3],
                              num_classes=80, with_mask=name.startswith('mask'))
    assert_trains(model, data)


@pytest.mark.slow
def test_deeplabv3_cocovoc_trains_and_evaluates_on_converted_scenes(tmp_path):
    scenes = generate(tmp_path / 'scenes', num_train=12, num_val=4, size=128, seed=4)
    coco = tmp_path / 'data' / 'coco'  # COCO's layout; the scenes' classes are COCO ids 1-3
    (coco / 'annotations').mkdir(parents=True)
    for split in ('train', 'val'):
        shutil.copytree(scenes / 'coco' / split, coco / f'{split}2017')
        for png in (coco / f'{split}2017').glob('*.png'):
            png.rename(png.with_suffix('.jpg'))  # COCOVOCDataset reads .jpg (cv2 reads by content)
        text = (scenes / 'coco' / 'annotations' / f'instances_{split}.json').read_text()
        (coco / 'annotations' / f'instances_{split}2017.json').write_text(
            text.replace('.png"', '.jpg"'))
    kept = convert(coco, tmp_path / 'data' / 'coco_voc', log=lambda _: None)
    assert len(kept['val2017']) == 4 and 0 < len(kept['train2017']) <= 12
    options = {
        'data_root': str(tmp_path / 'data') + '/', 'model.backbone.depth': 18,
        'model.backbone.init_cfg': None, 'model.decode_head.in_channels': 512,
        'model.decode_head.channels': 32, 'model.auxiliary_head.in_channels': 256,
        'model.auxiliary_head.channels': 16, 'model.data_preprocessor.size': (64, 64),
        'train_cfg.max_epochs': 1, 'train_dataloader.batch_size': 2,
        'default_hooks.logger.interval': 1,
        **{f'{loader}.{key}': value for loader in ('train_dataloader', 'val_dataloader',
                                                    'test_dataloader')
           for key, value in (('num_workers', 0), ('persistent_workers', False),
                              ('dataset.data_root', str(tmp_path / 'data') + '/'))},
        'train_dataloader.dataset.pipeline.2.scale': (256, 64),
        'train_dataloader.dataset.pipeline.3.crop_size': (64, 64),
        'val_dataloader.dataset.pipeline.1.scale': (256, 64),
        'test_dataloader.dataset.pipeline.1.scale': (256, 64),
    }
    config = str(PAPER / 'deeplabv3_r50_d8_cocovoc_30e_golu.py')
    apis.train(config, work_dir=str(tmp_path / 'work'), cfg_options=options)
    metrics = apis.test(config, str(tmp_path / 'work' / 'epoch_1.pth'),
                        work_dir=str(tmp_path / 'work'), out=str(tmp_path / 'predicted'),
                        cfg_options=options)
    # the mIoU recomputed from the written prediction maps and the converted label maps: per
    # class intersection / union over the 4 images (255 ignored), the mean over classes present
    labels = sorted((tmp_path / 'data' / 'coco_voc' / 'annotations' / 'val2017').glob('*.png'))
    assert len(labels) == 4
    intersection, union = np.zeros(21), np.zeros(21)
    for label_file in labels:
        label = cv2.imread(str(label_file), cv2.IMREAD_UNCHANGED)
        predicted = cv2.imread(str(tmp_path / 'predicted' / label_file.name), cv2.IMREAD_UNCHANGED)
        assert predicted.shape == label.shape
        valid = label != 255
        for c in range(21):
            p, g = (predicted == c) & valid, (label == c) & valid
            intersection[c] += (p & g).sum()
            union[c] += (p | g).sum()
    present = union > 0
    assert metrics['mIoU'] == pytest.approx(100 * (intersection[present] / union[present]).mean(),
                                            abs=0.006)
