"""The model-level cost measures: saved-for-backward bytes count each saved storage once and
leave parameters out (an in-place ReLU shares the next conv's input, GoLU does not), and
tools/benchmark_model.py reports ratios to ReLU for a config and for torchvision models."""
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch
from torch import nn

from golu_mm import GoLU
from golu_mm.analysis.model_cost import compare, saved_activation_bytes
from golu_mm.nn.activations import replace_modules

ROOT = Path(__file__).resolve().parents[2]


def block(act):
    return [nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), act()]


def test_golu_saves_one_activation_tensor_more_per_block_than_inplace_relu():
    x = torch.randn(1, 8, 16, 16)
    activation_bytes = x.numel() * 4
    models = {name: nn.Sequential(*block(act), *block(act)).train()
              for name, act in (('relu', lambda: nn.ReLU(inplace=True)), ('golu', GoLU))}
    saved = {name: saved_activation_bytes(m, lambda m=m: m(x).sum()) for name, m in
             models.items()}
    # ReLU: x, conv1 out, BN1 out (= ReLU1 out = conv2 in), conv2 out, BN2 out (= ReLU2 out),
    # plus BN's per-channel statistics; GoLU adds GoLU1's output (conv2's input).
    assert saved['golu'] - saved['relu'] == activation_bytes
    assert 5 * activation_bytes <= saved['relu'] <= 5 * activation_bytes + 256


def test_compare_gives_ratios_to_the_first_case():
    x = torch.randn(2, 8, 16, 16)
    cases = {}
    for name, act in (('ReLU', lambda: nn.ReLU(inplace=True)), ('GoLU', GoLU)):
        model = nn.Sequential(*block(act), *block(act))
        cases[name] = (model, lambda m: m(x).sum(), lambda m: m(x))
    durations = iter([3.0, 1.0, 6.0, 2.0] * 2)  # ReLU, GoLU in turns: medians 4.5 and 1.5
    with mock.patch('golu_mm.analysis.timing.seconds', lambda fn: (fn(), next(durations))[1]):
        results = compare(cases, steps=2, warmup=1)
    # saved bytes against the count of the test above: GoLU saves one activation tensor (the
    # first block's output, 2x8x16x16 float32) more than in-place ReLU; ratios to the first case
    extra = x.numel() * 4
    assert results['GoLU']['saved_bytes'] - results['ReLU']['saved_bytes'] == extra
    assert results['GoLU']['saved_bytes_ratio'] == pytest.approx(
        results['GoLU']['saved_bytes'] / results['ReLU']['saved_bytes'])
    assert results['ReLU']['train_s'] == 4.5 and results['GoLU']['train_s'] == 1.5
    assert results['GoLU']['train_s_ratio'] == pytest.approx(1 / 3)
    assert results['GoLU']['inference_s_ratio'] == pytest.approx(1 / 3)
    model = nn.Sequential(*block(lambda: nn.ReLU()), nn.Sequential(*block(nn.ReLU)))
    assert replace_modules(model, GoLU) == 2 and not any(isinstance(m, nn.ReLU)
                                                        for m in model.modules())


def run_tool(*args):
    result = subprocess.run([sys.executable, 'tools/benchmark_model.py', *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.slow  # runs tools/benchmark_model.py
def test_tool_on_a_config_and_on_torchvision():
    out = run_tool('configs/demo/mask_rcnn_golu_demo.py', '--shape', '64', '64', '--steps', '2',
                   '--warmup', '1', '--activations', 'ReLU', 'GoLU', 'GoLU-unfused')
    rows = {line.split('|')[1].strip(): line for line in out.splitlines()
            if line.startswith('| ReLU') or line.startswith('| GoLU')}
    assert list(rows) == ['ReLU', 'GoLU', 'GoLU-unfused'] and '| 1.000 |' in rows['ReLU']
    memory_ratio = {act: float(row.split('|')[3]) for act, row in rows.items()}
    assert memory_ratio['GoLU'] <= 1.05  # fused: BN's input saved, not its output
    assert memory_ratio['GoLU-unfused'] > 1.1  # BN's output and GoLU's own: the issue-12 gap
    out = run_tool('--torchvision', 'resnet50', '--shape', '64', '64', '--steps', '1',
                   '--warmup', '1', '--activations', 'ReLU', 'GoLU', 'GoLU-unfused')
    assert 'resnet50, 2x3x64x64' in out and out.count('| GoLU |') == 1
    torchvision_ratio = {line.split('|')[1].strip(): float(line.split('|')[3])
                         for line in out.splitlines() if line.startswith('| GoLU')}
    assert torchvision_ratio['GoLU'] < torchvision_ratio['GoLU-unfused']


@pytest.mark.slow  # runs tools/benchmark_model.py
def test_torchvision_detectors_run_at_the_stated_shape():
    """The tables' title names the input shape; the detectors' transform (which resizes to 800
    by default) must leave it so."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('benchmark_model', ROOT / 'tools' / 'benchmark_model.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    model, _, infer = tool.torchvision_case('fasterrcnn', 'ReLU', (64, 96), 1, 'cpu')
    model.eval()
    seen = []
    model.backbone.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[-2:]))
    with torch.no_grad():
        infer(model)
    assert tuple(seen[0]) == (64, 96)
