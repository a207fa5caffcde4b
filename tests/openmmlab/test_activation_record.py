"""The activation record: every checkpoint our runs write names the model's activations, and a
checkpoint trained with other activations (a file without a record counts as ReLU) is refused for
evaluation, resume and load_from, allowed only when asked, warned about when an unrecorded file
initialises a fine-tune."""
import warnings

import pytest
import torch
from mmengine.registry import DefaultScope

from golu_mm.data import config_options, generate
from golu_mm.openmmlab import apis
from golu_mm.openmmlab.activation_record import (ActivationMismatchError, activation_mismatches,
                                                 check_activations, model_activations)
from golu_mm.openmmlab.checkpoint import read_checkpoint

DET = 'configs/demo/mask_rcnn_golu_demo.py'
SEG = 'configs/demo/deeplabv3_golu_demo.py'
RELU = {'act_cfg.type': 'ReLU', 'model.backbone.act_cfg.type': 'ReLU'}


def test_activation_mismatches_name_each_component():
    model = {'backbone': ['GoLU'], 'roi_head': ['ReLU']}
    assert activation_mismatches(model, model) == []
    assert activation_mismatches({'backbone': ['ReLU'], 'roi_head': ['ReLU']}, model) == [
        'backbone: ReLU in the checkpoint, GoLU in the model']
    # No record: ReLU wherever the model has an activation.
    assert activation_mismatches(None, {'backbone': ['ReLU'], 'roi_head': ['ReLU']}) == []
    assert activation_mismatches(None, model) == ['backbone: ReLU in the checkpoint, GoLU in the model']
    assert activation_mismatches(None, {'backbone': ['ReLU'], 'neck': []}) == []
    assert activation_mismatches({'backbone': ['GoLU'], 'rpn_head': []},
                       {**model, 'rpn_head': ['GoLU']}) == [
        'rpn_head: none in the checkpoint, GoLU in the model']
    # Only the components both have (an older record names the backbone only).
    assert activation_mismatches({'backbone': ['GoLU']}, model) == []


def test_purposes_decide_between_error_and_warning():
    model = {'backbone': ['GoLU']}
    for purpose in ('evaluation', 'resume', 'load_from', 'backbone init'):
        with pytest.raises(ActivationMismatchError, match='--allow-activation-mismatch'):
            check_activations({'backbone': ['ReLU']}, model, 'f.pth', purpose)
        with pytest.warns(UserWarning, match=f'f.pth was trained with.*{purpose}'):
            check_activations({'backbone': ['ReLU']}, model, 'f.pth', purpose, allowed=True)
    for purpose in ('evaluation', 'resume'):  # unrecorded: refused where a number comes out
        with pytest.raises(ActivationMismatchError, match='records no activations'):
            check_activations(None, model, 'zoo.pth', purpose)
    for purpose in ('load_from', 'backbone init'):  # ... and a fine-tune's start only warned
        with pytest.warns(UserWarning, match='taken as ReLU'):
            check_activations(None, model, 'zoo.pth', purpose)
    with pytest.raises(ValueError, match='purpose'):
        check_activations(None, model, 'zoo.pth', 'export')


def upstream_mask_rcnn_file(tmp_path):
    """A checkpoint as mmdet's own config writes it: the demo's Mask R-CNN with mmdet's ResNet
    (no act_cfg anywhere), meta without an activation record."""
    backbone = dict(_delete_=True, type='ResNet', depth=18, base_channels=32, num_stages=4,
                    out_indices=(0, 1, 2, 3), norm_cfg=dict(type='BN', requires_grad=True),
                    style='pytorch', frozen_stages=-1, norm_eval=False)
    model, _ = apis.build_model(DET, cfg_options={'model.backbone': backbone})
    assert type(model.backbone).__name__ == 'ResNet'
    path = tmp_path / 'mask_rcnn_upstream.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'mmdet_version': '3.3.0'}}, path)
    return path


def test_upstream_relu_checkpoint_is_refused_by_a_golu_config(tmp_path):
    path = str(upstream_mask_rcnn_file(tmp_path))
    with pytest.raises(ActivationMismatchError, match=r'records no activations.*backbone: ReLU '
                                                      r'in the checkpoint, GoLU in the model'):
        apis.build_model(DET, path)
    model, _ = apis.build_model(DET, path, cfg_options=RELU)  # the ReLU config: fine
    assert model_activations(model)['backbone'] == ['ReLU']
    with pytest.warns(UserWarning, match='Not an activation-matched run'):
        apis.build_model(DET, path, allow_activation_mismatch=True)


@pytest.mark.slow
def test_runs_record_and_check_their_activations(tmp_path):
    # The runners set mmengine's default scope (mmseg) for the process: restored after.
    with DefaultScope.overwrite_default_scope('mmseg'):
        check_runs(tmp_path)


def check_runs(tmp_path):
    data = generate(tmp_path / 'data', num_train=4, num_val=2, size=64, seed=3)
    opts = {'train_cfg.max_iters': 1, 'train_dataloader.batch_size': 2,
            **config_options(data, detection=False)}
    apis.train(SEG, work_dir=str(tmp_path / 'golu'), cfg_options=opts)
    golu_ckpt = str(tmp_path / 'golu' / 'iter_1.pth')
    record = read_checkpoint(golu_ckpt)['meta']['activations']
    assert record == {'auxiliary_head': ['ReLU'], 'backbone': ['GoLU'], 'data_preprocessor': [],
                      'decode_head': ['ReLU']}

    relu = {**opts, **RELU}
    with pytest.raises(ActivationMismatchError, match=r'for evaluation: backbone: GoLU in the '
                                                      r'checkpoint, ReLU in the model'):
        apis.test(SEG, golu_ckpt, work_dir=str(tmp_path / 'test'), cfg_options=relu)
    with pytest.warns(UserWarning, match='for evaluation'):
        metrics = apis.test(SEG, golu_ckpt, work_dir=str(tmp_path / 'test'), cfg_options=relu,
                            allow_activation_mismatch=True)
    assert 'mIoU' in metrics
    with pytest.raises(ActivationMismatchError, match='for load_from'):
        apis.train(SEG, work_dir=str(tmp_path / 'relu'),
                   cfg_options={**relu, 'load_from': golu_ckpt})
    with pytest.raises(ActivationMismatchError, match='for resume'):
        apis.train(SEG, work_dir=str(tmp_path / 'golu'), resume='auto',
                   cfg_options={**relu, 'train_cfg.max_iters': 2})
    # The matching config evaluates it without a word about activations.
    with warnings.catch_warnings():
        warnings.filterwarnings('error', message='.*trained with other activations')
        assert 'mIoU' in apis.test(SEG, golu_ckpt, work_dir=str(tmp_path / 'test'),
                                   cfg_options=opts)

    # README's "Run a trained model on images": mmseg's own inferencer takes our config.
    from mmseg.apis import MMSegInferencer
    image = next((data / 'ade' / 'images' / 'validation').glob('*.png'))
    result = MMSegInferencer(model=SEG, weights=golu_ckpt, device='cpu')(
        str(image), out_dir=str(tmp_path / 'inferred'), return_datasamples=True)
    assert tuple(result.pred_sem_seg.data.shape) == (1, 64, 64)
    assert any((tmp_path / 'inferred').rglob('*.png'))


def test_the_record_knows_every_compared_activation():
    """The record's activation names derive from the one table of compared activations: each
    module act_cfg builds for them is recorded (a new table entry cannot pass unrecorded)."""
    from mmcv.cnn import build_activation_layer
    from golu_mm.nn.activations import ACTIVATIONS
    from golu_mm.openmmlab.activation_record import ACTIVATION_CLASSES, activations_in
    for name in ACTIVATIONS:
        built = build_activation_layer(dict(type=name))
        assert type(built).__name__ in ACTIVATION_CLASSES, name
        assert activations_in(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1), built)) == [
            type(built).__name__]
