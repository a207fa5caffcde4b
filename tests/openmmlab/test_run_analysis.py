"""tools/analyze_activations.py over a demo sweep's finished runs (untrained weights, so that no
training is needed): the report, the link from the sweep's table, run directories left as they
were, the same numbers on a second run; bad input refused naming the run. And MechanismsHook:
it measures every `interval` iterations only, logging what gradient_flow computes."""
import hashlib
import importlib.util
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config

from golu_mm.analysis.mechanisms import gradient_flow
from golu_mm.analysis.run_record import finish_run, start_run
from golu_mm.data import config_options, generate
from golu_mm.openmmlab import apis, run_analysis
from golu_mm.openmmlab.activation_record import activation_meta
from golu_mm.openmmlab.config_options import parse_options
from golu_mm.openmmlab.mechanisms_hook import MechanismsHook
from golu_mm.openmmlab.sweep import Stage, plan_sweep, write_report

ROOT = Path(__file__).resolve().parents[2]
CONFIG = 'configs/demo/deeplabv3_golu_demo.py'
_spec = importlib.util.spec_from_file_location('analyze_tool', ROOT / 'tools' / 'analyze_activations.py')
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)
FAST = ['--batches', '1', '--points', '3', '--grid', '3', '--span', '0.5', '--radius', '0.5',
        '--hessian-iterations', '2', '--trace-samples', '1']


def save_run(run, meta_model=None):
    """A finished run directory holding the seeded, untrained model of its spec."""
    torch.manual_seed(run.seed)
    model, _ = apis.build_model(CONFIG, cfg_options=parse_options(run.spec['options']))
    model.init_weights()
    start_run(run.run_dir, run.spec)
    checkpoint = run.run_dir / 'iter_1.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': activation_meta(meta_model or model)}, checkpoint)
    (run.run_dir / 'last_checkpoint').write_text(str(checkpoint))
    finish_run(run.run_dir, run.spec, {'mIoU': 10.0 + run.seed})
    return model


@pytest.fixture(scope='module')
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp('analysis')
    data = generate(root / 'data', num_train=2, num_val=2, size=64, seed=3)
    options = [f'{k}={v}' for k, v in config_options(data, detection=False).items()]
    runs = plan_sweep(Stage(CONFIG, Config.fromfile(CONFIG), options), ['ReLU', 'GoLU'], [0, 1],
                      root / 'sweep', 'test')
    for run in runs:
        save_run(run)
    (root / 'sweep' / 'comparison.md').write_text('| activation |\n')
    (root / 'sweep' / 'comparison.csv').write_text('activation,n\nReLU,2\nGoLU,2\n')
    return root, runs


def digests(folder: Path) -> dict:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob('*')) if p.is_file()}


def test_the_report_over_a_sweep(sweep):
    root, runs = sweep
    before = {run.name: digests(run.run_dir) for run in runs}
    tool.main([str(root / 'sweep'), *FAST])
    out = root / 'sweep' / 'analysis'
    page = (out / 'analysis.md').read_text()
    assert '- runs: ReLU_seed0, ReLU_seed1, GoLU_seed0, GoLU_seed1' in page  # the sweep's order
    assert '2 images' in page and 'the same for every run' in page
    assert '| sharpness | ' in page and 'GoLU − ReLU [95 % CI]' in page  # ReLU: the reference
    assert '| variance/backbone.layer4 |' in page and '| grad_norm/backbone.stem |' in page
    assert '| hessian/top_eigenvalue |' in page and '| hessian/trace |' in page
    assert '| ReLU | 0 | trace | 1 |' in page and 'no: the bound ended it' in page
    assert '(landscape_2d.png)' in page and (out / 'distribution_backbone_layer1.png').is_file()
    assert 'analysis/analysis.md' in (root / 'sweep' / 'comparison.md').read_text()
    write_report(runs, root / 'sweep', log=lambda _: None)  # the sweep's report, written anew
    table = (root / 'sweep' / 'comparison.md').read_text()
    assert table.count('](analysis/analysis.md)') == 1 and '| ReLU | 2 |' in table
    assert {run.name: digests(run.run_dir) for run in runs} == before  # only read
    measured = json.loads((out / 'analysis.json').read_text())['runs']
    relu = next(r for r in measured if r['name'] == 'ReLU_seed0')
    assert relu['landscape_1d']['coefficients'] == [-0.5, 0.0, 0.5]
    assert relu['sharpness'] == pytest.approx(
        (relu['landscape_1d']['losses'][0] + relu['landscape_1d']['losses'][2]) / 2
        - relu['landscape_1d']['losses'][1])
    # ReLU's inactive units are exact zeros; GoLU has none
    assert all(layer['inactive'] > 0.2 for name, layer in relu['layers'].items()
               if name.startswith('backbone.layer'))
    golu = next(r for r in measured if r['name'] == 'GoLU_seed0')
    assert all(layer['inactive'] == 0 for name, layer in golu['layers'].items()
               if name.startswith('backbone.layer'))
    # measured again from pairs: the same numbers
    pairs = run_analysis.TrainedRun('again', runs[0].spec['config'], relu['checkpoint'],
                                    parse_options(runs[0].spec['options']), 'ReLU', 0)
    settings = run_analysis.Settings(1, 3, 3, 0.5, 0.5, 0)
    batches = run_analysis.fixed_batches(apis.load_config(
        CONFIG, pairs.options, None, 'none'), 1)
    again = run_analysis.measure(pairs, batches, settings)
    assert again['landscape_1d']['losses'] == relu['landscape_1d']['losses']
    assert again['gradients'] == relu['gradients']


def test_a_sweep_without_a_finished_run_is_refused(tmp_path, sweep):
    _, runs = sweep
    start_run(tmp_path / 'ReLU_seed0', runs[0].spec)  # planned, never finished
    with pytest.raises(ValueError, match=r'no finished run to analyse: ReLU_seed0 \(not finished'):
        run_analysis.finished_runs(tmp_path)
    with pytest.raises(ValueError, match='no run directory with a run.json'):
        run_analysis.finished_runs(tmp_path / 'ReLU_seed0')


def test_runs_of_another_dataset_or_activation_record_are_refused(tmp_path, sweep):
    root, runs = sweep
    runs_found = run_analysis.finished_runs(root / 'sweep')
    other = generate(tmp_path / 'other', num_train=2, num_val=2, size=64, seed=4)
    moved = run_analysis.TrainedRun(
        'moved', CONFIG, runs_found[0].checkpoint,
        {**runs_found[0].options, 'val_dataloader.dataset.data_root': f'{other}/'}, 'GoLU', 5)
    with pytest.raises(ValueError, match=f'run moved evaluates another dataset than '
                                         f'{runs_found[0].name}'):
        run_analysis.analyze([runs_found[0], moved], tmp_path / 'out')
    relu = next(r for r in runs_found if r.activation == 'ReLU')
    golu = next(r for r in runs_found if r.activation == 'GoLU')
    mislabelled = run_analysis.TrainedRun('mislabelled', CONFIG, relu.checkpoint, golu.options,
                                          'GoLU', 0)  # a ReLU checkpoint, a GoLU config
    with pytest.raises(Exception, match='run mislabelled: .*ReLU'):
        run_analysis.measure(mislabelled, [], run_analysis.Settings())


def test_bad_command_lines_are_argparse_errors(capsys):
    for argv, message in [([], 'either a work dir or --runs'),
                          (['--runs', 'a.py'], 'pairs and needs --out'),
                          (['d', '--radius', '2'], 'outside the curve'),
                          (['d', '--points', '2'], 'must be at least 3'),
                          (['d', '--grid', '1'], 'must be at least 2')]:
        with pytest.raises(SystemExit):
            tool.main(argv)
        assert message in capsys.readouterr().err


class Recorder:
    def __init__(self):
        self.logged = []

    def add_scalars(self, scalars, step):
        self.logged.append((step, scalars))


def test_mechanisms_hook_measures_every_interval_and_costs_nothing_between():
    from tests.analysis.test_mechanisms import Tiny, tiny_loss
    torch.manual_seed(5)
    model = Tiny().double()
    runner = SimpleNamespace(model=model, iter=0, visualizer=Recorder())
    hook = MechanismsHook(interval=2)
    x = torch.randn(4, 3, dtype=torch.float64)
    for it in range(4):
        runner.iter = it
        hook.before_train_iter(runner, it)
        measured = hook._stats is not None
        hooked = bool(model.act._forward_hooks) or model.fc.weight._backward_hooks
        assert bool(hooked) == measured == (it % 2 == 1)  # nothing registered between
        tiny_loss(model, x).backward()
        hook.after_train_iter(runner, it)
        assert not model.act._forward_hooks and not model.fc.weight._backward_hooks
        model.zero_grad(set_to_none=True)
    assert [step for step, _ in runner.visualizer.logged] == [2, 4]
    scalars = runner.visualizer.logged[0][1]
    flow = gradient_flow(model, tiny_loss, [x])
    for stage in ('stem', 'layer1'):
        assert scalars[f'mechanisms/grad_norm/weights/{stage}'] == pytest.approx(
            flow[stage]['weights'], rel=1e-12)
        assert scalars[f'mechanisms/grad_norm/activations/{stage}'] == pytest.approx(
            flow[stage]['activations'], rel=1e-12)
    h = model.fc(x)
    variance = (h * torch.exp(-torch.exp(-h))).var(unbiased=False).item()
    assert scalars['mechanisms/variance/stem'] == pytest.approx(variance, rel=1e-12)
    with pytest.raises(ValueError, match='interval must be a whole number >= 1'):
        MechanismsHook(interval=0)
    assert math.isfinite(scalars['mechanisms/variance/layer1'])


@pytest.mark.slow
def test_mechanisms_hook_in_a_training_logs_to_the_visualizer(tmp_path):
    from golu_mm.analysis.run_record import read_scalars
    data = generate(tmp_path / 'data', num_train=8, num_val=2, size=64, seed=6)
    options = {**config_options(data, detection=False), 'train_cfg.max_iters': 4,
               'train_dataloader.batch_size': 2,
               'custom_hooks': [dict(type='MechanismsHook', interval=2)]}
    apis.train(CONFIG, work_dir=str(tmp_path / 'run'), cfg_options=options)
    logged = [r for r in read_scalars(tmp_path / 'run') if 'mechanisms/variance/backbone.layer1' in r]
    assert [r['step'] for r in logged] == [2, 4]
    for record in logged:
        for stage in ('backbone.stem', 'backbone.layer4', 'decode_head'):
            assert record[f'mechanisms/variance/{stage}'] > 0
            assert record[f'mechanisms/grad_norm/weights/{stage}'] > 0
        assert record['mechanisms/grad_norm/activations/backbone.layer2'] > 0


def test_bad_runs_and_settings_are_named(tmp_path, sweep, monkeypatch):
    """A checkpoint with NaN weights, a model without an activation module, more batches than
    the val dataloader has, a CUDA device that is not there: one line each, naming it."""
    root, _ = sweep
    relu = run_analysis.finished_runs(root / 'sweep')[0]
    content = torch.load(relu.checkpoint, weights_only=False)
    name = next(k for k in content['state_dict'] if k.endswith('conv1.weight'))
    content['state_dict'][name][0, 0, 0, 0] = float('nan')
    torch.save(content, tmp_path / 'nan.pth')
    diverged = run_analysis.TrainedRun('diverged', CONFIG, str(tmp_path / 'nan.pth'),
                                       relu.options, 'ReLU', 0)
    with pytest.raises(ValueError, match=rf'run diverged: its checkpoint .*nan\.pth holds weights '
                                         rf'that are not finite \({re.escape(name)}\)'):
        run_analysis.measure(diverged, [], run_analysis.Settings())
    with pytest.raises(ValueError, match=r'--batches 50, but the config\'s val dataloader '
                                         r'yields 1 batch\(es\): ask for at most 1'):
        run_analysis.fixed_batches(apis.load_config(CONFIG, relu.options, None, 'none'), 50)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(ValueError, match=r'--device cuda: torch sees 0 CUDA device\(s\) here'):
        run_analysis.pick_device('cuda')
    assert run_analysis.pick_device(None) == 'cpu' and run_analysis.pick_device('cpu') == 'cpu'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)  # a GPU machine, faked
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    assert run_analysis.pick_device(None) == 'cuda' and run_analysis.pick_device('cuda:1')
    with pytest.raises(ValueError, match=r'--device cuda:2: torch sees 2 CUDA device'):
        run_analysis.pick_device('cuda:2')


def test_a_model_without_an_activation_module_is_refused(monkeypatch, sweep):
    root, _ = sweep
    run = run_analysis.finished_runs(root / 'sweep')[0]
    monkeypatch.setattr(run_analysis, 'ACTIVATION_MODULES', (torch.nn.Hardswish,))
    with pytest.raises(ValueError, match=r'run ReLU_seed0: EncoderDecoder has no activation '
                                         r'module \(Hardswish\) to measure'):
        run_analysis.measure(run, [], run_analysis.Settings())


@pytest.mark.cuda
def test_cpu_and_cuda_give_the_same_numbers(sweep):
    root, _ = sweep
    run = run_analysis.finished_runs(root / 'sweep')[0]
    batches = run_analysis.fixed_batches(apis.load_config(CONFIG, run.options, None, 'none'), 1)
    found = {device: run_analysis.measure(run, batches, run_analysis.Settings(
        1, 3, 2, 0.5, 0.5, 0, device=device, eigen_iterations=3, trace_samples=2))
        for device in ('cpu', 'cuda')}
    for key in ('landscape_1d', 'gradients'):
        assert json.dumps(found['cpu'][key]) and found['cuda'][key].keys() == \
            found['cpu'][key].keys()
    assert found['cuda']['landscape_1d']['losses'] == pytest.approx(
        found['cpu']['landscape_1d']['losses'], rel=1e-4)
    assert found['cuda']['sharpness'] == pytest.approx(found['cpu']['sharpness'], rel=1e-3,
                                                       abs=1e-6)


def test_mechanisms_hook_unscales_amp_gradients():
    """Under AmpOptimWrapper the backward runs on loss x scale: the logged norms are the
    unscaled ones, equal to gradient_flow's on the plain loss."""
    from tests.analysis.test_mechanisms import Tiny, tiny_loss
    torch.manual_seed(5)
    model = Tiny().double()
    scaler = SimpleNamespace(get_scale=lambda: 1024.0)
    runner = SimpleNamespace(model=model, iter=1, visualizer=Recorder(),
                             optim_wrapper=SimpleNamespace(loss_scaler=scaler))
    hook = MechanismsHook(interval=2)
    x = torch.randn(4, 3, dtype=torch.float64)
    hook.before_train_iter(runner, 1)
    (tiny_loss(model, x) * 1024.0).backward()
    hook.after_train_iter(runner, 1)
    model.zero_grad(set_to_none=True)
    scalars = runner.visualizer.logged[0][1]
    flow = gradient_flow(model, tiny_loss, [x])
    for kind in ('weights', 'activations'):
        assert scalars[f'mechanisms/grad_norm/{kind}/stem'] == pytest.approx(
            flow['stem'][kind], rel=1e-12)
