"""The full stack works on this machine: Mask R-CNN R50-FPN and DeepLabV3 R50-D8, built from the
shipped GoLU configs (which inherit mmdet's / mmseg's packaged base configs), run one
forward+backward on a tiny CPU input with finite losses and gradients everywhere."""
import torch
from mmengine.structures import PixelData

from golu_mm import GoLU

from .test_configs import build


def assert_trains(model, data):
    model.train()
    data = model.data_preprocessor(data, True)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(isinstance(m, GoLU) for m in model.backbone.modules())


def test_mask_rcnn_r50_fpn_forward_backward():
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(0)
    _, model = build('mask_rcnn_golu.py')
    model.backbone.frozen_stages = -1  # let every backbone parameter receive a gradient
    for p in model.backbone.parameters():
        p.requires_grad_(True)
    data = demo_mm_inputs(batch_size=1, image_shapes=[(3, 96, 96)], num_items=[2],
                          num_classes=80, with_mask=True)
    assert_trains(model, data)


def segmentation_inputs(model, num_classes):
    """Two random 64x64 images with label maps (ASPP's image pooling needs a batch of two for
    BatchNorm), the model's preprocessor set to pad to 64x64 instead of its crop size."""
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64),
                                             pad_shape=(64, 64)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, 64, 64)))
        samples.append(sample)
    model.data_preprocessor.size = (64, 64)
    return dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)] * 2,
                data_samples=samples)


def test_deeplabv3_r50_d8_forward_backward():
    torch.manual_seed(0)
    _, model = build('deeplabv3_golu.py')
    assert_trains(model, segmentation_inputs(model, num_classes=150))
