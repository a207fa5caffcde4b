"""torch.nn modules."""
from .fused_blocks import fuse_resnet, unfused
from .golu import GoLU
from .norm_golu import norm_golu

__all__ = ['GoLU', 'norm_golu', 'fuse_resnet', 'unfused']
