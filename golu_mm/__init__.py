"""golu_mm: the GoLU activation as a fused PyTorch operator, and its OpenMMLab integration.

``import golu_mm`` needs only torch. When mmcv/mmengine are installed it also registers ``GoLU``
with OpenMMLab, so ``dict(type='GoLU')`` works in any config (see golu_mm.openmmlab).
"""
import importlib.util

from .nn import GoLU
from .ops import backends, golu

if importlib.util.find_spec('mmengine') and importlib.util.find_spec('mmcv'):
    from . import openmmlab  # noqa: F401  (registers GoLU and the Act* models)

__version__ = '0.1.0'
__all__ = ['GoLU', 'golu', 'backends', '__version__']
