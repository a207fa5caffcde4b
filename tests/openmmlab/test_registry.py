"""dict(type='GoLU') works wherever OpenMMLab builds an activation."""
import importlib

import pytest
import torch
from mmcv.cnn import ConvModule, build_activation_layer
from mmengine.registry import MODELS, DefaultScope

import golu_mm
import golu_mm.openmmlab  # noqa: F401  (registers GoLU with mmengine)
from golu_mm import GoLU


def test_found_from_root_and_codebase_scopes():
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    assert MODELS.get('GoLU') is GoLU
    assert isinstance(DET_MODELS.build(dict(type='GoLU')), GoLU)
    assert isinstance(SEG_MODELS.build(dict(type='GoLU')), GoLU)
    for scope in ('mmdet', 'mmseg'):
        with DefaultScope.overwrite_default_scope(scope):
            assert isinstance(build_activation_layer(dict(type='GoLU', alpha=2.0)), GoLU)


def test_conv_module_act_cfg_passes_inplace():
    conv = ConvModule(3, 4, 3, norm_cfg=dict(type='BN'), act_cfg=dict(type='GoLU'))
    assert isinstance(conv.activate, GoLU) and conv.activate.inplace is True
    x = torch.randn(2, 3, 8, 8)
    y = conv(x)
    expected = golu_mm.golu(conv.norm(conv.conv(x)))
    torch.testing.assert_close(y, expected)


def test_comparison_activations_are_all_registered():
    for name in ('ReLU', 'GELU', 'SiLU', 'Mish', 'GoLU'):
        assert MODELS.get(name) is not None, name
    assert isinstance(build_activation_layer(dict(type='Mish', inplace=True)), torch.nn.Mish)


def test_import_twice_and_reload_do_not_raise():
    import golu_mm.openmmlab as integration
    importlib.reload(integration.activations)
    importlib.reload(integration)
    importlib.reload(golu_mm)
    assert MODELS.get('GoLU').__name__ == 'GoLU'


def test_bad_act_cfg_is_a_clear_error():
    from golu_mm.openmmlab.mmdet_models import ActResNet
    with pytest.raises(TypeError, match='act_cfg'):
        ActResNet(depth=18, act_cfg='GoLU')


def test_a_name_held_by_another_class_is_an_error_naming_both():
    """golu_mm never replaces another project's class silently (register_module(force=True)
    would); its own class again, as a second import or a reload makes it, is a no-op."""
    from mmengine.registry import Registry
    from golu_mm.openmmlab.activations import Mish
    from golu_mm.openmmlab.registration import RegistrationClash, register
    registry = Registry('test models')

    class GoLU(torch.nn.Module):  # a user's own GoLU, registered first
        pass
    registry.register_module(module=GoLU)
    with pytest.raises(RegistrationClash, match=r"test models registry already holds 'GoLU' "
                       r"\(.*test_registry\..*GoLU\); golu_mm would register "
                       r"golu_mm\.nn\.golu\.GoLU under the same name"):
        register(registry, 'GoLU', golu_mm.GoLU)
    assert registry.get('GoLU') is GoLU  # untouched
    register(registry, 'Mish', Mish)
    register(registry, 'Mish', Mish)  # again: nothing happens
    assert registry.get('Mish') is Mish
    reloaded = type('Mish', (torch.nn.Mish,), {'__module__': Mish.__module__,
                                               '__qualname__': Mish.__qualname__})
    register(registry, 'Mish', reloaded)  # the same definition, reloaded: it takes the place
    assert registry.get('Mish') is reloaded
