"""golu_mm: the GoLU activation as a fused PyTorch operator, and its OpenMMLab integration.

``import golu_mm`` needs only torch and imports nothing else. The OpenMMLab adapters load through
an explicit import, which the shipped configs name in ``custom_imports``:
``golu_mm.openmmlab.mmdet_models``, ``mmseg_models`` or ``mmpretrain_models`` (each registers ``GoLU``
with mmengine, so ``dict(type='GoLU')`` works in any config; see golu_mm.openmmlab).
"""
from .nn import GoLU
from .ops import backends, golu

__version__ = '0.1.0'
__all__ = ['GoLU', 'golu', 'backends', '__version__']
