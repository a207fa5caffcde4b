"""The mechanisms' measures against oracles: moments of values with known moments, gradient
norms against autograd worked by hand on a tiny network, filter normalisation against its
definition, directions identical across runs, a loss quadratic in the weights whose landscape
and sharpness are known in closed form, and the fused model's capture equal to the unfused
model's."""
import copy
import math
import statistics

import pytest
import torch
from torch import nn

from golu_mm import GoLU
from golu_mm.analysis.capture import Stages
from golu_mm.analysis.mechanisms import (ActivationStats, Moments, filter_normalised_direction,
                                         gradient_flow, loss_landscape, sharpness)
from golu_mm.analysis.mechanisms_report import run_metrics, write_analysis


def test_moments_of_known_values_streamed_in_chunks():
    values = [-3.0, -1.0, 0.0, 0.0, 0.005, 1.0, 2.0, 7.5, -0.5, 4.0, 0.0, 12.0]
    m = Moments(near_zero=0.01)
    for chunk in (values[:1], values[1:5], values[5:6], values[6:]):  # uneven chunks
        m.add(torch.tensor(chunk, dtype=torch.float64))
    mean = statistics.fmean(values)
    variance = statistics.pvariance(values)
    skew = sum((v - mean) ** 3 for v in values) / len(values) / variance ** 1.5
    s = m.summary()
    assert s['mean'] == pytest.approx(mean, rel=1e-12)
    assert s['variance'] == pytest.approx(variance, rel=1e-12)
    assert s['skewness'] == pytest.approx(skew, rel=1e-12)
    assert s['near_zero'] == 4 / 12 and s['inactive'] == 3 / 12
    assert len(m.sample) <= m.sample_size and set(m.sample) <= set(values)


def test_moments_of_a_large_normal_sample():
    torch.manual_seed(0)
    m = Moments()
    for _ in range(4):
        m.add(3 + 2 * torch.randn(250_000))
    s = m.summary()
    assert s['mean'] == pytest.approx(3, abs=0.01) and s['variance'] == pytest.approx(4, rel=0.01)
    assert abs(s['skewness']) < 0.01
    assert s['near_zero'] == pytest.approx(0.02 * math.exp(-9 / 8) / math.sqrt(2 * math.pi * 4),
                                           rel=0.1)


class Tiny(nn.Module):
    """stem: Linear(3, 4) -> GoLU; layer1: Linear(4, 2) -> ReLU; loss: sum of squares."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.act = GoLU()
        self.layer1 = nn.Sequential(nn.Linear(4, 2), nn.ReLU())

    def forward(self, x):
        return self.layer1(self.act(self.fc(x)))


def tiny_loss(model, batch):
    return model(batch).pow(2).sum()


def test_gradient_norms_are_autograds_worked_by_hand():
    torch.manual_seed(1)
    model = Tiny().double()
    batches = [torch.randn(5, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)]
    flow = gradient_flow(model, tiny_loss, batches)
    expected = {'stem': {'weights': [], 'activations': []},
                'layer1': {'weights': [], 'activations': []}}
    for x in batches:  # by hand: every intermediate kept, torch.autograd.grad on each
        w1, b1 = model.fc.weight, model.fc.bias
        w2, b2 = model.layer1[0].weight, model.layer1[0].bias
        h = x @ w1.T + b1
        a = h * torch.exp(-torch.exp(-h))
        z = torch.relu(a @ w2.T + b2)
        loss = z.pow(2).sum()
        grads = torch.autograd.grad(loss, [w1, b1, w2, b2, a, z])
        norm = lambda *ts: math.sqrt(sum(float(t.pow(2).sum()) for t in ts))  # noqa: E731
        expected['stem']['weights'].append(norm(grads[0], grads[1]))
        expected['stem']['activations'].append(norm(grads[4]))
        expected['layer1']['weights'].append(norm(grads[2], grads[3]))
        expected['layer1']['activations'].append(norm(grads[5]))
    for stage, kinds in expected.items():
        for kind, values in kinds.items():
            assert flow[stage][kind] == pytest.approx(sum(values) / len(values), rel=1e-12)
    assert all(p.grad is None for p in model.parameters())  # left as it was


def test_filter_normalisation_is_its_definition_and_the_same_draw_for_every_run():
    torch.manual_seed(2)
    a, b = nn.Sequential(nn.Conv2d(3, 5, 3), nn.BatchNorm2d(5)), nn.Sequential(
        nn.Conv2d(3, 5, 3), nn.BatchNorm2d(5))
    da, db = filter_normalised_direction(a, seed=7), filter_normalised_direction(b, seed=7)
    weight = a[0].weight.detach().double()
    for i in range(5):  # each filter's norm is the weight filter's (float32: the weights')
        assert da['0.weight'][i].norm() == pytest.approx(float(weight[i].norm()), rel=1e-6)
    exact = filter_normalised_direction(copy.deepcopy(a).double(), seed=7)['0.weight']
    for i in range(5):
        assert exact[i].norm() == pytest.approx(float(weight[i].norm()), rel=1e-12)
    assert not da['0.bias'].any() and not da['1.weight'].any() and not da['1.bias'].any()
    unit = lambda d: d['0.weight'] / d['0.weight'].flatten(1).norm(dim=1).view(-1, 1, 1, 1)  # noqa
    torch.testing.assert_close(unit(da), unit(db))  # the same random draw, other weights
    assert not torch.equal(unit(da), unit(filter_normalised_direction(a, seed=8)))


class Quadratic(nn.Module):
    """loss(W) = c/2 ||W - W*||^2, at its minimum W = W*."""

    def __init__(self, target, c):
        super().__init__()
        self.weight = nn.Parameter(target.clone())
        self.register_buffer('target', target.clone())
        self.c = c


def quadratic_loss(model, batch):
    return model.c / 2 * (model.weight - model.target).pow(2).sum() + 0 * batch


def test_landscape_and_sharpness_of_a_quadratic_loss_are_its_closed_form():
    torch.manual_seed(3)
    model = Quadratic(torch.randn(4, 6, dtype=torch.float64), c=3.0)
    one = filter_normalised_direction(model, seed=0)
    two = filter_normalised_direction(model, seed=1)
    squared = float(one['weight'].pow(2).sum())  # = ||W*||^2 (filter-normalised)
    assert squared == pytest.approx(float(model.target.pow(2).sum()), rel=1e-12)
    coefficients = [-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0]
    batches = [torch.zeros(()), torch.zeros(())]
    losses = loss_landscape(model, quadratic_loss, batches, [one], [(a,) for a in coefficients])
    for a, loss in zip(coefficients, losses):
        assert loss == pytest.approx(1.5 * a * a * squared, rel=1e-12, abs=1e-12)
    assert sharpness(coefficients, losses, 0.5) == pytest.approx(1.5 * 0.25 * squared, rel=1e-12)
    cross = float((one['weight'] * two['weight']).sum())
    surface = loss_landscape(model, quadratic_loss, batches, [one, two], [(0.5, -1.0)])
    expected = 1.5 * (0.25 * squared - cross + float(two['weight'].pow(2).sum()))
    assert surface[0] == pytest.approx(expected, rel=1e-12)
    assert torch.equal(model.weight.detach(), model.target)  # restored exactly
    with pytest.raises(ValueError, match=r'no point at \[0.3'):
        sharpness(coefficients, losses, 0.3)


def test_fused_capture_equals_the_unfused_models_values():
    """A torchvision ResNet with GoLU, fused by fuse_resnet, measured (unfused for the
    capture) gives the statistics of the same model built without fusion."""
    torchvision = pytest.importorskip('torchvision')
    from golu_mm.nn import fuse_resnet
    from golu_mm.nn.activations import replace_modules
    torch.manual_seed(4)
    plain = torchvision.models.resnet18(num_classes=3)
    replace_modules(plain, GoLU)
    plain.train()  # batch statistics: the fused node's own moments path
    fused = fuse_resnet(torchvision.models.resnet18(num_classes=3))
    replace_modules(fused, GoLU)
    fused = fuse_resnet(fused)
    fused.load_state_dict(plain.state_dict())
    fused.train()
    assert type(fused.layer1[0]).__name__ == 'FusedBasicBlock'
    x = torch.randn(2, 3, 64, 64)
    results = []
    for model in (plain, fused):
        stats = ActivationStats(model)
        with stats:
            model(x.clone())
        results.append({n: m.summary() for n, m in stats.layers.items()})
    assert list(results[0]) == list(results[1]) and len(results[0]) == 1 + 8
    for name in results[0]:
        for key, value in results[0][name].items():
            assert results[1][name][key] == pytest.approx(value, rel=1e-5, abs=1e-7), (name, key)


def test_stages_come_from_the_models_structure():
    """Not a pattern on names: a backbone's own stage modules (whatever they are called), what
    comes before them its stem, then each other component."""
    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch = nn.Conv2d(3, 4, 1)
            self.stages = nn.ModuleList([nn.Sequential(nn.Linear(4, 4), GoLU()) for _ in range(3)])
            self.norm = nn.LayerNorm(4)

    class Detector(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone, self.neck, self.fc = Backbone(), nn.Linear(4, 4), nn.Linear(4, 2)

    stages = Stages(Detector())
    assert stages.names == ['backbone.stem', 'backbone.stages.0', 'backbone.stages.1',
                            'backbone.stages.2', 'backbone.norm', 'neck', 'fc']
    assert stages.of('backbone.stages.1.1') == 'backbone.stages.1'
    assert stages.of('backbone.patch.weight') == 'backbone.stem'
    assert stages.of('fc.bias') == 'fc' and stages.of('neck') == 'neck'
    tiny = Stages(Tiny())  # no backbone: the network is one
    assert tiny.names == ['stem', 'layer1'] and tiny.of('act') == 'stem'
    assert Stages(nn.Sequential(nn.Linear(2, 2), GoLU())).of('1') == 'model'


def test_report_of_two_activations_over_two_seeds(tmp_path):
    def run(activation, seed, scale):
        layers = {f'layer{i}.act': {'stage': f'layer{i}', 'mean': 0.1, 'variance': scale * i,
                                    'skewness': 1.0, 'near_zero': 0.1, 'inactive': 0.0}
                  for i in (1, 2)}
        c = [-0.5, 0.0, 0.5]
        return {'name': f'{activation}_seed{seed}', 'activation': activation, 'seed': seed,
                'layers': layers, 'samples': {'layer1': [0.0, 0.5, 1.0, 1.5 * scale]},
                'gradients': {'layer1': {'weights': scale, 'activations': 2.0},
                              'layer2': {'weights': 1.0, 'activations': 1.0}},
                'landscape_1d': {'coefficients': c, 'losses': [scale, 0.0, scale]},
                'landscape_2d': {'coefficients': c, 'losses': [[scale, 1, 2], [1, 0, 1],
                                                               [2, 1, scale]]},
                'sharpness': scale}
    runs = [run('ReLU', 0, 1.0), run('ReLU', 1, 1.2), run('GoLU', 0, 0.5), run('GoLU', 1, 0.6)]
    assert run_metrics(runs[0]) == {'sharpness': 1.0, 'variance/layer1': 1.0,
                                    'variance/layer2': 2.0, 'grad_norm/layer1': 1.0,
                                    'grad_norm/layer2': 1.0}
    paths = write_analysis(runs, tmp_path, {'data': 'four numbers'})
    page = paths['markdown'].read_text()
    # GoLU - ReLU sharpness paired by seed: -0.5 and -0.6, mean -0.55
    assert '| sharpness | 1.1 ± 0.14 (2) | 0.55 ± 0.071 (2) | -0.55 [' in page
    assert '- data: four numbers' in page
    for figure in paths['figures']:
        assert figure.stat().st_size > 3000 and f'({figure.name})' in page


def test_fixed_randomness_makes_a_sampling_loss_deterministic():
    """A loss that samples (torch, numpy and Python generators, as a detector's RoI sampler,
    dropout and augments do) gives the same value at every call, and the caller's random state
    is left where it was."""
    import random

    import numpy as np

    from golu_mm.analysis.mechanisms import fixed_randomness

    def sampling(model, batch):
        return (model(batch) * torch.rand(3)).sum() + np.random.rand() + random.random()

    model = nn.Linear(3, 3)
    batch = torch.ones(3)
    assert sampling(model, batch).item() != sampling(model, batch).item()
    fixed = fixed_randomness(sampling, seed=4)
    state = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    values = [fixed(model, batch).item() for _ in range(3)]
    assert values[0] == values[1] == values[2]
    assert torch.equal(torch.get_rng_state(), state[0])
    assert (np.random.get_state()[1] == state[1]).all() and random.getstate() == state[2]
    assert fixed_randomness(sampling, seed=5)(model, batch).item() != values[0]


def test_non_finite_measures_are_shown_and_kept_out_of_the_intervals(tmp_path):
    """A stage with weights and no activation module has no activation numbers; a measure that is
    NaN for one run is named on the page and left out of the means and intervals, and the
    report is written (it crashed in statistics.stdev before)."""
    from golu_mm.analysis.comparison import aggregate, interval
    from golu_mm.analysis.mechanisms_report import write_analysis
    assert interval([1.0, float('nan'), 3.0, None]) == interval([1.0, 3.0])
    assert aggregate([{'activation': 'A', 'seed': s, 'metrics': {'m': v}}
                      for s, v in enumerate([1.0, float('inf'), 3.0])], ['m'])[0]['m'] == (
        2.0, pytest.approx(2 ** 0.5), 2)

    def run(activation, seed, sharp):
        return {'name': f'{activation}{seed}', 'activation': activation, 'seed': seed,
                'layers': {'backbone.layer1.0.act': {'stage': 'backbone.layer1', 'mean': 0.1,
                                                     'variance': 1.0 + seed, 'skewness': 0.2,
                                                     'near_zero': 0.1, 'inactive': 0.0}},
                'samples': {'backbone.layer1': [0.1, 0.2, 0.3]},
                'gradients': {'backbone.layer1': {'weights': 1.0, 'activations': 2.0},
                              'neck': {'weights': 0.5 + seed, 'activations': None}},
                'landscape_1d': {'coefficients': [-1, 0, 1], 'losses': [2, 1, 2]},
                'landscape_2d': {'coefficients': [-1, 1], 'losses': [[2, 2], [2, 2.5]]},
                'sharpness': sharp}

    runs = [run('ReLU', 0, 0.5), run('ReLU', 1, 0.7), run('GoLU', 0, float('nan')),
            run('GoLU', 1, 0.4)]
    page = write_analysis(runs, tmp_path, {'data': 'test'})['markdown'].read_text()
    assert '| sharpness | 0.6 ± 0.14 (2) | 0.4 ± 0 (1) | -0.3: 1 pair(s): no interval' in page
    assert 'GoLU seed 0: sharpness = nan' in page
    assert '| grad_norm/neck | 1 ± 0.71 (2) |' in page  # the weights' norm where it has weights


class QuadraticForm(nn.Module):
    """loss = w^T A w / 2: its Hessian is A, whatever the batch."""

    def __init__(self, a):
        super().__init__()
        self.a = a
        self.w = nn.Parameter(torch.linspace(-1, 1, a.shape[0], dtype=a.dtype))

    def forward(self, batch):
        return self.w @ self.a @ self.w / 2


def form_loss(model, batch):
    return model(batch)


def test_curvature_of_a_quadratic_is_its_matrix():
    from golu_mm.analysis.mechanisms import hessian_trace, hessian_vector_product, top_eigenvalue
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=torch.Generator().manual_seed(1),
                                       dtype=torch.float64))
    eigenvalues = torch.linspace(0.5, 6.0, 12, dtype=torch.float64)
    a = q @ torch.diag(eigenvalues) @ q.T
    model = QuadraticForm(a)
    v = {'w': torch.arange(12, dtype=torch.float64)}
    assert torch.allclose(hessian_vector_product(model, form_loss, [0, 1], v)['w'],
                          a @ v['w'])
    top = top_eigenvalue(model, form_loss, [0], iterations=200, tolerance=1e-10)
    assert top.converged and top.value == pytest.approx(6.0, rel=1e-6)
    trace = hessian_trace(model, form_loss, [0], samples=400, tolerance=0.03)
    assert trace.value == pytest.approx(float(eigenvalues.sum()), rel=0.05)
    assert trace.converged and trace.iterations < 400
    capped = top_eigenvalue(model, form_loss, [0], iterations=2, tolerance=1e-12)
    assert not capped.converged and capped.iterations == 2
    with pytest.raises(ValueError, match='iterations >= 1'):
        top_eigenvalue(model, form_loss, [0], iterations=0)


def test_curvature_of_a_golu_network_against_the_full_hessian():
    """A small GoLU network (GoLU's double backward): the top eigenvalue and the trace against
    torch.autograd.functional.hessian of the same loss."""
    from torch.func import functional_call

    import golu_mm
    from golu_mm.analysis.mechanisms import hessian_trace, top_eigenvalue
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), golu_mm.GoLU(), nn.Linear(4, 1)).double()
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 1, dtype=torch.float64)

    def loss_fn(m, batch):
        return ((m(batch[0]) - batch[1]) ** 2).mean()

    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])

    def of_flat(vector):
        params, start = {}, 0
        for name, shape in zip(names, shapes):
            params[name] = vector[start:start + shape.numel()].view(shape)
            start += shape.numel()
        return loss_fn(lambda inputs: functional_call(model, params, (inputs,)), (x, y))

    full = torch.autograd.functional.hessian(of_flat, flat)
    eigenvalues = torch.linalg.eigvalsh(full)
    largest = float(eigenvalues[eigenvalues.abs().argmax()])
    top = top_eigenvalue(model, loss_fn, [(x, y)], iterations=500, tolerance=1e-10)
    assert top.value == pytest.approx(largest, rel=1e-5)
    trace = hessian_trace(model, loss_fn, [(x, y)], samples=2000, tolerance=0.005)
    assert trace.value == pytest.approx(float(full.trace()), rel=0.05)


def test_train_mode_buffers_and_dtypes_are_left_as_they_were():
    """A model in train mode updates batch norm's running statistics at every forward: the
    functions give them back as they were, with the weights. Directions come in each
    parameter's dtype, the same draw whatever it is."""
    from golu_mm.analysis.mechanisms import (filter_normalised_direction, gradient_flow,
                                             hessian_trace, loss_landscape, top_eigenvalue)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), GoLU(), nn.Linear(4, 1)).train()
    x = torch.randn(8, 3)

    def loss_fn(m, batch):
        return m(batch).pow(2).mean()

    before = {k: v.clone() for k, v in model.state_dict().items()}
    gradient_flow(model, loss_fn, [x])
    loss_landscape(model, loss_fn, [x], [filter_normalised_direction(model, 0)], [(0.5,), (0.0,)])
    top_eigenvalue(model, loss_fn, [x], iterations=2)
    hessian_trace(model, loss_fn, [x], samples=2)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), [
        k for k in before if not torch.equal(before[k], after[k])]
    single = filter_normalised_direction(model, 3)
    double = filter_normalised_direction(model.double(), 3)
    assert single['0.weight'].dtype == torch.float32 and double['0.weight'].dtype == torch.float64
    assert torch.allclose(single['0.weight'].double(), double['0.weight'])
