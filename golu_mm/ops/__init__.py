"""The GoLU operator: compiled CPU/CUDA kernels (csrc/) registered as torch.ops.golu_mm, with a
pure-PyTorch reference as fallback and test oracle."""
from .extension import backends, cpu_isa, load_error
from .batch_norm_golu import batch_norm_golu
from .golu import check_params, golu, golu_reference

__all__ = ['golu', 'golu_reference', 'batch_norm_golu', 'check_params', 'backends', 'cpu_isa', 'load_error']
