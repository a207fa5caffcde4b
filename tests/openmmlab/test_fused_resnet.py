"""The Act* ResNets with GoLU run BN → GoLU fused (fuse_bn_golu, on by default): the outputs,
gradients and BN statistics of the unfused model, upstream's state_dict keys, with_cp, frozen
stages and norm_eval; and the saved-for-backward memory of in-place ReLU."""
import copy

import pytest
import torch

from golu_mm.analysis.model_cost import saved_activation_bytes
from golu_mm.nn import fuse_resnet
from golu_mm.nn.fused_blocks import FusedBlockMixin
from golu_mm.openmmlab import mmdet_models as det
from golu_mm.openmmlab import mmpretrain_models as pre
from golu_mm.openmmlab import mmseg_models as seg

GOLU = dict(type='GoLU')
CASES = [
    (det.ActResNet, det.ResNet, dict(depth=50, frozen_stages=1, norm_eval=True)),
    (det.ActResNet, det.ResNet, dict(depth=18)),
    (det.ActResNetV1d, det.ResNetV1d, dict(depth=50)),  # deep stem, avg_down downsample
    (det.ActResNeXt, det.ResNeXt, dict(depth=50, groups=32, base_width=4, with_cp=True)),
    (seg.ActResNetV1c, seg.ResNetV1c, dict(depth=50, dilations=(1, 1, 2, 4),
                                           strides=(1, 2, 1, 1), contract_dilation=True)),
    (pre.ActResNet, pre.ResNet, dict(depth=50)),
    (pre.ActResNetV1c, pre.ResNetV1c, dict(depth=18)),  # ConvModule deep stem: run unfused
    (seg.ActResNeXt, seg.ResNeXt, dict(depth=50, groups=32, base_width=4)),
    (pre.ActResNeXt, pre.ResNeXt, dict(depth=50, groups=32, width_per_group=4)),
]
IDS = [f'{c.__module__.split(".")[-1]}.{c.__name__}-{k["depth"]}' for c, _, k in CASES]


def outputs(model, x):
    outs = model(x)
    return tuple(outs.values()) if isinstance(outs, dict) else outs if isinstance(
        outs, tuple) else (outs,)


def loss_and_grads(model, x):
    model.train()
    outs = outputs(model, x)
    loss = sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs)
    model.zero_grad(set_to_none=True)
    loss.backward()  # not autograd.grad: upstream's with_cp is reentrant checkpointing
    return outs, [p.grad for p in model.parameters() if p.requires_grad]


def scaled_error(a, exact):
    return ((a.double() - exact).abs().max() / exact.abs().max()).item()


@pytest.mark.parametrize('cls,upstream,kwargs', CASES, ids=IDS)
def test_fused_matches_unfused(cls, upstream, kwargs):
    """Fused and unfused modules compute the same (assert_as_exact_as_unfused)."""
    torch.manual_seed(0)
    fused = cls(act_cfg=GOLU, **kwargs)
    unfused = cls(act_cfg=GOLU, fuse_bn_golu=False, **kwargs)
    unfused.load_state_dict(fused.state_dict())
    assert list(fused.state_dict()) == list(upstream(**kwargs).state_dict())
    assert all(isinstance(b, FusedBlockMixin) for b in fused.modules() if hasattr(b, 'conv2'))
    assert_as_exact_as_unfused(fused, unfused, torch.randn(2, 3, 64, 64))


def assert_as_exact_as_unfused(fused, unfused, x):
    """Outputs, gradients and running statistics of a training step (unfused holding fused's
    weights): fused float32 is as close to the unfused float64 model as unfused float32 is (up to
    4x: the two round in different orders, through batch-2 BatchNorms on 2x2 maps; or 1e-5 of
    the tensor's scale). A wrong formula or a lost term is off by orders of magnitude more."""
    exact = copy.deepcopy(unfused).double()
    results = [loss_and_grads(m, x) for m in (fused, unfused)]
    outs, grads = loss_and_grads(exact, x.double())
    states = [list(m.state_dict().values()) for m in (fused, unfused)]
    for got, want, exact_values in ((*(r[0] for r in results), outs),
                                    (*(r[1] for r in results), grads),
                                    (*states, list(exact.state_dict().values()))):
        assert len(got) == len(want) == len(exact_values)
        for a, b, c in zip(got, want, exact_values):
            if c.is_floating_point() and c.abs().max() > 0:
                assert scaled_error(a, c) <= max(4 * scaled_error(b, c), 1e-5)
            else:
                assert torch.equal(a.to(c.dtype), c)  # num_batches_tracked


@pytest.mark.parametrize('cls,upstream,kwargs', CASES, ids=IDS)
def test_initialisation_is_upstreams(cls, upstream, kwargs):
    """Same seed, same weights as upstream after init_weights (mmdet/mmseg choose
    zero_init_residual's target by the block class: fused blocks must not hide it)."""
    models = []
    for build in (lambda: upstream(**kwargs), lambda: cls(act_cfg=GOLU, **kwargs)):
        torch.manual_seed(0)
        model = build()
        model.init_weights()
        models.append(model.state_dict())
    for (name, a), b in zip(models[0].items(), models[1].values()):
        assert torch.equal(a, b), name


def test_with_cp_and_the_switch_change_memory_not_results():
    torch.manual_seed(0)
    plain = det.ActResNet(depth=50, act_cfg=GOLU)
    checkpointed = det.ActResNet(depth=50, act_cfg=GOLU, with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 64, 64, requires_grad=True)
    _, grads = loss_and_grads(plain, x)
    _, grads_cp = loss_and_grads(checkpointed, x)
    for a, b in zip(grads, grads_cp):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    with pytest.raises(TypeError, match='fuse_bn_golu must be True or False'):
        det.ActResNet(depth=18, act_cfg=GOLU, fuse_bn_golu='yes')


@pytest.mark.parametrize('norm_eval', [True, False])
def test_saves_what_in_place_relu_saves(norm_eval):
    """The issue's measure (unique non-parameter storages saved for backward, frozen_stages=1):
    within 5 % of in-place ReLU fused, about 1.4x unfused."""
    torch.manual_seed(0)
    kwargs = dict(depth=50, frozen_stages=1, norm_eval=norm_eval)
    models = {'relu': det.ActResNet(**kwargs), 'golu': det.ActResNet(act_cfg=GOLU, **kwargs),
              'unfused': det.ActResNet(act_cfg=GOLU, fuse_bn_golu=False, **kwargs)}
    x = torch.randn(1, 3, 128, 128)
    saved = {}
    for name, model in models.items():
        model.train()
        saved[name] = saved_activation_bytes(model, lambda m=model: sum(o.sum() for o in m(x)))
    print({k: f'{v / 2 ** 20:.1f} MiB' for k, v in saved.items()},
          f'golu/relu {saved["golu"] / saved["relu"]:.3f}')
    assert saved['golu'] <= 1.05 * saved['relu']
    assert saved['unfused'] >= 1.3 * saved['relu']


@pytest.mark.parametrize('name', ['resnet18', 'resnet50', 'fasterrcnn_resnet50_fpn'])
def test_torchvision_resnets_fuse_with_their_keys(name):
    """fuse_resnet puts torchvision's parts' fused classes in place of the GoLU ones (a
    detector's IntermediateLayerGetter body included): the same keys and gradients, and what
    in-place ReLU saves for backward; once only, and a ReLU model is left as it is."""
    torchvision = pytest.importorskip('torchvision')
    from golu_mm import GoLU
    from golu_mm.nn import torchvision_blocks as tv
    from golu_mm.nn.activations import replace_modules
    torch.manual_seed(0)
    if name.startswith('resnet'):
        model = body = getattr(torchvision.models, name)()
        stem_class = tv.FusedResNet
    else:
        model = torchvision.models.detection.fasterrcnn_resnet50_fpn(weights=None,
                                                                     weights_backbone=None)
        body, stem_class = model.backbone.body, tv.FusedIntermediateLayerGetter
    relu_model = copy.deepcopy(body)
    assert fuse_resnet(relu_model) is relu_model and str(relu_model) == str(body)
    replace_modules(body, GoLU)
    reference = copy.deepcopy(body)
    model = fuse_resnet(model)
    body = model if name.startswith('resnet') else model.backbone.body
    assert type(body) is stem_class and isinstance(body.relu, GoLU)
    blocks = [m for m in body.modules() if hasattr(m, 'downsample')]
    assert blocks and all(isinstance(b, FusedBlockMixin) for b in blocks)
    assert 'fuse_bn_golu=True: stem bn1 → relu' in str(body)
    assert 'fuse_bn_golu=True: bn1 → relu, bn2 + downsample → relu' in str(body) or (
        'fuse_bn_golu=True: bn1 → relu, bn2 → relu, bn3 + downsample → relu' in str(body))
    assert list(body.state_dict()) == list(reference.state_dict())
    assert fuse_resnet(model) is model and type(body.layer1[0]) is type(blocks[0])
    x = torch.randn(2, 3, 64, 64)
    assert_as_exact_as_unfused(body, copy.deepcopy(reference), x)
    relu = copy.deepcopy(reference)
    replace_modules(relu, lambda: torch.nn.ReLU(inplace=True), GoLU)
    saved = {key: saved_activation_bytes(m, lambda m=m: sum(o.sum() for o in outputs(m, x)))
             for key, m in (('fused', body), ('unfused', reference), ('relu', relu))}
    assert saved['fused'] <= 1.05 * saved['relu'] and saved['unfused'] >= 1.3 * saved['relu']


def test_activation_hooks_see_every_call_when_unfused():
    """A fused node calls no activation module; golu_mm.nn.unfused (used by the activation plots)
    runs the modules for hooks, and restores fusion afterwards."""
    from golu_mm.analysis.plots import activation_outputs
    from golu_mm.nn import unfused
    model = det.ActResNet(depth=18, act_cfg=GOLU)
    model.eval()  # (mmdet's ResNet.train returns None)
    x = torch.randn(1, 3, 64, 64)
    calls = []
    hook = model.layer1[0].relu.register_forward_hook(lambda *args: calls.append(1))
    model(x)
    assert calls == []  # fused: the module is not called
    with unfused(model):
        model(x)
    assert len(calls) == 2  # a BasicBlock applies its activation twice
    hook.remove()
    assert len(activation_outputs(model, x)) == 1 + 8 * 2  # the stem, then 8 blocks
    assert model.fuse_bn_golu and all(b.fuse_bn_golu for b in model.layer1)
    calls.clear()
    model.layer1[0].relu.register_forward_hook(lambda *args: calls.append(1))
    model(x)
    assert calls == []


def test_every_parameter_gets_a_gradient_of_its_own():
    """No two parameters' .grad share storage (a downsample BN's bias and the block's last BN
    bias have the same gradient: it must still be two tensors), in every Act* case."""
    for cls, _, kwargs in CASES:
        torch.manual_seed(0)
        model = cls(act_cfg=GOLU, **kwargs)
        _, grads = loss_and_grads(model, torch.randn(2, 3, 32, 32))
        storages = [g.untyped_storage().data_ptr() for g in grads]
        assert len(set(storages)) == len(storages), cls.__name__


@pytest.mark.parametrize('optim', [dict(clip_grad=dict(max_norm=0.05)),
                                   dict(accumulative_counts=2)], ids=['clip', 'accumulate'])
def test_fused_trains_as_unfused_with_in_place_gradient_updates(optim):
    """Several mmengine optimizer steps with gradient clipping, or with accumulation (both
    update .grad in place): fused and unfused float64 models end with the same parameters."""
    from mmengine.optim import OptimWrapper
    torch.manual_seed(0)
    fused = det.ActResNet(depth=18, act_cfg=GOLU).double()
    unfused = det.ActResNet(depth=18, act_cfg=GOLU, fuse_bn_golu=False).double()
    unfused.load_state_dict(fused.state_dict())
    start = copy.deepcopy(fused.state_dict())
    batches = [torch.randn(2, 3, 32, 32, dtype=torch.float64) for _ in range(4)]
    for model in (fused, unfused):
        model.train()
        wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), **optim)
        for x in batches:
            wrapper.update_params(sum((o * o.tanh()).mean() for o in model(x)))
    moved = max((fused.state_dict()[k] - v).abs().max().item() for k, v in start.items()
                if v.is_floating_point())
    assert moved > 1e-4  # the steps did change the parameters
    for (name, a), b in zip(fused.state_dict().items(), unfused.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10, msg=name)


def test_print_shows_the_fused_blocks_and_what_they_fuse():
    """The blocks are the Fused* classes written in source; print(model) names each fused
    BN → GoLU (and says inactive while the activation is ReLU)."""
    golu, relu = det.ActResNet(depth=50, act_cfg=GOLU), det.ActResNet(depth=50)
    for model in (golu, relu):
        assert [type(b) for b in model.layer1] == [det.FusedBottleneck] * 3
    assert type(det.ActResNeXt(depth=50).layer1[0]) is det.FusedResNeXtBottleneck
    assert type(seg.ActResNetV1c(depth=18).layer1[0]) is seg.FusedBasicBlock
    assert type(pre.ActResNet(depth=50).layer1[0]) is pre.FusedBottleneck
    text = str(golu)
    assert "act_cfg={'type': 'GoLU'}, fuse_bn_golu=True: stem bn1 → relu" in text
    assert 'fuse_bn_golu=True: bn1 → relu, bn2 → relu, bn3 + downsample → relu' in text
    assert 'fuse_bn_golu=True: bn1 → relu, bn2 → relu, bn3 + identity → relu' in text
    assert 'inactive: relu is ReLU' in str(relu) and 'inactive' not in text
    assert 'fuse_bn_golu=False: bn1' in str(det.ActResNet(depth=18, act_cfg=GOLU,
                                                          fuse_bn_golu=False))


def test_a_block_without_a_fused_class_is_refused():
    class Custom(det.BasicBlock):
        pass

    class CustomResNet(det.ActResNet):
        arch_settings = {18: (Custom, (2, 2, 2, 2))}

    with pytest.raises(TypeError, match='fused_blocks has no fused class for .*Custom'):
        CustomResNet(depth=18)


def test_batchnorm_conversions_keep_the_fusion():
    """Fusion is the block's forward over its own norm and relu slots, so the tools that swap
    norm classes (mmengine's revert_sync_batchnorm, on a SyncBN config run on one CPU process;
    torch's convert_sync_batchnorm) keep the GoLU and the fused path: a norm-act module (a
    BatchNorm subclass that applies the activation) would lose its activation there."""
    from mmengine.model import revert_sync_batchnorm
    from golu_mm.analysis.model_cost import saved_activation_bytes as saved
    torch.manual_seed(0)
    model = revert_sync_batchnorm(det.ActResNet(depth=18, act_cfg=GOLU,
                                                norm_cfg=dict(type='SyncBN')))
    unfused = det.ActResNet(depth=18, act_cfg=GOLU, fuse_bn_golu=False)
    unfused.load_state_dict(model.state_dict())
    assert type(model.layer1[0].bn1) is not torch.nn.SyncBatchNorm
    assert_as_exact_as_unfused(model, unfused, torch.randn(2, 3, 32, 32))
    x = torch.randn(1, 3, 64, 64)
    assert saved(model, lambda: sum(o.sum() for o in model(x))) < 0.8 * saved(
        unfused, lambda: sum(o.sum() for o in unfused(x)))
    synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(model))
    assert isinstance(synced.layer1[0].bn1, torch.nn.SyncBatchNorm)
    assert type(synced.layer1[0]) is det.FusedBasicBlock
    assert type(synced.layer1[0].relu).__name__ == 'GoLU'


def test_whole_models_pickle():
    """The fused classes are importable by name (runtime-made classes were not), so a whole
    model pickles: torch.save(model), multiprocessing."""
    import pickle
    torchvision = pytest.importorskip('torchvision')
    from golu_mm import GoLU
    from golu_mm.nn.activations import replace_modules
    resnet = torchvision.models.resnet18()
    replace_modules(resnet, GoLU)
    for model in (det.ActResNet(depth=18, act_cfg=GOLU), fuse_resnet(resnet)):
        copy_ = pickle.loads(pickle.dumps(model))
        assert type(copy_) is type(model) and type(copy_.layer1[0]) is type(model.layer1[0])
        x = torch.randn(1, 3, 32, 32)
        model.eval(), copy_.eval()
        torch.testing.assert_close(outputs(copy_, x), outputs(model, x))
