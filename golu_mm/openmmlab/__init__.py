"""OpenMMLab integration, loaded by ``import golu_mm`` when mmengine and mmcv are installed:

- ``GoLU`` (and ``Mish``) in mmengine's root MODELS registry, so ``dict(type='GoLU')`` works as
  any ``act_cfg``, in ``ConvModule`` and from the mmdet / mmseg scopes;
- ``Act*`` backbones and heads with a configurable activation (mmdet_models, mmseg_models);
- safe loading of mmengine checkpoints under torch's ``weights_only`` default (checkpoint).
"""
import importlib.util
import warnings

from .activations import register_activations
from .checkpoint import allow_mmengine_checkpoints

__all__ = ['register_all']


def register_all() -> None:
    register_activations()
    allow_mmengine_checkpoints()
    for package, module in (('mmdet', 'mmdet_models'), ('mmseg', 'mmseg_models')):
        if importlib.util.find_spec(package) is None:
            continue
        try:
            importlib.import_module(f'{__name__}.{module}')
        except ImportError as exc:  # installed but broken: say so instead of failing later
            warnings.warn(f'golu_mm: {package} is installed but its models could not be '
                          f'registered: {exc}', RuntimeWarning)


register_all()
