"""tools/check_cuda.py: one command that says what is built for CUDA, and fails when a visible GPU
would go unused (faked: torch patched to see an H200, a stub toolkit on PATH)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import torch

from .stubs import fake_torch_cuda, toolkit

ROOT = Path(__file__).resolve().parents[2]


def test_on_this_machine_it_reports_and_passes_without_a_gpu():
    result = subprocess.run([sys.executable, 'tools/check_cuda.py'], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env={'PATH': '/usr/bin:/bin', 'CUDA_VISIBLE_DEVICES': ''})
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f'torch {torch.__version__}' in out and 'GPUs torch sees: none' in out
    assert 'golu_mm._C: CPU kernels yes' in out and 'mmcv 2.1.0: ops built' in out
    assert 'setup here would build: cpu' in out and out.strip().endswith('CPU only: no GPU visible to torch')


def test_a_visible_gpu_without_cuda_kernels_is_a_problem(monkeypatch, tmp_path, capsys):
    toolkit(tmp_path / 'cuda', torch.version.cuda or '13.0')
    monkeypatch.setenv('PATH', f'{tmp_path / "cuda" / "bin"}:/usr/bin:/bin')
    monkeypatch.delenv('CUDA_HOME', raising=False)
    monkeypatch.delenv('FORCE_CUDA', raising=False)
    fake_torch_cuda(monkeypatch, torch.version.cuda or '13.0', [(9, 0)])
    monkeypatch.setattr(torch.cuda, 'get_device_name', lambda i=0: 'NVIDIA H200')
    from golu_mm.ops import extension
    monkeypatch.setitem(extension._BACKENDS, 'cuda', False)
    import mmcv.ops
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version', lambda: 'not available')
    spec = importlib.util.spec_from_file_location('check_cuda', ROOT / 'tools' / 'check_cuda.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main() == 1
    out = capsys.readouterr().out
    assert 'NVIDIA H200 (capability 9.0)' in out and 'CUDA kernels no' in out
    assert 'problem: golu_mm has no CUDA kernels' in out and 'problem: mmcv has no CUDA ops' in out
    assert 'setup here would build: cuda for 9.0' in out and out.strip().endswith('2 problem(s)')
