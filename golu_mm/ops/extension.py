"""Loading the compiled operator library golu_mm._C, and choosing between it and the reference.

Set GOLU_MM_FORCE_REFERENCE=1 to run the pure-PyTorch reference everywhere (for debugging), and
GOLU_MM_CPU_ISA=avx2 or scalar to cap the instruction set of the CPU loops (see cpu_isa()).
"""
import importlib
import importlib.util
import os
import warnings
from typing import Optional

from .torch_compat import has_kernel, is_compiling

__all__ = ['load_error', 'backends', 'cpu_isa', 'uses_extension', 'FORCE_REFERENCE_ENV', 'CPU_ISA_ENV']

FORCE_REFERENCE_ENV = 'GOLU_MM_FORCE_REFERENCE'
CPU_ISA_ENV = 'GOLU_MM_CPU_ISA'
_DISPATCH_KEYS = {'cpu': 'CPU', 'cuda': 'CUDA'}


def _load() -> Optional[str]:
    """Import golu_mm._C (registering torch.ops.golu_mm); return why not, or None."""
    if os.environ.get(FORCE_REFERENCE_ENV, '0') not in ('', '0'):
        return f'{FORCE_REFERENCE_ENV} is set'
    if importlib.util.find_spec('golu_mm._C') is None:
        return ('the compiled extension golu_mm._C is not built (build it: `pip install '
                '--no-build-isolation -e .` or `make setup`)')
    try:
        importlib.import_module('golu_mm._C')
    except ImportError as exc:  # built, but not loadable here (another torch, a missing library)
        return f'the compiled extension golu_mm._C could not be loaded ({exc})'
    return None


_LOAD_ERROR = _load()


def load_error() -> Optional[str]:
    """Why the compiled extension is not used, or None when it is loaded."""
    return _LOAD_ERROR


def backends() -> dict:
    """Device types the compiled operator has kernels for, e.g. {'cpu': True, 'cuda': False}."""
    return {dev: _LOAD_ERROR is None and has_kernel('golu_mm::golu', key)
            for dev, key in _DISPATCH_KEYS.items()}


def cpu_isa() -> Optional[str]:
    """The instruction set the compiled CPU loops run with: 'avx512', 'avx2' or 'scalar' (the best
    this CPU supports, capped by GOLU_MM_CPU_ISA); None without the extension. Raises RuntimeError
    when GOLU_MM_CPU_ISA names an unknown or unsupported set."""
    if _LOAD_ERROR is not None:
        return None
    from golu_mm import _C
    return _C.cpu_isa()


_BACKENDS = backends()  # probed once per process
_warned = set()


def has_backend(device_type: str) -> bool:
    """Whether the compiled operators have kernels for this device type (no warning)."""
    return _BACKENDS.get(device_type, False)


def uses_extension(device_type: str) -> bool:
    """Whether golu() runs the compiled operator on this device type; warns once per reason when
    it falls back to the reference. Meta and fake tensors go to the operator's fake kernel."""
    if _LOAD_ERROR is None and (_BACKENDS.get(device_type) or device_type == 'meta'):
        return True
    reason = _LOAD_ERROR or f'golu_mm._C has no {device_type} kernel (built without it)'
    if reason not in _warned and not is_compiling():
        _warned.add(reason)
        rebuild = ('' if _LOAD_ERROR or device_type != 'cuda' else
                   ': correct, but slower and with more memory than the fused kernels. Rebuild '
                   'golu_mm on this GPU machine (`pip install --no-build-isolation -e .` or '
                   '`make setup`; `python tools/check_cuda.py` shows what is built)')
        warnings.warn(f'golu_mm: {reason}; using the PyTorch reference implementation{rebuild}',
                      RuntimeWarning, stacklevel=3)
    return False
