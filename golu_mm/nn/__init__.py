"""torch.nn modules."""
from .fused_blocks import unfused
from .golu import GoLU
from .norm_golu import norm_golu

__all__ = ['GoLU', 'norm_golu', 'fuse_resnet', 'unfused']


def __getattr__(name):
    """fuse_resnet from torchvision_blocks, imported when asked for: it needs torchvision."""
    if name == 'fuse_resnet':
        from .torchvision_blocks import fuse_resnet
        return fuse_resnet
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
