"""What the compiled code is built for on this machine, decided once for golu_mm's setup.py and
for mmcv in tools/setup_env.sh: CPU-only or CUDA kernels, with which nvcc and architectures, and
a key naming everything that changes the binaries (cache names and stamps), and the C++ standard
torch's extensions are compiled with (mmcv's setup.py hard-codes an older one).

CUDA is built when torch is a CUDA build and a GPU is visible, or FORCE_CUDA=1; otherwise, or with
FORCE_CUDA=0, CPU-only. The nvcc is CUDA_HOME's (or CUDA_PATH's), else the one on PATH; its major
version must match torch's CUDA. A GPU that nvidia-smi lists but torch cannot use is an error,
never a silent CPU-only build. Architectures: TORCH_CUDA_ARCH_LIST when set, else the visible
GPUs', else every generation from V100 to Blackwell this nvcc supports, PTX on the newest.

`python tools/build_plan.py` prints the plan as shell assignments, or exits 1 with the reason.
"""
import inspect
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

import torch

# The default architectures, oldest first: what each covers.
GENERATIONS = (('7.0', 'V100'), ('7.5', 'T4, RTX 20xx'), ('8.0', 'A100'),
               ('8.6', 'RTX 30xx, A40'), ('8.9', 'L4, L40, RTX 40xx'), ('9.0', 'H100, H200'),
               ('10.0', 'B200'), ('12.0', 'RTX 50xx, RTX PRO 6000'))
# The oldest Linux driver each CUDA major runs on (NVIDIA's minor-version compatibility table).
DRIVER_FOR_CUDA = {11: '450.80.02', 12: '525.60.13', 13: '580.65.06'}


class BuildPlanError(RuntimeError):
    """This machine cannot build what was asked; the message names the fix."""


@dataclass(frozen=True)
class BuildPlan:
    cuda: bool
    cuda_home: str = ''
    nvcc_version: str = ''
    arch_list: str = ''

    @property
    def flavour(self) -> str:
        return 'cuda' if self.cuda else 'cpu'

    @property
    def key(self) -> str:
        """Everything the binaries depend on besides the sources, as a file-name-safe string."""
        parts = [self.flavour, 'torch' + torch.__version__.replace('+', '_'),
                 f'cp{sys.version_info.major}{sys.version_info.minor}']
        if self.cuda:
            archs = self.arch_list.replace(';', '_').replace('+', '')
            parts += [f'cu{torch.version.cuda}', f'nvcc{self.nvcc_version}', f'sm{archs}']
        return '-'.join(parts).replace(' ', '')

    def shell(self) -> str:
        values = dict(GOLU_BUILD_FLAVOUR=self.flavour, GOLU_BUILD_KEY=self.key,
                      GOLU_CUDA_HOME=self.cuda_home, GOLU_CUDA_ARCH_LIST=self.arch_list,
                      GOLU_CXX_STD=torch_cxx_standard())
        return ''.join(f"{name}='{value}'\n" for name, value in values.items())


def torch_cxx_standard() -> str:
    """The C++ standard torch's BuildExtension compiles with when none is given ('17' on torch
    2.1-2.12, '20' from 2.13), read from its source: the flag is not exposed any other way."""
    from torch.utils.cpp_extension import BuildExtension
    found = re.findall(r"'-?std[=:]?c\+\+(\d\d)'|\+ 'c\+\+(\d\d)'", inspect.getsource(BuildExtension))
    standards = {int(a or b) for a, b in found}
    if not standards:
        raise BuildPlanError(f'cannot tell which C++ standard torch {torch.__version__} builds '
                             'extensions with (torch.utils.cpp_extension changed): report this')
    return str(max(standards))


def _version(text: str) -> Tuple[int, int]:
    major, minor = text.split('.')[:2]
    return int(major), int(minor)


def nvcc_arch_range(version: Tuple[int, int]) -> Tuple[str, str]:
    """The oldest and newest GPU architecture an nvcc release compiles for."""
    if version >= (13, 0):
        return '7.5', '12.1'
    if version >= (12, 8):
        return '5.0', '12.0'
    if version >= (12, 0):
        return '5.0', '9.0'
    if version >= (11, 8):
        return '3.5', '9.0'
    return '3.5', '8.6'


def default_arch_list(nvcc_version: Tuple[int, int]) -> str:
    """Every generation in GENERATIONS this nvcc supports, PTX on the newest for later cards."""
    low, high = (_version(v) for v in nvcc_arch_range(nvcc_version))
    archs = [arch for arch, _ in GENERATIONS if low <= _version(arch) <= high]
    return ';'.join(archs) + '+PTX'


def find_nvcc(env: Mapping[str, str]) -> Tuple[Optional[str], str]:
    """(nvcc, how it was found): CUDA_HOME's or CUDA_PATH's bin/nvcc, else nvcc on PATH."""
    for name in ('CUDA_HOME', 'CUDA_PATH'):
        if env.get(name):
            nvcc = os.path.join(env[name], 'bin', 'nvcc')
            return (nvcc if os.access(nvcc, os.X_OK) else None), f'{name}={env[name]}'
    return shutil.which('nvcc', path=env.get('PATH', '')), 'PATH'


def nvcc_facts(nvcc: str, env: Mapping[str, str]) -> Tuple[Tuple[int, int], str]:
    """(release, toolkit root) as nvcc reports them; the root is where nvcc really lives, even
    when the one on PATH is a wrapper script (/usr/local/bin/nvcc -> /usr/local/cuda-X/bin)."""
    run = dict(capture_output=True, text=True, env=dict(env), timeout=60)
    release = re.search(r'release (\d+)\.(\d+)', subprocess.run([nvcc, '--version'], **run).stdout)
    if not release:
        raise BuildPlanError(f'{nvcc} --version names no CUDA release; is it nvcc?')
    dry = subprocess.run([nvcc, '-v', '--dryrun', '-x', 'cu', '-c', os.devnull, '-o', os.devnull],
                         **run)
    here = re.search(r'^#\$ _HERE_=(.+)$', dry.stdout + dry.stderr, re.MULTILINE)
    bin_dir = here.group(1).strip() if here else os.path.dirname(os.path.realpath(nvcc))
    return (int(release.group(1)), int(release.group(2))), os.path.dirname(os.path.normpath(bin_dir))


def check_host_compiler(nvcc: str, version: Tuple[int, int], env: Mapping[str, str]) -> None:
    """nvcc's own check of its host compiler (CC when set: torch passes it as -ccbin), on an empty
    file: BuildPlanError naming the fix where this nvcc refuses it (nvcc 11.8 with gcc 12 stops
    with its raw "unsupported GNU version" otherwise, minutes into the build)."""
    command = [nvcc, '-x', 'cu', '-E', os.devnull, '-o', os.devnull]
    if env.get('CC'):
        command[1:1] = ['-ccbin', env['CC']]
    out = subprocess.run(command, capture_output=True, text=True, env=dict(env), timeout=300)
    if out.returncode == 0:
        return
    text = out.stdout + out.stderr
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    refusal = next((line for line in lines if re.search(r'unsupported .*version', line)), None)
    cuda = f'CUDA {version[0]}.{version[1]}'
    host = env.get('CC') or 'the default host compiler (gcc on PATH)'
    if refusal is not None:
        raise BuildPlanError(
            f'{nvcc} ({cuda}) refuses {host}: {refusal[refusal.find("unsupported"):]} Install a '
            f'host compiler that {cuda} supports and name it in CC and CXX (torch passes CC to '
            f'nvcc as -ccbin), e.g. `CC=gcc-11 CXX=g++-11 make setup` for CUDA 11.8; or use a '
            'newer toolkit, or FORCE_CUDA=0 to build CPU-only.')
    raise BuildPlanError(f'{nvcc} ({cuda}) cannot preprocess an empty CUDA file with {host} '
                         f'(`{" ".join(command)}`): {lines[-1] if lines else "no output"}')


def cuda_include_dirs(cuda_home: str, wheel_dirs: list) -> list:
    """The CUDA include directories in search order: the toolkit's first (its headers must agree
    with its nvcc: crt/host_config.h beside cuda_runtime.h), then the torch wheel's nvidia-*
    include directories (cublas, cusparse, ... where the toolkit is partial) that hold a header
    the toolkit lacks; one whose headers the toolkit all has is left out."""
    toolkit = os.path.join(cuda_home, 'include')

    def lacks_one(directory):
        return any(not os.path.exists(os.path.join(toolkit, os.path.relpath(
            os.path.join(folder, name), directory)))
            for folder, _, names in os.walk(directory) for name in names)
    return [toolkit] + [d for d in wheel_dirs if lacks_one(d)]


def smi_gpus(env: Mapping[str, str]) -> list:
    """The GPUs nvidia-smi lists ('name, driver'), [] without nvidia-smi or GPUs, or when
    CUDA_VISIBLE_DEVICES hides them all on purpose."""
    if env.get('CUDA_VISIBLE_DEVICES', None) in ('', '-1'):
        return []
    smi = shutil.which('nvidia-smi', path=env.get('PATH', ''))
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, '--query-gpu=name,driver_version', '--format=csv,noheader'],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def visible_capabilities() -> list:
    """Compute capabilities of the GPUs torch can use ('9.0'), sorted, without repeats."""
    if torch.version.cuda is None or not torch.cuda.is_available():
        return []
    return sorted({'%d.%d' % torch.cuda.get_device_capability(i)
                   for i in range(torch.cuda.device_count())}, key=_version)


def plan(env: Mapping[str, str] = os.environ) -> BuildPlan:
    """Decide the build for this machine; BuildPlanError when it cannot be done right."""
    forced = env.get('FORCE_CUDA', '')
    if forced not in ('', '0', '1'):
        raise BuildPlanError(f'FORCE_CUDA must be 0 or 1, got {forced!r}')
    if forced == '0':
        return BuildPlan(cuda=False)
    torch_cuda = torch.version.cuda
    capabilities = visible_capabilities()
    if not capabilities and forced != '1':
        gpus = smi_gpus(env)
        if gpus and torch_cuda is None:
            raise BuildPlanError(
                f'nvidia-smi lists {gpus[0]!r} but torch {torch.__version__} is a CPU-only build. '
                'Install a CUDA build of torch (https://pytorch.org/get-started/locally/), or set '
                'FORCE_CUDA=0 to build CPU-only on purpose.')
        if gpus:
            major = _version(torch_cuda)[0]
            raise BuildPlanError(
                f'nvidia-smi lists {gpus[0]!r} (name, driver) but torch {torch.__version__} '
                f'(built for CUDA {torch_cuda}) cannot use it: CUDA {major}.x needs NVIDIA driver '
                f'>= {DRIVER_FOR_CUDA.get(major, "?")}. Upgrade the driver, or install a torch '
                'built for an older CUDA that this driver supports, or set FORCE_CUDA=0 to build '
                'CPU-only on purpose.')
        return BuildPlan(cuda=False)
    if torch_cuda is None:
        raise BuildPlanError(f'FORCE_CUDA=1 but torch {torch.__version__} is a CPU-only build: '
                             'install a CUDA build of torch, or unset FORCE_CUDA.')
    nvcc, source = find_nvcc(env)
    if nvcc is None:
        raise BuildPlanError(
            f'building CUDA kernels for torch {torch.__version__} (CUDA {torch_cuda}) needs nvcc, '
            f'and none was found ({source}). Put a CUDA {_version(torch_cuda)[0]}.x toolkit\'s '
            'bin/ on PATH (e.g. `module load cuda`) or set CUDA_HOME, or set FORCE_CUDA=0 to '
            'build CPU-only.')
    version, cuda_home = nvcc_facts(nvcc, env)
    if version[0] != _version(torch_cuda)[0]:
        raise BuildPlanError(
            f'{nvcc} is CUDA {version[0]}.{version[1]} but torch {torch.__version__} was built '
            f'for CUDA {torch_cuda}: the major versions must match. Either use a CUDA '
            f'{_version(torch_cuda)[0]}.x toolkit (PATH or CUDA_HOME), or install a torch built '
            f'for CUDA {version[0]}.x (https://pytorch.org/get-started/previous-versions/).')
    check_host_compiler(nvcc, version, env)
    arch_list = env.get('TORCH_CUDA_ARCH_LIST') or ';'.join(capabilities) or default_arch_list(version)
    low, high = (_version(v) for v in nvcc_arch_range(version))
    for entry in re.split(r'[;\s]+', arch_list.strip()):
        arch = re.fullmatch(r'(\d+\.\d+)[af]?(\+PTX)?', entry)
        if arch is None:
            raise BuildPlanError(f'TORCH_CUDA_ARCH_LIST entry {entry!r} is not a compute '
                                 'capability such as 8.0, 9.0a or 9.0+PTX')
        if not low <= _version(arch.group(1)) <= high:
            arch = arch.group(1)
            raise BuildPlanError(
                f'architecture {arch} is outside what CUDA {version[0]}.{version[1]} compiles for '
                f'({".".join(map(str, low))} to {".".join(map(str, high))}): a GPU of compute '
                'capability 7.0 (V100) needs a CUDA 12.x toolkit and torch build, a newer GPU a '
                'newer toolkit; or set TORCH_CUDA_ARCH_LIST.')
    return BuildPlan(cuda=True, cuda_home=cuda_home, nvcc_version=f'{version[0]}.{version[1]}',
                     arch_list=arch_list)


def main() -> int:
    try:
        print(plan().shell(), end='')
    except BuildPlanError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
