"""The mechanisms analysis on the mission's own model, Mask R-CNN (the demo config, untrained
weights, synthetic scenes): it completes (its neck and RPN head have weights but no activation
module) and its loss is deterministic although the detector samples proposals and RoIs: two
analyses give identical numbers, the landscape at ±ε tends to the origin's loss, and the
origin's loss equals an independent evaluation made with the same seeding."""
import json
import re

import pytest
import torch
from mmengine.config import Config

from golu_mm.analysis.mechanisms import (filter_normalised_direction, fixed_randomness,
                                         loss_landscape)
from golu_mm.analysis.run_record import finish_run, start_run
from golu_mm.data import config_options, generate
from golu_mm.openmmlab import apis, run_analysis
from golu_mm.openmmlab.activation_record import activation_meta
from golu_mm.openmmlab.config_options import parse_options
from golu_mm.openmmlab.sweep import Stage, plan_sweep

DET = 'configs/demo/mask_rcnn_golu_demo.py'
pytestmark = pytest.mark.slow
SETTINGS = run_analysis.Settings(batches=1, points=3, grid=2, span=0.5, radius=0.5,
                                 eigen_iterations=2, trace_samples=2)


def finish_untrained(config, runs):
    """Each run's directory finished with its seeded, untrained model as its checkpoint."""
    for run in runs:
        torch.manual_seed(run.seed)
        model, _ = apis.build_model(config, cfg_options=parse_options(run.spec['options']))
        model.init_weights()
        start_run(run.run_dir, run.spec)
        torch.save({'state_dict': model.state_dict(), 'meta': activation_meta(model)},
                   run.run_dir / 'iter_1.pth')
        (run.run_dir / 'last_checkpoint').write_text(str(run.run_dir / 'iter_1.pth'))
        finish_run(run.run_dir, run.spec, {})


@pytest.fixture(scope='module')
def detector_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp('det')
    data = generate(root / 'data', num_train=2, num_val=2, size=96, seed=5)
    options = [f'{k}={v}' for k, v in config_options(data, detection=True).items()]
    runs = plan_sweep(Stage(DET, Config.fromfile(DET), options), ['ReLU', 'GoLU'], [0],
                      root / 'sweep', 'test')
    finish_untrained(DET, runs)
    return root, runs


def test_mask_rcnn_analysis_completes_and_repeats_exactly(detector_sweep):
    root, _ = detector_sweep
    runs = run_analysis.finished_runs(root / 'sweep')
    first = run_analysis.analyze(runs, root / 'a1', SETTINGS, log=lambda _: None)
    second = run_analysis.analyze(runs, root / 'a2', SETTINGS, log=lambda _: None)
    one, two = (json.loads(paths['json'].read_text())['runs'] for paths in (first, second))
    for run in one + two:  # what the estimates took varies; what they found may not
        for found in run['curvature'].values():
            found.pop('seconds')
    assert one == two  # identical numbers
    page = first['markdown'].read_text()
    assert '| sharpness |' in page and 'seeded with 0' in page
    assert '| hessian/top_eigenvalue |' in page
    neck = one[0]['gradients']['neck']
    assert neck['weights'] > 0 and neck['activations'] is None  # weights, no activation module


def test_the_detector_loss_is_the_same_at_every_evaluation(detector_sweep):
    root, runs = detector_sweep
    trained = run_analysis.finished_runs(root / 'sweep')[0]
    model, cfg = apis.build_model(trained.config, trained.checkpoint,
                                  cfg_options=trained.options)
    batches = run_analysis.fixed_batches(apis.load_config(trained.config, trained.options, None,
                                                          'none'), 1)
    loss = fixed_randomness(run_analysis.mm_loss, seed=0)
    direction = filter_normalised_direction(model, 0)
    eps = 1e-4
    minus, origin, plus = loss_landscape(model, loss, batches, [direction],
                                         [(-eps,), (0.0,), (eps,)])
    with torch.no_grad():
        independent = float(fixed_randomness(run_analysis.mm_loss, seed=0)(model, batches[0]))
    assert origin == independent
    assert abs(plus - origin) < 1e-3 and abs(minus - origin) < 1e-3
    # Without the fixed random state the same weights give another loss (the samplers draw
    # other proposals and RoIs): the noise the analysis removes.
    with torch.no_grad():
        drawn = {float(run_analysis.mm_loss(model, batches[0])) for _ in range(4)}
    assert len(drawn) > 1


FAMILIES = {'faster_rcnn': ('configs/demo/faster_rcnn_golu_demo.py', True),
            'retinanet': ('configs/demo/retinanet_golu_demo.py', True),
            'classifier': ('configs/demo/resnet_golu_pretrain_demo.py', False)}


@pytest.mark.parametrize('family', list(FAMILIES))
def test_the_analysis_completes_on_every_model_family(family, tmp_path):
    """Faster R-CNN, RetinaNet and an mmpretrain classifier (Mask R-CNN and DeepLabV3: above and
    in test_run_analysis.py), each a ReLU and a GoLU run of its demo config: the page is
    written, with the backbone's own stages and every measure."""
    from golu_mm.data import generate_classification
    config, detection = FAMILIES[family]
    if detection:
        data = generate(tmp_path / 'data', num_train=2, num_val=2, size=96, seed=5)
    else:
        data = generate_classification(tmp_path / 'data', num_train=4, num_val=4, size=32)
    options = [f'{k}={v}' for k, v in config_options(data, detection=detection).items()]
    if not detection:
        options.append('model.backbone.type=ActResNetV1c')
    runs = plan_sweep(Stage(config, Config.fromfile(config), options), ['ReLU', 'GoLU'], [0],
                      tmp_path / 'sweep', 'test')
    finish_untrained(config, runs)
    paths = run_analysis.analyze(run_analysis.finished_runs(tmp_path / 'sweep'), tmp_path / 'out',
                                 SETTINGS, log=lambda _: None)
    page = paths['markdown'].read_text()
    stage = 'backbone.layer1'
    assert f'| variance/{stage} |' in page and '| sharpness |' in page
    assert '| hessian/top_eigenvalue |' in page
    assert re.search(r'(GoLU|ReLU) − (ReLU|GoLU) \[95 % CI\]', page)
