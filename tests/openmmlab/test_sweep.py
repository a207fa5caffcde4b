"""The sweep's pieces: which act_cfg keys an activation replaces, and the metrics it reads back."""
import json

import pytest
from mmengine import Config

from golu_mm.analysis.sweep import activation_options, final_metrics


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
    with pytest.raises(RuntimeError, match="no \\['aAcc'\\]"):
        final_metrics(tmp_path, ['mIoU', 'aAcc'])
