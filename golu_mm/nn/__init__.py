"""torch.nn modules."""
from .golu import GoLU

__all__ = ['GoLU']
