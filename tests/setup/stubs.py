"""Fake toolkits and GPUs for the build tests: stub nvcc and nvidia-smi executables, and torch's
view of CUDA patched to a chosen build and set of visible GPUs."""
import stat
from pathlib import Path

import torch


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def toolkit(root: Path, release: str, newest_gcc: int = 0) -> Path:
    """A CUDA toolkit at root whose nvcc reports `release` (e.g. '12.4') and, like the real one
    (also through a wrapper script), names its own bin/ in --dryrun output. With newest_gcc, its
    preprocessing stops as a real nvcc's does with a newer gcc than it supports."""
    refuse = (f'echo "{root}/include/crt/host_config.h:132:2: error: #error -- unsupported GNU '
              f'version! gcc versions later than {newest_gcc} are not supported!" >&2; exit 1'
              if newest_gcc else ':')
    return executable(root / 'bin' / 'nvcc', f'''#!/bin/sh
case "$*" in
  *--dryrun*) echo "#\\$ _HERE_={root}/bin" >&2 ;;
  *--version*) echo "Cuda compilation tools, release {release}, V{release}.1" ;;
  *" -E "*) {refuse} ;;
esac
''')


def wrapper(bin_dir: Path, nvcc: Path) -> Path:
    """An nvcc on PATH that is a wrapper script elsewhere (as /usr/local/bin/nvcc can be)."""
    return executable(bin_dir / 'nvcc', f'#!/bin/sh\nexec {nvcc} "$@"\n')


def nvidia_smi(bin_dir: Path, *gpus: str) -> Path:
    """nvidia-smi listing gpus ('NVIDIA H100, 535.104.05': name, driver)."""
    lines = ''.join(f'echo "{gpu}"\n' for gpu in gpus)
    return executable(bin_dir / 'nvidia-smi', '#!/bin/sh\n' + lines)


def fake_torch_cuda(monkeypatch, build, capabilities=()):
    """torch as a CUDA `build` ('13.0'; None: a CPU-only build) that sees GPUs of these
    capabilities ((8, 6), ...)."""
    monkeypatch.setattr(torch.version, 'cuda', build)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: bool(capabilities))
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: len(capabilities))
    monkeypatch.setattr(torch.cuda, 'get_device_capability', lambda i=0: tuple(capabilities[i]))
