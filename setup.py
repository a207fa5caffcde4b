"""Build golu_mm and its operator library golu_mm._C from csrc/.

Whether CUDA kernels are built, with which nvcc and for which architectures, is decided by
tools/build_plan.py (CUDA when torch is a CUDA build and a GPU is visible, or FORCE_CUDA=1; the
nvcc's CUDA major must match torch's). The C++ standard is left to torch's BuildExtension.
"""
import glob
import importlib.util
import os
import sys

import torch
from setuptools import find_packages, setup


def _load_build_plan():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'tools', 'build_plan.py')
    spec = importlib.util.spec_from_file_location('golu_build_plan', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PLAN_MODULE = _load_build_plan()
try:  # tools/build_plan.py's decision for this machine; a clear error instead of torch's own
    PLAN = PLAN_MODULE.plan()
except PLAN_MODULE.BuildPlanError as exc:
    sys.exit(f'golu_mm setup: {exc}')
if PLAN.cuda:  # torch.utils.cpp_extension reads both at import
    os.environ['CUDA_HOME'] = PLAN.cuda_home
    os.environ['TORCH_CUDA_ARCH_LIST'] = PLAN.arch_list

from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension  # noqa: E402

ROOT = os.path.dirname(os.path.abspath(__file__))
# The AVX2/AVX-512 CPU loops use intrinsics (csrc/cpu/vec_*.h); for the baseline loops,
# -fno-trapping-math lets GCC if-convert selects so they auto-vectorize, and -ffp-contract=fast
# lets them use FMA where the target has it (ISO C++ mode turns contraction off);
# -fopenmp makes at::parallel_for parallel (ATen's CPU thread pool is OpenMP in torch's wheels).
CXX_FLAGS = ['-O3', '-fno-trapping-math', '-ffp-contract=fast', '-fopenmp']


def cuda_wheel_includes() -> list:
    """Headers (cublas, cusparse, ...) that the torch CUDA wheel's nvidia-* packages install;
    ATen's CUDA headers need them when the system toolkit is partial."""
    nvidia = os.path.join(os.path.dirname(os.path.dirname(torch.__file__)), 'nvidia')
    return sorted(glob.glob(os.path.join(nvidia, '*', 'include')))


def extension():
    sources = sorted(glob.glob(os.path.join('csrc', '*.cpp')) + glob.glob(os.path.join('csrc', 'cpu', '*.cpp')))
    args = dict(name='golu_mm._C', include_dirs=[os.path.join(ROOT, 'csrc'), os.path.join(ROOT, 'golu_mm', 'include')],
                extra_compile_args={'cxx': CXX_FLAGS, 'nvcc': ['-O3']}, extra_link_args=['-fopenmp'])
    if not PLAN.cuda:
        return CppExtension(sources=sources, **args)
    args['include_dirs'] += PLAN_MODULE.cuda_include_dirs(PLAN.cuda_home, cuda_wheel_includes())
    return CUDAExtension(sources=sources + sorted(glob.glob(os.path.join('csrc', 'cuda', '*.cu'))), **args)


setup(
    name='golu_mm',
    version='0.1.0',
    description='GoLU (Gompertz Linear Unit) as a fused PyTorch operator, with OpenMMLab integration',
    packages=find_packages(include=['golu_mm', 'golu_mm.*']),
    package_data={'golu_mm': ['include/golu_mm/*.h']},  # the kernels' constants, read by Python
    python_requires='>=3.9',
    install_requires=['torch>=2.1'],  # never pulls another torch into an environment that has one
    ext_modules=[extension()],
    cmdclass={'build_ext': BuildExtension},
    zip_safe=False,
)
