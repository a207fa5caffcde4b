"""tools/setup_env.sh's decisions, run for real against a fake venv whose pip only records what
it was asked (and fakes mmcv's download and wheel): the mmcv wheel and both stamps follow the build
plan's key, FORCE_CUDA and the toolkit rebuild, a mismatched toolkit stops before any build, and
the interpreter is one the pinned stack supports."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .stubs import executable, toolkit
from .test_build_plan import build_plan

ROOT = Path(__file__).resolve().parents[2]

FAKE_PYTHON = '''#!{python}
"""python, except that `-m pip ...` is recorded (with the build environment) and faked."""
import os, sys, tarfile, io
args = sys.argv[1:]
if args[:2] != ['-m', 'pip']:
    os.execv({python!r}, [{python!r}] + args)
with open(os.environ['PIP_LOG'], 'a') as log:
    env = ' '.join(f'{{k}}={{os.environ.get(k, "<unset>")}}' for k in
                   ('FORCE_CUDA', 'TORCH_CUDA_ARCH_LIST', 'CUDA_VISIBLE_DEVICES'))
    log.write(' '.join(args[2:]) + ' | ' + env + '\\n')
if 'download' in args:
    target = args[args.index('-d') + 1]
    with tarfile.open(os.path.join(target, 'mmcv-2.1.0.tar.gz'), 'w:gz') as tar:
        data = b'args = ["-std=c++17"]\\n'
        info = tarfile.TarInfo('mmcv-2.1.0/setup.py')
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
if 'wheel' in args:
    target = args[args.index('-w') + 1]
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(args[-1], 'setup.py')) as source, open(os.environ['PIP_LOG'], 'a') as log:
        log.write('mmcv setup.py: ' + source.read())
    open(os.path.join(target, 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl'), 'w').close()
'''


@pytest.fixture
def fake(tmp_path):
    venv = tmp_path / 'venv'
    executable(venv / 'bin' / 'python', FAKE_PYTHON.format(python=sys.executable))
    log = tmp_path / 'pip.log'
    log.touch()
    env = {**os.environ, 'GOLU_VENV': str(venv), 'GOLU_CACHE': str(tmp_path / 'cache'),
           'PIP_LOG': str(log)}
    for name in ('FORCE_CUDA', 'CUDA_HOME', 'CUDA_PATH', 'TORCH_CUDA_ARCH_LIST'):
        env.pop(name, None)
    return tmp_path, env, log


def setup_env(env, **extra):
    return subprocess.run(['bash', 'tools/setup_env.sh'], cwd=ROOT, env={**env, **extra},
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(torch.version.cuda is None or torch.cuda.is_available(),
                    reason='needs a CUDA build of torch on a machine without a visible GPU')
def test_mmcv_and_extension_follow_the_build_key(fake):
    tmp, env, log = fake
    cpu_key = build_plan.plan({'FORCE_CUDA': '0'}).key
    cached = tmp / 'cache' / 'wheels' / f'mmcv-2.1.0-{cpu_key}'
    executable(cached / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl', '')

    first = setup_env(env)
    assert first.returncode == 0, first.stdout + first.stderr
    calls = log.read_text()
    assert f'install --force-reinstall --no-deps {cached}/mmcv-2.1.0' in calls  # the cached wheel
    assert ' download ' not in calls and ' wheel ' not in calls
    editable = [line for line in calls.splitlines() if '-e .' in line]
    assert editable and 'FORCE_CUDA=0' in editable[0] and editable[0].endswith('CUDA_VISIBLE_DEVICES=')

    log.write_text('')
    again = setup_env(env)
    assert again.returncode == 0 and log.read_text() == ''  # nothing changed: nothing runs

    toolkit(tmp / 'cuda-13', torch.version.cuda)
    cuda = setup_env(env, FORCE_CUDA='1', CUDA_HOME=str(tmp / 'cuda-13'))
    assert cuda.returncode == 0, cuda.stdout + cuda.stderr
    cuda_plan = build_plan.plan({'FORCE_CUDA': '1', 'CUDA_HOME': str(tmp / 'cuda-13')})
    cuda_key = cuda_plan.key
    assert cuda_key.startswith('cuda-') and 'building mmcv 2.1.0 (cuda ops, C++' in cuda.stdout
    assert list((tmp / 'cache' / 'wheels' / f'mmcv-2.1.0-{cuda_key}').glob('mmcv-*.whl'))
    built = [line for line in log.read_text().splitlines() if ' wheel ' in line]
    # every generation this toolkit builds (CUDA 13: from 7.5, CUDA 12.1: from 7.0), PTX on the newest
    assert cuda_plan.arch_list.startswith(('7.0;', '7.5;')) and cuda_plan.arch_list.endswith('+PTX')
    assert built and 'FORCE_CUDA=1' in built[0]
    assert f'TORCH_CUDA_ARCH_LIST={cuda_plan.arch_list} ' in built[0]
    assert (tmp / 'venv' / '.golu_mmcv').read_text().strip() == cuda_key
    standard = build_plan.torch_cxx_standard()  # mmcv's C++17 raised to torch's standard only
    assert f'mmcv setup.py: args = ["-std=c++{standard}"]' in log.read_text()
    assert (tmp / 'venv' / '.golu_extension').read_text().startswith(cuda_key + '-')


def test_mismatched_toolkit_stops_before_any_build(fake):
    tmp, env, log = fake
    toolkit(tmp / 'cuda-11', '11.8' if (torch.version.cuda or '').startswith('12') else '12.4')
    result = setup_env(env, FORCE_CUDA='1', CUDA_HOME=str(tmp / 'cuda-11'))
    assert result.returncode == 1
    assert 'error: ' in result.stderr and 'cannot decide how to build' in result.stderr
    assert not [line for line in log.read_text().splitlines()
                if ' wheel ' in line or ' download ' in line or '-e .' in line]


def test_only_a_supported_python_makes_the_venv(fake, tmp_path):
    _, env, _ = fake
    old = executable(tmp_path / 'py310' / 'python3.10', '#!/bin/sh\necho 3.10\n')
    result = setup_env(env, GOLU_VENV=str(tmp_path / 'new'), GOLU_PYTHON=str(old))
    assert result.returncode == 1 and not (tmp_path / 'new').exists()
    assert 'no Python the pinned stack supports (3.11 3.12 3.13)' in result.stderr
    assert f'{old} is 3.10' in result.stderr

    executable(tmp_path / 'old' / 'bin' / 'python', '#!/bin/sh\necho 3.10\n')
    result = setup_env(env, GOLU_VENV=str(tmp_path / 'old'))
    assert result.returncode == 1 and 'has Python 3.10' in result.stderr
    assert 'rm -rf' in result.stderr


def test_kept_torch_is_never_installed_over(fake):
    """GOLU_TORCH=keep: the venv's torch (here the test's own) stays; no pin of torch,
    torchvision, numpy or torch's CUDA libraries reaches pip, except the installed versions."""
    import importlib.metadata
    tmp, env, log = fake
    kept = setup_env(env, GOLU_TORCH='keep', FORCE_CUDA='0')
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert f'keeping torch {torch.__version__}' in kept.stdout
    calls = log.read_text()
    assert 'requirements/torch.txt' not in calls and 'requirements/build.txt' not in calls
    constraints = [line.split(' -c ')[1].split()[0] for line in calls.splitlines() if ' -c ' in line]
    assert constraints and all(c != str(ROOT / 'requirements' / 'constraints.txt') for c in constraints)
    pins = Path(constraints[0]).read_text().splitlines()
    assert f'torch=={importlib.metadata.version("torch")}' in pins
    assert f'numpy=={importlib.metadata.version("numpy")}' in pins
    assert [p for p in pins if p.startswith(('torch==', 'numpy=='))] == [
        f'torch=={importlib.metadata.version("torch")}', f'numpy=={importlib.metadata.version("numpy")}']
    assert [p for p in pins if p.startswith('torchvision==')] == [
        f'torchvision=={importlib.metadata.version("torchvision")}']
    assert not [p for p in pins if p.startswith(('triton==', 'nvidia-'))]
    assert 'mmengine==0.10.7' in pins  # everything else stays pinned

    wrong = setup_env(env, GOLU_TORCH='yes')
    assert wrong.returncode == 1 and "GOLU_TORCH must be keep or unset, got 'yes'" in wrong.stderr
