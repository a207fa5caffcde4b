"""`pip install --no-build-isolation .` into an environment that has torch builds against that
torch and never installs, upgrades or downgrades torch or numpy (checked with pip's own resolver
in dry-run mode, on whichever stack runs this: the pinned one and the ecosystem one)."""
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def test_pip_install_keeps_the_installed_torch(tmp_path):
    report = tmp_path / 'report.json'
    result = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--dry-run', '--no-build-isolation', '--quiet',
         '--disable-pip-version-check', '--report', str(report), str(ROOT)],
        capture_output=True, text=True, timeout=600, env={'FORCE_CUDA': '0', 'PATH': '/usr/bin:/bin'})
    assert result.returncode == 0, result.stderr[-2000:]
    would_install = {item['metadata']['name'].lower(): item['metadata']['version']
                     for item in json.loads(report.read_text())['install']}
    assert 'golu_mm' in {name.replace('-', '_') for name in would_install}, would_install
    assert not {'torch', 'numpy', 'torchvision'} & set(would_install), (
        f'pip would change the environment (torch {torch.__version__} installed): {would_install}')
