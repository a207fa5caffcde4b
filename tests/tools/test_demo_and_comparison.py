"""A short run of the README's main job learns: it beats the untrained model by a wide margin.
The comparison tool produces its table on the demo config, resuming finished runs, also with
activation-matched pretraining; and the pretraining demo prints its three numbers."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from golu_mm.data import config_options, generate, generate_classification
from golu_mm.openmmlab.pretrained import checkpoint_act_cfg

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run(*args):
    result = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True,
                            text=True, timeout=1200, env={**os.environ, 'PYTHON': sys.executable})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def summary(stdout):
    return {k: float(v) for k, v in re.findall(r'^  (bbox AP50|bbox AP|segm AP50|segm AP)\s+'
                                                r'([0-9.]+)$', stdout, re.M)}


def test_short_demo_beats_untrained_model(tmp_path):
    data = ['--data-root', tmp_path / 'data', '--num-train', 100, '--num-val', 30]
    untrained = summary(run('tools/demo.py', '--iters', 0, '--work-dir', tmp_path / 'u', *data))
    trained_out = run('tools/demo.py', '--iters', 200, '--work-dir', tmp_path / 't', *data)
    trained = summary(trained_out)
    assert set(trained) == {'bbox AP', 'bbox AP50', 'segm AP', 'segm AP50'}
    assert untrained['bbox AP50'] <= 0.01
    # Measured: untrained 0.000; after 200 iterations bbox AP50 0.214, segm AP50 0.214.
    assert trained['bbox AP50'] >= 0.10 and trained['bbox AP50'] >= 10 * untrained['bbox AP50'] + 0.1
    assert trained['segm AP50'] >= 0.10
    assert 'Iter(train) [200/200]' in trained_out or (tmp_path / 't' / 'iter_200.pth').is_file()
    for name in ('activation_functions.png', 'activation_distribution.png'):
        assert (tmp_path / 't' / 'plots' / name).stat().st_size > 5000


def test_comparison_tool_on_demo_config(tmp_path):
    data = generate(tmp_path / 'data', num_train=8, num_val=4, size=96, seed=2)
    args = ['tools/compare_activations.py', 'configs/demo/deeplabv3_golu_demo.py',
            '--activations', 'ReLU', 'GoLU', '--seeds', 0, 1, '--work-dir', tmp_path / 'cmp',
            '--cfg-options', 'train_cfg.max_iters=1',
            *(f'{key}={value}' for key, value in config_options(data, detection=False).items())]
    first = run(*args)
    assert first.count(': training') == 4
    table = (tmp_path / 'cmp' / 'comparison.md').read_text()
    assert re.search(r'^\| ReLU \| 2 \| [0-9.]+ ± [0-9.]+ \(n=2\) \|', table, re.M)
    assert re.search(r'^\| GoLU \| 2 \| [0-9.]+ ± [0-9.]+ \(n=2\) \|', table, re.M)
    assert "act_cfg=dict(type='ReLU')" in (tmp_path / 'cmp' / 'ReLU_seed0' /
                                          'deeplabv3_golu_demo.py').read_text()
    second = run(*args)  # everything is done: nothing retrains
    assert ': training' not in second and second.count('done before') == 4
    # Interrupted after its last checkpoint, before its result: resumed, not trained from 0.
    (tmp_path / 'cmp' / 'GoLU_seed1' / 'result.json').unlink()
    third = run(*args)
    assert 'GoLU_seed1: resuming from its last checkpoint' in third
    assert 'nothing to train' in third and ': training' not in third
    assert (tmp_path / 'cmp' / 'GoLU_seed1' / 'result.json').is_file()
    # Same work dir, another schedule: the 1-iteration runs are not passed off as 2-iteration ones.
    longer = [a if a != 'train_cfg.max_iters=1' else 'train_cfg.max_iters=2' for a in args]
    longer[longer.index('--seeds') + 1:longer.index('--seeds') + 3] = [0]
    result = subprocess.run([sys.executable, *map(str, longer)], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 2 and 'holds a different run' in result.stderr
    assert 'max_iters=1' in result.stderr and 'max_iters=2' in result.stderr
    forced = run(*longer, '--force')
    assert forced.count(': training') == 2  # ReLU and GoLU, seed 0
    spec = json.loads((tmp_path / 'cmp' / 'ReLU_seed0' / 'run.json').read_text())
    assert 'train_cfg.max_iters=2' in spec['options'] and spec['seed'] == 0


def test_comparison_with_activation_matched_pretraining(tmp_path):
    scenes = generate(tmp_path / 'data', num_train=8, num_val=4, size=96, seed=2)
    shapes = generate_classification(tmp_path / 'cls', num_train=12, num_val=6, size=32)
    work = tmp_path / 'cmp'
    args = ['tools/compare_activations.py', 'configs/demo/deeplabv3_golu_demo.py',
            '--activations', 'ReLU', 'GoLU', '--seeds', 0, 1, '--work-dir', work,
            '--cfg-options', 'train_cfg.max_iters=2', 'default_hooks.logger.interval=1',
            *(f'{k}={v}' for k, v in config_options(scenes, detection=False).items()),
            '--pretrain-config', 'configs/demo/resnet_golu_pretrain_demo.py',
            '--pretrain-cfg-options', 'train_cfg.max_iters=2', 'train_dataloader.batch_size=4',
            'default_hooks.logger.interval=1',
            'model.backbone.type=ActResNetV1c',  # DeepLabV3's backbone
            *(f'{k}={v}' for k, v in config_options(shapes, detection=False).items())]
    first = run(*args)
    assert first.count(': training') == 8  # 4 pretraining runs, 4 fine-tunes
    for act in ('ReLU', 'GoLU'):
        for seed in (0, 1):
            backbone = work / 'pretrain' / f'{act}_seed{seed}' / 'backbone.pth'
            weights = torch.load(backbone, weights_only=True)
            assert checkpoint_act_cfg(weights, str(backbone)) == {'type': act}
            spec = json.loads((work / f'{act}_seed{seed}' / 'run.json').read_text())
            assert f'model.backbone.init_cfg.checkpoint={backbone}' in spec['options']
            assert spec['pretrain']['activation'] == act and spec['pretrain']['seed'] == seed
    table = (work / 'comparison.md').read_text()
    assert 'pretrain/accuracy/top1' in table.splitlines()[0]
    assert re.search(r'^\| GoLU \| 2 \|( [0-9.]+ ± [0-9.]+ \(n=2\) \|){4}$', table, re.M)
    assert re.search(r'^\| GoLU \| mIoU \| 2 \| [-+][0-9.]+ \| \[[-+][0-9.]+, [-+][0-9.]+\] \|',
                     table, re.M)
    assert re.search(r'^\| GoLU \| pretrain/accuracy/top1 \| 2 \|', table, re.M)
    for name in ('curves.png', 'pretrain_curves.png', 'comparison.png'):
        assert (work / name).stat().st_size > 5000
    assert 'no training loss logged' not in first  # every run's curve is in the plots
    second = run(*args)  # both stages done: nothing retrains
    assert ': training' not in second and second.count('done before') == 8


def test_pretraining_demo_prints_its_numbers(tmp_path):
    out = run('tools/demo.py', '--pretrain', '--pretrain-iters', 3, '--iters', 2,
              '--data-root', tmp_path / 'data', '--num-train', 8, '--num-val', 4,
              '--work-dir', tmp_path / 'demo')
    assert re.search(r'^  pretrain top-1 +[0-9.]+ %', out, re.M)
    assert re.search(r'^  bbox AP +[0-9.]+ +[0-9.]+$', out, re.M)
    assert (tmp_path / 'demo' / 'finetune' / 'iter_2.pth').is_file()
    assert (tmp_path / 'demo' / 'scratch' / 'iter_2.pth').is_file()
    log = next((tmp_path / 'demo' / 'finetune').glob('*/*.log')).read_text()
    assert 'pretrain/iter_3.pth' in log  # the fine-tune's backbone came from the pretraining
