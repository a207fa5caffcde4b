"""The CUDA kernels (csrc/cuda/golu_kernels.cuh) run on the CPU through cuda_emulation.h: built
with g++ once per source text, called through ctypes on CPU tensors (float32 / float64)."""
import ctypes
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Optional

import torch

HERE = Path(__file__).resolve().parent
CSRC = HERE.parents[2] / 'csrc'
INCLUDE = HERE.parents[2] / 'golu_mm' / 'include'
KERNELS = CSRC / 'cuda' / 'golu_kernels.cuh'
SMS = 2  # the emulated GPU's multiprocessors: small, so that grid-stride loops go round

_DTYPES = {torch.float32: 0, torch.float64: 1}
_P, _I, _D, _U = ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.c_uint
_SIGNATURES = {
    'emu_golu': [_I, _I, _P, _P, _P, ctypes.c_int64, _D, _D, _D, _U, _I],
    'emu_affine_forward': [_I] + [_P] * 8 + [ctypes.c_int64] * 3 + [_D] * 3 + [_U, _I],
    'emu_affine_backward': [_I] + [_P] * 11 + [ctypes.c_int64] * 3 + [_D] * 3 + [_U, _I],
    'emu_warp_sum': [_I, _P],
}


def build(mutate: Optional[Callable[[str], str]] = None) -> Path:
    """The shared library, from the kernels' source as it is, or as `mutate` rewrites it."""
    source = KERNELS.read_text()
    if mutate is not None:
        changed = mutate(source)
        assert changed != source, 'the mutation did not apply'
        source = changed
    files = [(HERE / 'cuda_emulation.h').read_text(), (HERE / 'emulated_kernels.cpp').read_text(),
             (CSRC / 'golu_math.h').read_text(), (INCLUDE / 'golu_mm' / 'constants.h').read_text(),
             source]
    key = hashlib.sha256('\0'.join(files).encode()).hexdigest()[:16]
    out = Path(tempfile.gettempdir()) / f'golu_mm_cuda_emulation_{key}.so'
    if out.exists():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / 'cuda').mkdir()
        shutil.copy(CSRC / 'golu_math.h', root / 'golu_math.h')
        (root / 'cuda' / 'golu_kernels.cuh').write_text(source)
        compiler = shutil.which('g++') or shutil.which('c++')
        assert compiler, 'the CUDA emulation needs a C++ compiler (g++)'
        partial = root / 'lib.so'
        subprocess.run([compiler, '-O1', '-std=c++17', '-shared', '-fPIC', f'-I{root}',
                        f'-I{HERE}', f'-I{INCLUDE}', str(HERE / 'emulated_kernels.cpp'), '-o', str(partial)],
                       check=True, capture_output=True, text=True)
        shutil.move(str(partial), out)
    return out


class EmulatedCuda:
    """The kernels of one build; every call fills fresh output tensors."""

    def __init__(self, path: Path):
        self.lib = ctypes.CDLL(str(path))
        for name, argtypes in _SIGNATURES.items():
            getattr(self.lib, name).argtypes = argtypes

    @staticmethod
    def _ptr(t):
        return None if t is None else t.data_ptr()

    def golu(self, op: int, in0, in1=None, params=(1.0, 1.0, 1.0), seed=0, out=None):
        """op 0: GoLU(in0); 1: in0 * GoLU'(in1); 2: in0 * GoLU''(in1). `out` (for misaligned
        storage) is filled with NaN first, so that an element never written shows."""
        out = torch.empty_like(in0) if out is None else out
        out.fill_(float('nan'))
        self.lib.emu_golu(op, _DTYPES[in0.dtype], in0.data_ptr(), self._ptr(in1), out.data_ptr(),
                          in0.numel(), *params, seed, SMS)
        return out

    def affine_forward(self, x, scale, shift, r=None, residual_scale=None, center=None,
                       residual_center=None, params=(1.0, 1.0, 1.0), seed=0):
        batch, channels, inner = x.shape
        y = torch.full_like(x, float('nan'))
        self.lib.emu_affine_forward(_DTYPES[x.dtype], x.data_ptr(), self._ptr(r), y.data_ptr(),
                                    scale.data_ptr(), shift.data_ptr(), self._ptr(residual_scale),
                                    self._ptr(center), self._ptr(residual_center), batch,
                                    channels, inner, *params, seed, SMS)
        return y

    def affine_backward(self, dy, x, scale, shift, r=None, residual_scale=None, center=None,
                        residual_center=None, params=(1.0, 1.0, 1.0), seed=0):
        batch, channels, inner = x.shape
        dx = torch.full_like(x, float('nan'))
        dr = torch.full_like(x, float('nan')) if r is not None else None
        sums = torch.zeros(3, channels, dtype=x.dtype)
        self.lib.emu_affine_backward(
            _DTYPES[x.dtype], dy.data_ptr(), x.data_ptr(), self._ptr(r), dx.data_ptr(),
            self._ptr(dr), scale.data_ptr(), shift.data_ptr(), self._ptr(residual_scale),
            self._ptr(center), self._ptr(residual_center), sums.data_ptr(), batch, channels,
            inner, *params, seed, SMS)
        return dx, dr, sums
