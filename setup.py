"""Build golu_mm and its operator library golu_mm._C from csrc/.

CUDA kernels are compiled when torch is a CUDA build and nvcc is found (CUDA_HOME), or when
FORCE_CUDA=1; FORCE_CUDA=0 forces a CPU-only build. TORCH_CUDA_ARCH_LIST defaults to Ampere and
Hopper plus PTX for newer cards. The C++ standard is left to torch's BuildExtension.
"""
import glob
import os

import torch
from setuptools import find_packages, setup

# Prefer the conventional toolkit root over whatever `nvcc` on PATH resolves to (a wrapper script
# in /usr/local/bin would make torch pick /usr/local, which has no CUDA libraries).
if not ('CUDA_HOME' in os.environ or 'CUDA_PATH' in os.environ) and os.path.exists('/usr/local/cuda/bin/nvcc'):
    os.environ['CUDA_HOME'] = '/usr/local/cuda'

from torch.utils.cpp_extension import (  # noqa: E402 (reads CUDA_HOME at import)
    CUDA_HOME, BuildExtension, CppExtension, CUDAExtension)

ROOT = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CUDA_ARCHS = '8.0;9.0+PTX'
# The AVX2/AVX-512 CPU loops use intrinsics (csrc/cpu/vec_*.h); for the baseline loops,
# -fno-trapping-math lets GCC if-convert selects so they auto-vectorize, and -ffp-contract=fast
# lets them use FMA where the target has it (ISO C++ mode turns contraction off);
# -fopenmp makes at::parallel_for parallel (ATen's CPU thread pool is OpenMP in torch's wheels).
CXX_FLAGS = ['-O3', '-fno-trapping-math', '-ffp-contract=fast', '-fopenmp']


def build_cuda() -> bool:
    forced = os.environ.get('FORCE_CUDA')
    if forced in ('0', '1'):
        return forced == '1'
    nvcc = CUDA_HOME and os.path.exists(os.path.join(CUDA_HOME, 'bin', 'nvcc'))
    return torch.version.cuda is not None and bool(nvcc)


def cuda_wheel_includes() -> list:
    """Headers (cublas, cusparse, ...) that the torch CUDA wheel's nvidia-* packages install;
    ATen's CUDA headers need them when the system toolkit is partial."""
    nvidia = os.path.join(os.path.dirname(os.path.dirname(torch.__file__)), 'nvidia')
    return sorted(glob.glob(os.path.join(nvidia, '*', 'include')))


def extension():
    sources = sorted(glob.glob(os.path.join('csrc', '*.cpp')) + glob.glob(os.path.join('csrc', 'cpu', '*.cpp')))
    args = dict(name='golu_mm._C', include_dirs=[os.path.join(ROOT, 'csrc')],
                extra_compile_args={'cxx': CXX_FLAGS, 'nvcc': ['-O3']}, extra_link_args=['-fopenmp'])
    if not build_cuda():
        return CppExtension(sources=sources, **args)
    os.environ.setdefault('TORCH_CUDA_ARCH_LIST', DEFAULT_CUDA_ARCHS)
    args['include_dirs'] += cuda_wheel_includes()
    return CUDAExtension(sources=sources + sorted(glob.glob(os.path.join('csrc', 'cuda', '*.cu'))), **args)


setup(
    name='golu_mm',
    version='0.1.0',
    description='GoLU (Gompertz Linear Unit) as a fused PyTorch operator, with OpenMMLab integration',
    packages=find_packages(include=['golu_mm', 'golu_mm.*']),
    python_requires='>=3.9',
    install_requires=['torch>=2.4'],
    ext_modules=[extension()],
    cmdclass={'build_ext': BuildExtension},
    zip_safe=False,
)
