"""tools/build_plan.py decides CPU or CUDA, the nvcc and the architectures the way the machine is:
checked here with stub toolkits (nvcc printing another release), a stub nvidia-smi and torch's
CUDA view patched to other builds and GPUs; setup.py reports the same errors."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .stubs import fake_torch_cuda, nvidia_smi, toolkit, wrapper

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location('build_plan', ROOT / 'tools' / 'build_plan.py')
build_plan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_plan)


@pytest.fixture
def machine(tmp_path):
    """An environment whose PATH holds only a stub bin/ (add nvcc and nvidia-smi there)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    return tmp_path, {'PATH': str(bin_dir)}


def test_no_gpu_builds_cpu_only_even_with_a_toolkit(machine, monkeypatch):
    tmp, env = machine
    wrapper(tmp / 'bin', toolkit(tmp / 'cuda-13.0', '13.0'))
    fake_torch_cuda(monkeypatch, '13.0')
    plan = build_plan.plan(env)
    assert not plan.cuda and plan.key.startswith('cpu-torch')
    assert f'cp{sys.version_info.major}{sys.version_info.minor}' in plan.key


def test_visible_gpu_builds_cuda_for_its_capability_with_the_real_toolkit_root(machine, monkeypatch):
    tmp, env = machine
    wrapper(tmp / 'bin', toolkit(tmp / 'cuda-13.0', '13.0'))
    fake_torch_cuda(monkeypatch, '13.0', [(8, 6), (8, 6)])
    plan = build_plan.plan(env)
    assert plan.cuda and plan.arch_list == '8.6' and plan.nvcc_version == '13.0'
    assert plan.cuda_home == str(tmp / 'cuda-13.0')  # not the wrapper's parent
    assert build_plan.plan({**env, 'FORCE_CUDA': '0'}).cuda is False


def test_cuda_home_wins_over_path(machine, monkeypatch):
    tmp, env = machine
    wrapper(tmp / 'bin', toolkit(tmp / 'cuda-12.4', '12.4'))
    toolkit(tmp / 'cuda-13.0', '13.0')
    fake_torch_cuda(monkeypatch, '13.0', [(9, 0)])
    assert build_plan.plan({**env, 'CUDA_HOME': str(tmp / 'cuda-13.0')}).nvcc_version == '13.0'
    with pytest.raises(build_plan.BuildPlanError, match='CUDA 12.4'):
        build_plan.plan(env)


def test_toolkit_and_torch_cuda_mismatch_names_both_and_the_fixes(machine, monkeypatch):
    tmp, env = machine
    wrapper(tmp / 'bin', toolkit(tmp / 'cuda-12.4', '12.4'))
    fake_torch_cuda(monkeypatch, '13.0')
    with pytest.raises(build_plan.BuildPlanError) as info:
        build_plan.plan({**env, 'FORCE_CUDA': '1'})
    message = str(info.value)
    assert 'CUDA 12.4' in message and 'CUDA 13.0' in message
    assert 'CUDA 13.x toolkit' in message and 'torch built for CUDA 12.x' in message


def test_forced_cuda_without_nvcc_or_with_cpu_torch_is_refused(machine, monkeypatch):
    _, env = machine
    fake_torch_cuda(monkeypatch, '13.0')
    with pytest.raises(build_plan.BuildPlanError, match='needs nvcc'):
        build_plan.plan({**env, 'FORCE_CUDA': '1'})
    fake_torch_cuda(monkeypatch, None)
    with pytest.raises(build_plan.BuildPlanError, match='CPU-only build'):
        build_plan.plan({**env, 'FORCE_CUDA': '1'})
    with pytest.raises(build_plan.BuildPlanError, match="FORCE_CUDA must be 0 or 1, got 'yes'"):
        build_plan.plan({**env, 'FORCE_CUDA': 'yes'})


def test_gpu_that_torch_cannot_use_is_named_with_the_driver_requirement(machine, monkeypatch):
    tmp, env = machine
    nvidia_smi(tmp / 'bin', 'NVIDIA H100 80GB HBM3, 535.104.05')
    fake_torch_cuda(monkeypatch, '13.0')  # torch sees no GPU: the driver is too old for CUDA 13
    with pytest.raises(build_plan.BuildPlanError) as info:
        build_plan.plan(env)
    assert 'NVIDIA H100 80GB HBM3, 535.104.05' in str(info.value)
    assert '>= 580.65.06' in str(info.value)
    fake_torch_cuda(monkeypatch, None)
    with pytest.raises(build_plan.BuildPlanError, match='CPU-only build'):
        build_plan.plan(env)
    # hidden on purpose, or refused explicitly: a CPU build
    assert not build_plan.plan({**env, 'CUDA_VISIBLE_DEVICES': ''}).cuda
    assert not build_plan.plan({**env, 'FORCE_CUDA': '0'}).cuda


@pytest.mark.parametrize('release,first,last', [('11.8', '7.0', '9.0+PTX'), ('12.4', '7.0', '9.0+PTX'),
                                                ('12.8', '7.0', '12.0+PTX'), ('13.0', '7.5', '12.0+PTX')])
def test_default_arch_list_covers_what_the_toolkit_can(machine, monkeypatch, release, first, last):
    tmp, env = machine
    toolkit(tmp / 'cuda', release)
    fake_torch_cuda(monkeypatch, release)
    archs = build_plan.plan({**env, 'CUDA_HOME': str(tmp / 'cuda'), 'FORCE_CUDA': '1'}).arch_list.split(';')
    assert archs[0] == first and archs[-1] == last
    assert '8.0' in archs and '9.0' in ';'.join(archs)
    assert sum('+PTX' in arch for arch in archs) == 1


def test_architectures_the_toolkit_cannot_build_are_refused(machine, monkeypatch):
    tmp, env = machine
    toolkit(tmp / 'cuda', '13.0')
    env = {**env, 'CUDA_HOME': str(tmp / 'cuda')}
    fake_torch_cuda(monkeypatch, '13.0', [(7, 0)])  # a V100 with a CUDA 13 toolkit
    with pytest.raises(build_plan.BuildPlanError, match='architecture 7.0 is outside'):
        build_plan.plan(env)
    with pytest.raises(build_plan.BuildPlanError, match="entry 'Hopper'"):
        build_plan.plan({**env, 'TORCH_CUDA_ARCH_LIST': 'Hopper'})
    assert build_plan.plan({**env, 'TORCH_CUDA_ARCH_LIST': '9.0a 10.0+PTX'}).arch_list == '9.0a 10.0+PTX'


def test_key_changes_with_everything_that_changes_the_binary(machine, monkeypatch):
    tmp, env = machine
    toolkit(tmp / 'cuda-13.0', '13.0')
    toolkit(tmp / 'cuda-13.1', '13.1')
    fake_torch_cuda(monkeypatch, '13.0', [(9, 0)])
    home = {**env, 'CUDA_HOME': str(tmp / 'cuda-13.0')}
    keys = {build_plan.plan(home).key,
            build_plan.plan({**home, 'FORCE_CUDA': '0'}).key,
            build_plan.plan({**home, 'TORCH_CUDA_ARCH_LIST': '8.0'}).key,
            build_plan.plan({**env, 'CUDA_HOME': str(tmp / 'cuda-13.1')}).key}
    monkeypatch.setattr(build_plan.torch, '__version__', '2.11.0+cu130')
    keys.add(build_plan.plan(home).key)
    assert len(keys) == 5
    assert all(key.replace('-', '').replace('_', '').replace('.', '').isalnum() for key in keys)


@pytest.mark.skipif(torch.version.cuda is None, reason='needs a CUDA build of torch')
def test_setup_py_stops_with_the_plans_message_not_torchs(tmp_path):
    other = '11.8' if torch.version.cuda.startswith('12.') else '12.4'  # any other major
    toolkit(tmp_path / 'cuda', other)
    env = {**os.environ, 'CUDA_HOME': str(tmp_path / 'cuda'), 'FORCE_CUDA': '1'}
    result = subprocess.run([sys.executable, 'setup.py', '--name'], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert 'golu_mm setup: ' in result.stderr and f'CUDA {other}' in result.stderr
    assert 'mismatches the version' not in result.stderr
    ok = subprocess.run([sys.executable, 'setup.py', '--name'], cwd=ROOT, capture_output=True,
                        text=True, timeout=120, env={**os.environ, 'FORCE_CUDA': '0'})
    assert ok.returncode == 0 and ok.stdout.strip().endswith('golu_mm'), ok.stderr


def test_cxx_standard_is_the_one_torch_builds_extensions_with():
    # torch's release notes: extensions are compiled as C++17 up to 2.12 and as C++20 from 2.13.
    release = tuple(int(part) for part in torch.__version__.split('+')[0].split('.')[:2])
    assert build_plan.torch_cxx_standard() == ('20' if release >= (2, 13) else '17')
    assert f"GOLU_CXX_STD='{build_plan.torch_cxx_standard()}'" in build_plan.plan({'FORCE_CUDA': '0'}).shell()


def test_a_host_compiler_nvcc_refuses_is_named_with_the_fix(machine, monkeypatch):
    tmp, env = machine
    wrapper(tmp / 'bin', toolkit(tmp / 'cuda-11.8', '11.8', newest_gcc=11))
    fake_torch_cuda(monkeypatch, '11.8', [(8, 0)])
    with pytest.raises(build_plan.BuildPlanError) as refused:
        build_plan.plan(env)
    message = str(refused.value)
    assert 'CUDA 11.8' in message and 'gcc versions later than 11 are not supported' in message
    assert 'CC=gcc-11 CXX=g++-11' in message and 'FORCE_CUDA=0' in message
    with pytest.raises(build_plan.BuildPlanError, match='refuses /opt/gcc-12/bin/gcc'):
        build_plan.plan({**env, 'CC': '/opt/gcc-12/bin/gcc'})


REAL_NVCC = Path(os.environ.get('CUDA_HOME') or '/usr/local/cuda', 'bin', 'nvcc')


@pytest.mark.skipif(not REAL_NVCC.is_file(), reason=f'no real nvcc at {REAL_NVCC}')
def test_the_real_nvcc_checks_the_host_compiler_in_cc(machine, monkeypatch):
    """A gcc that claims a version no nvcc supports (__GNUC__=99) is refused by the real nvcc's
    own host_config.h, through CC; the machine's gcc passes."""
    tmp, env = machine
    release = subprocess.run([str(REAL_NVCC), '--version'], capture_output=True, text=True).stdout
    major, minor = build_plan.re.search(r'release (\d+)\.(\d+)', release).groups()
    fake_torch_cuda(monkeypatch, f'{major}.{minor}', [(9, 0)])
    env = {'PATH': os.environ['PATH'], 'CUDA_HOME': str(REAL_NVCC.parents[1])}
    assert build_plan.plan(env).cuda
    gcc99 = tmp / 'gcc99'
    gcc99.write_text('#!/bin/sh\nexec gcc -D__GNUC__=99 "$@"\n')
    gcc99.chmod(0o755)
    with pytest.raises(build_plan.BuildPlanError, match=f'refuses {gcc99}: unsupported GNU version'):
        build_plan.plan({**env, 'CC': str(gcc99)})


def test_the_toolkits_headers_come_before_the_wheels_and_only_missing_ones_are_added(tmp_path):
    def headers(root, *names):
        for name in names:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text('')
        return str(root)
    home = tmp_path / 'cuda-12.4'
    headers(home / 'include', 'cuda_runtime.h', 'cuda_bf16.h', 'crt/host_config.h')
    runtime = headers(tmp_path / 'nvidia/cuda_runtime/include', 'cuda_runtime.h', 'crt/host_config.h')
    cublas = headers(tmp_path / 'nvidia/cublas/include', 'cublas_v2.h', 'cuda_bf16.h')
    nested = headers(tmp_path / 'nvidia/cusparse/include', 'crt/only_here.h')
    assert build_plan.cuda_include_dirs(str(home), [cublas, runtime, nested]) == [
        str(home / 'include'), cublas, nested]
