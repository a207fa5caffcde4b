"""Act* backbones and heads: every activation follows act_cfg, the default is upstream exactly,
and state_dict keys match upstream's so ReLU checkpoints load with no missing or unexpected keys."""
import copy

import pytest
import torch
from torch import nn

from golu_mm import GoLU, golu
from golu_mm.nn.activations import GoLUFormula, replace_modules
from golu_mm.openmmlab import mmdet_models as det
from golu_mm.openmmlab import mmpretrain_models as pre
from golu_mm.openmmlab import mmseg_models as seg

BACKBONES = [
    (det.ActResNet, det.ResNet, dict(depth=18)),
    (det.ActResNet, det.ResNet, dict(depth=50)),
    (det.ActResNetV1d, det.ResNetV1d, dict(depth=50)),
    (det.ActResNeXt, det.ResNeXt, dict(depth=50, groups=32, base_width=4)),
    (seg.ActResNet, seg.ResNet, dict(depth=50)),
    (seg.ActResNetV1c, seg.ResNetV1c, dict(depth=50, dilations=(1, 1, 2, 4),
                                           strides=(1, 2, 1, 1), contract_dilation=True)),
    (seg.ActResNetV1d, seg.ResNetV1d, dict(depth=18)),
    # mmpretrain: the stem ReLU is hard-coded upstream; V1c/V1d stems are ConvModules.
    (pre.ActResNet, pre.ResNet, dict(depth=18)),
    (pre.ActResNet, pre.ResNet, dict(depth=50)),
    (pre.ActResNetV1c, pre.ResNetV1c, dict(depth=50)),
    (pre.ActResNetV1d, pre.ResNetV1d, dict(depth=18)),
]
IDS = [f'{a.__module__.split(".")[-1]}.{a.__name__}-{k["depth"]}' for a, _, k in BACKBONES]


def activations(model):
    return [m for m in model.modules() if isinstance(m, (nn.ReLU, GoLU))]


def outputs(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize('act_cls,upstream_cls,kwargs', BACKBONES, ids=IDS)
def test_backbone(act_cls, upstream_cls, kwargs):
    torch.manual_seed(0)
    upstream = upstream_cls(**kwargs)
    relu_model = act_cls(**kwargs)
    golu_model = act_cls(**kwargs, act_cfg=dict(type='GoLU'))
    # Default: upstream exactly, same outputs for the same weights.
    relu_model.load_state_dict(upstream.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    for a, b in zip(outputs(upstream, x), outputs(relu_model, x)):
        assert torch.equal(a, b)
    # GoLU: no ReLU left, one GoLU for every upstream ReLU, identical keys.
    acts = activations(golu_model)
    assert acts and all(isinstance(m, GoLU) for m in acts)
    assert not any(isinstance(m, nn.ReLU) for m in golu_model.modules())
    assert len(acts) == len(activations(upstream))
    result = golu_model.load_state_dict(upstream.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert list(golu_model.state_dict()) == list(upstream.state_dict())
    # and it computes upstream's network with GoLU's formula at each ReLU (fused or not)
    formula = copy.deepcopy(upstream)
    assert replace_modules(formula, GoLUFormula) == len(acts)
    for want, got in zip(outputs(formula, x), outputs(golu_model, x)):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_rpn_head_activation():
    torch.manual_seed(0)
    cfg = dict(in_channels=8, feat_channels=8, anchor_generator=dict(
        type='AnchorGenerator', scales=[8], ratios=[1.0], strides=[4]))
    upstream = det.RPNHead(**cfg)
    relu_head = det.ActRPNHead(**cfg)
    golu_head = det.ActRPNHead(**cfg, act_cfg=dict(type='GoLU'))
    relu_head.load_state_dict(upstream.state_dict())
    golu_head.load_state_dict(upstream.state_dict())
    x = torch.randn(1, 8, 6, 6)
    for a, b in zip(upstream.forward_single(x), relu_head.forward_single(x)):
        assert torch.equal(a, b)
    hidden = golu(upstream.rpn_conv(x))
    torch.testing.assert_close(golu_head.forward_single(x)[0], upstream.rpn_cls(hidden))


@pytest.mark.parametrize('head_cls,upstream_cls,kwargs', [
    (det.ActShared2FCBBoxHead, det.Shared2FCBBoxHead,
     dict(in_channels=8, fc_out_channels=16, roi_feat_size=7, num_classes=3)),
    (det.ActFCNMaskHead, det.FCNMaskHead,
     dict(num_convs=2, in_channels=8, conv_out_channels=8, num_classes=3)),
    (det.ActRetinaHead, det.RetinaHead, dict(num_classes=3, in_channels=8, feat_channels=8,
                                             stacked_convs=2)),
])
def test_roi_heads_activation(head_cls, upstream_cls, kwargs):
    head = head_cls(**kwargs, act_cfg=dict(type='GoLU'))
    upstream = upstream_cls(**kwargs)
    assert activations(head) and all(isinstance(m, GoLU) for m in activations(head))
    assert len(activations(head)) == len(activations(upstream))
    assert list(head.state_dict()) == list(upstream.state_dict())


def test_retina_head_computes_with_its_act_cfg():
    """The GoLU RetinaHead with upstream's weights: each conv of both towers followed by GoLU
    (computed here from the convs), upstream's ReLU head unchanged by the default act_cfg."""
    torch.manual_seed(0)
    kwargs = dict(num_classes=3, in_channels=8, feat_channels=8, stacked_convs=2)
    upstream = det.RetinaHead(**kwargs)
    golu_head = det.ActRetinaHead(**kwargs, act_cfg=dict(type='GoLU'))
    relu_head = det.ActRetinaHead(**kwargs)
    for head in (golu_head, relu_head):
        head.load_state_dict(upstream.state_dict(), strict=True)
    x = torch.randn(1, 8, 6, 6)
    for a, b in zip(upstream.forward_single(x), relu_head.forward_single(x)):
        assert torch.equal(a, b)
    cls, reg = x, x
    for cls_conv, reg_conv in zip(upstream.cls_convs, upstream.reg_convs):
        cls, reg = golu(cls_conv.conv(cls)), golu(reg_conv.conv(reg))
    expected = (upstream.retina_cls(cls), upstream.retina_reg(reg))
    for got, want in zip(golu_head.forward_single(x), expected):
        torch.testing.assert_close(got, want)
