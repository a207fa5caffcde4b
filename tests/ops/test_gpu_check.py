"""tools/gpu_check.sh's control flow on a faked GPU machine (a stub python and nvidia-smi): every
test runs, a failing test does not stop the benchmarks, the summary comes last, and the exit code
says whether a test failed. Also: without hypothesis and mpmath (the GPU image) the operator
tests still collect."""
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

STUB = '''#!/usr/bin/env bash
echo "python $*" >> "$CALLS"
case "$*" in
  *"-m pytest"*) echo "${PYTEST_LINE}"; exit "${PYTEST_EXIT}" ;;
  *get_device_capability*) echo "9.0" ;;
  *get_device_name*) echo "torch 2.11.0 cuda 13.0 NVIDIA H200" ;;
  *benchmark_activation*) echo "operator table" ;;
  *benchmark_model*) echo "model table" ;;
esac
exit 0
'''


def executable(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.parametrize('line,code', [('2 failed, 40 passed in 9.0s', 1),
                                       ('42 passed in 9.0s', 0)])
def test_benchmarks_run_and_the_summary_tells_the_tests(tmp_path, line, code):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    executable(bin_dir / 'nvidia-smi', '#!/bin/sh\necho "NVIDIA H200, 143771 MiB, 580.00"\n')
    env = {**os.environ, 'PATH': f'{bin_dir}:{os.environ["PATH"]}', 'OUT': str(tmp_path),
           'PYTHON': executable(tmp_path / 'python', STUB), 'CALLS': str(tmp_path / 'calls'),
           'PYTEST_LINE': line, 'PYTEST_EXIT': str(code)}
    result = subprocess.run(['bash', 'tools/gpu_check.sh'], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == code, result.stdout + result.stderr
    calls = (tmp_path / 'calls').read_text()
    assert '-m pytest tests/ops' in calls and ' -x' not in calls
    assert 'operator table' in result.stdout and 'model table' in result.stdout
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith('summary: torch 2.11.0 cuda 13.0 NVIDIA H200; tests: ' + line)
    assert f'(exit {code}' in last


def test_operator_tests_collect_without_hypothesis_and_mpmath(tmp_path):
    """sys.modules entries set to None make those imports fail, as on the bare GPU image."""
    code = ('import sys, pytest, torch; '  # torch first: torch < 2.4 imports mpmath itself (sympy)
            'sys.modules["hypothesis"] = sys.modules["mpmath"] = None; '
            'sys.exit(pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", '
            '"tests/ops/test_properties.py", "tests/ops/test_accuracy.py", "-rs"]))')
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120,
                            env={**os.environ, 'PYTEST_DISABLE_PLUGIN_AUTOLOAD': '1'})
    out = result.stdout + result.stderr
    assert result.returncode == 5, out  # nothing collected, no collection error
    assert 'error' not in out.lower()
