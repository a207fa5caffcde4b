"""The CUDA build compiles: setup.py with FORCE_CUDA=1 and one architecture, through nvcc (the
toolkit this machine has; skipped, with the reason, where it has none), into a scratch folder;
the compiled library loads, says it holds CUDA kernels, and runs the CPU path. Without it a
change that breaks csrc/cuda/golu_cuda.cu or the launch code would first fail on a GPU user's
machine (the CPU emulation compiles the kernels, not their launches)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def toolkit():
    """CUDA_HOME for the nvcc to build with: CUDA_HOME's, /usr/local/cuda's, or PATH's."""
    for home in (os.environ.get('CUDA_HOME'), '/usr/local/cuda'):
        if home and Path(home, 'bin', 'nvcc').is_file():
            return home
    nvcc = shutil.which('nvcc')
    return str(Path(nvcc).resolve().parents[1]) if nvcc else None


def test_the_cuda_build_compiles_loads_and_runs(tmp_path):
    home = toolkit()
    if torch.version.cuda is None:
        pytest.skip(f'torch {torch.__version__} is a CPU-only build: nothing to build CUDA for')
    if home is None:
        pytest.skip('no nvcc here (CUDA_HOME, /usr/local/cuda or PATH): the CUDA build cannot '
                    'be compiled on this machine')
    build = tmp_path / 'build'
    env = {**os.environ, 'FORCE_CUDA': '1', 'CUDA_HOME': home, 'TORCH_CUDA_ARCH_LIST': '9.0',
           'MAX_JOBS': str(os.cpu_count() or 1)}
    result = subprocess.run([sys.executable, 'setup.py', 'build_ext', '--build-lib',
                             str(build / 'lib'), '--build-temp', str(build / 'tmp')],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert 'nvcc' in result.stdout + result.stderr  # the .cu files went through nvcc
    library = next((build / 'lib' / 'golu_mm').glob('_C*.so'))
    # The package as it is, with the freshly built library in place of the CPU one.
    package = tmp_path / 'pkg' / 'golu_mm'
    shutil.copytree(ROOT / 'golu_mm', package, ignore=shutil.ignore_patterns('_C*.so',
                                                                            '__pycache__'))
    shutil.copy(library, package / library.name)
    check = subprocess.run(
        [sys.executable, '-c', (
            'import torch, golu_mm\n'
            'from golu_mm.ops import reference\n'
            'assert golu_mm.backends() == {"cpu": True, "cuda": True}, golu_mm.backends()\n'
            'x = torch.linspace(-8, 8, 1001, dtype=torch.float64)\n'
            'torch.testing.assert_close(golu_mm.golu(x), reference.golu_forward(x, 1.0, 1.0, '
            '1.0), rtol=1e-12, atol=0)\n'
            'print(golu_mm.__file__)')],
        cwd=tmp_path, env={**os.environ, 'PYTHONPATH': str(package.parent)},
        capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == str(package / '__init__.py')
