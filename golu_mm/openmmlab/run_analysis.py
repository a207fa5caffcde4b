"""What tools/analyze_activations.py does: the mechanisms of golu_mm.analysis.mechanisms measured
on trained runs (a sweep's finished runs, or config/checkpoint pairs) over the same validation
batches (the config's val dataloader: test pipeline, no augmentation, in order), written as one
report. Run directories are only read."""
import copy
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config

from ..analysis.capture import ACTIVATION_MODULES
from ..analysis.mechanisms import (ActivationStats, filter_normalised_direction,
                                   fixed_randomness, gradient_flow, hessian_trace, loss_landscape,
                                   sharpness, top_eigenvalue)
from ..analysis.mechanisms_report import write_analysis
from ..analysis.run_record import RESULT_FILE, SPEC_FILE, last_checkpoint, read_result, read_spec
from .config_options import parse_options

ANALYSIS_DIR, ANALYSIS_PAGE = 'analysis', 'analysis.md'


@dataclass
class TrainedRun:
    """A run to analyse: its config (with options) and checkpoint, activation and seed."""
    name: str
    config: str
    checkpoint: str
    options: Dict
    activation: str
    seed: int


def finished_runs(work_dir) -> List[TrainedRun]:
    """The finished (result.json 'finished') runs of a compare_activations.py work dir, not its
    pretrainings, in the sweep's order of activations (its comparison.csv's), then by seed;
    ValueError where there is none, naming where each run stands."""
    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        raise FileNotFoundError(f'{work_dir} is not a directory')
    runs, others = [], []
    for spec_file in sorted(work_dir.glob(f'*/{SPEC_FILE}')):
        run_dir = spec_file.parent
        result = read_result(run_dir) if (run_dir / RESULT_FILE).is_file() else None
        checkpoint = last_checkpoint(run_dir)
        if result is None or result.get('status') != 'finished' or checkpoint is None:
            others.append(f'{run_dir.name} ({"no checkpoint" if result else "not finished"})')
            continue
        spec = read_spec(run_dir)
        runs.append(TrainedRun(run_dir.name, spec['config'], str(checkpoint),
                               parse_options(spec['options']), spec['activation'], spec['seed']))
    order = _sweep_order(work_dir)
    runs.sort(key=lambda r: (order.get(r.activation, len(order)), r.activation, r.seed))
    if not runs:
        raise ValueError(f'{work_dir} has no finished run to analyse'
                         + (f': {", ".join(others)}' if others else
                            ' (no run directory with a run.json: is it a compare_activations.py '
                            'work dir?)'))
    return runs


def _sweep_order(work_dir: Path) -> Dict[str, int]:
    """The activations in the order the sweep's comparison.csv lists them (the command line's:
    its first is the reference of every difference), where there is one."""
    table = work_dir / 'comparison.csv'
    if not table.is_file():
        return {}
    import csv
    with table.open() as f:
        names = [row['activation'] for row in csv.DictReader(f)]
    return {name: i for i, name in enumerate(dict.fromkeys(names))}


def runs_from_pairs(pairs: Sequence[Tuple[str, str]]) -> List[TrainedRun]:
    """Runs from (config, checkpoint) pairs: the activation is the config's (top-level act_cfg,
    else the backbone's, else ReLU: upstream's), the seed its randomness.seed (else 0)."""
    runs, seen = [], {}
    for config, checkpoint in pairs:
        cfg = Config.fromfile(config)
        act = (cfg.get('act_cfg') or cfg.model.get('backbone', {}).get('act_cfg') or {})
        activation = act.get('type', 'ReLU')
        seed = (cfg.get('randomness') or {}).get('seed') or 0
        name = f'{Path(config).stem}:{Path(checkpoint).name}'
        if (activation, seed) in seen:
            raise ValueError(f'{name} and {seen[activation, seed]} are both {activation} with seed '
                             f'{seed}: give each run\'s config its own randomness.seed, so that '
                             'runs pair by seed')
        seen[activation, seed] = name
        runs.append(TrainedRun(name, config, checkpoint, {}, activation, seed))
    return runs


def mm_loss(model, batch) -> torch.Tensor:
    """The training loss of an OpenMMLab model on one dataloader batch (a copy: the data
    preprocessor may change what it is given)."""
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    return loss


def fixed_batches(cfg: Config, count: int) -> list:
    """The first `count` batches of the config's val dataloader, in order, loaded once."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from .apis import codebase_of
    loader_cfg = copy.deepcopy(cfg.val_dataloader)
    loader_cfg.update(num_workers=0, persistent_workers=False)
    loader_cfg.sampler = dict(type='DefaultSampler', shuffle=False)
    with DefaultScope.overwrite_default_scope(codebase_of(cfg)):
        loader = Runner.build_dataloader(loader_cfg, seed=0)
        batches = []
        for batch in loader:
            batches.append(batch)
            if len(batches) == count:
                break
    if len(batches) < count:
        raise ValueError(f'--batches {count}, but the config\'s val dataloader yields '
                         f'{len(batches)} batch(es): ask for at most {len(batches)}'
                         if batches else 'the config\'s val dataloader yields no batch')
    return batches


def pick_device(requested: Optional[str] = None) -> str:
    """Where the analysis runs: `requested` ('cpu', 'cuda', 'cuda:N'), by default CUDA where
    torch sees a GPU; ValueError for a CUDA device torch does not see."""
    if requested is None:
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    device = torch.device(requested)
    if device.type == 'cuda':
        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= visible:
            raise ValueError(f'--device {requested}: torch sees {visible} CUDA device(s) here '
                             '(use --device cpu, or run where the GPU is)')
    elif device.type != 'cpu':
        raise ValueError(f'--device {requested}: cpu or cuda[:N]')
    return requested


def _dataset_of(cfg: Config) -> str:
    return json.dumps(cfg.val_dataloader.dataset.to_dict(), sort_keys=True, default=str)


def _pooled(samples: List[float], size: int, seed: int) -> List[float]:
    if len(samples) <= size:
        return samples
    keep = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed))[:size]
    return [samples[i] for i in keep.tolist()]


@dataclass
class Settings:
    """How much is measured: validation batches, points of the 1-D curve and per side of the
    2-D grid over [-span, span], the sharpness radius, the first direction's seed, the seed
    every loss evaluation runs with (mechanisms.fixed_randomness), and the bounds of the
    curvature estimates (power iterations and Hutchinson vectors, each with its tolerance; 0
    iterations or samples: not measured); the device the models are measured on."""
    batches: int = 2
    points: int = 9
    grid: int = 5
    span: float = 1.0
    radius: float = 0.25
    direction_seed: int = 0
    loss_seed: int = 0
    device: str = 'cpu'
    eigen_iterations: int = 20
    eigen_tolerance: float = 1e-3
    trace_samples: int = 30
    trace_tolerance: float = 0.05


def coefficients(span: float, points: int, radius: Optional[float] = None) -> List[float]:
    """points evenly over [-span, span], with 0 and ±radius among them."""
    values = [-span + 2 * span * i / (points - 1) for i in range(points)] if points > 1 else [0.0]
    extra = [0.0] + ([radius, -radius] if radius else [])
    return sorted({round(v, 12) for v in values + extra})


def measure(run: TrainedRun, batches: list, settings: Settings, reference=None) -> dict:
    """Every mechanism of one run; `reference` (the first run's parameter shapes) must match."""
    from .apis import build_model
    try:
        model, cfg = build_model(run.config, run.checkpoint, cfg_options=run.options or None)
    except Exception as exc:  # a missing file, another model, another activation record
        try:
            named = type(exc)(f'run {run.name}: {exc}')
        except Exception:  # noqa: BLE001 (an exception class that takes other arguments)
            named = RuntimeError(f'run {run.name}: {type(exc).__name__}: {exc}')
        raise named from exc
    bad = next((name for name, p in model.named_parameters() if not torch.isfinite(p).all()),
               None)
    if bad is not None:
        raise ValueError(f'run {run.name}: its checkpoint {run.checkpoint} holds weights that '
                         f'are not finite ({bad}): a diverged training? Nothing to measure')
    if not any(isinstance(m, ACTIVATION_MODULES) for m in model.modules()):
        raise ValueError(f'run {run.name}: {type(model).__name__} has no activation module '
                         f'({", ".join(c.__name__ for c in ACTIVATION_MODULES)}) to measure')
    model.to(settings.device)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    if reference is not None and shapes != reference:
        differ = sorted(set(shapes.items()) ^ set(reference.items()))[:3]
        raise ValueError(f'run {run.name} is another model than the first run (parameters '
                         f'differ: {differ}): analyse runs of one config and dataset together')
    loss = fixed_randomness(mm_loss, settings.loss_seed)
    stats = ActivationStats(model, grads=True)
    gradients = gradient_flow(model, loss, batches, stats)
    layers = {name: {'stage': stats.stages.of(name), **m.summary()}
              for name, m in stats.layers.items()}
    samples = {stage: _pooled(sum((stats.layers[n].sample for n in names), []), 4096, 0)
               for stage, names in stats.by_stage().items()}
    one = filter_normalised_direction(model, settings.direction_seed)
    two = filter_normalised_direction(model, settings.direction_seed + 1)
    line = coefficients(settings.span, settings.points, settings.radius)
    curve = loss_landscape(model, loss, batches, [one], [(c,) for c in line])
    grid = coefficients(settings.span, settings.grid)
    surface = loss_landscape(model, loss, batches, [one, two],
                             [(a, b) for b in grid for a in grid])
    curvature = {}
    for key, estimate, bound, tolerance in (
            ('top_eigenvalue', top_eigenvalue, settings.eigen_iterations,
             settings.eigen_tolerance),
            ('trace', hessian_trace, settings.trace_samples, settings.trace_tolerance)):
        if bound:
            start = time.perf_counter()
            found = estimate(model, loss, batches, bound, tolerance, seed=settings.direction_seed)
            curvature[key] = {**dataclasses.asdict(found),
                              'seconds': time.perf_counter() - start}
    return {'name': run.name, 'activation': run.activation, 'seed': run.seed,
            'curvature': curvature,
            'config': run.config, 'checkpoint': run.checkpoint, 'layers': layers,
            'samples': samples, 'gradients': gradients,
            'landscape_1d': {'coefficients': line, 'losses': curve},
            'landscape_2d': {'coefficients': grid,
                             'losses': [surface[i * len(grid):(i + 1) * len(grid)]
                                        for i in range(len(grid))]},
            'sharpness': sharpness(line, curve, settings.radius), '_shapes': shapes}


def analyze(runs: Sequence[TrainedRun], out_dir, settings: Settings = Settings(),
            log=print) -> Dict[str, Path]:
    """Measure every run on the same batches and write the report to out_dir. Runs of different
    datasets (val dataloaders) or models are refused, naming the run."""
    from .apis import load_config
    configs = [load_config(r.config, r.options or None, None, 'none') for r in runs]
    for run, cfg in zip(runs[1:], configs[1:]):
        if _dataset_of(cfg) != _dataset_of(configs[0]):
            raise ValueError(f'run {run.name} evaluates another dataset than {runs[0].name} '
                             '(their val_dataloader.dataset differ): analyse runs of one config '
                             'and dataset together')
    batches = fixed_batches(configs[0], settings.batches)
    measured, reference = [], None
    for run in runs:
        log(f'[analyze] {run.name}: {run.activation}, seed {run.seed}')
        result = measure(run, batches, settings, reference)
        reference = result.pop('_shapes')
        measured.append(result)
    images = sum(len(b['inputs']) for b in batches)
    page = {
        'runs': ', '.join(r.name for r in runs),
        'data': f'{len(batches)} batches ({images} images) of the val dataloader of '
                f'{runs[0].config}, test pipeline, in order: the same for every run',
        'activation outputs': 'measured with fused BN → GoLU nodes run unfused (the same values '
                              'within float rounding)',
        'model state': f'eval mode: batch norm uses the checkpoint\'s running statistics; on '
                       f'{settings.device}',
        'gradient flow': 'L2 norm of the training loss\'s gradient per stage, for its weights '
                         'and its activation outputs, mean over the batches',
        'landscape': f'filter-normalised random directions (Li et al. 2018; seeds '
                     f'{settings.direction_seed} and {settings.direction_seed + 1}, the same '
                     f'for every run), biases and norm parameters not moved; 1-D: '
                     f'{len(measured[0]["landscape_1d"]["coefficients"])} points over '
                     f'[-{settings.span}, {settings.span}], 2-D: {settings.grid}x{settings.grid}',
        'sharpness': f'(L(+r) + L(-r)) / 2 - L(0) at r = {settings.radius}',
        'curvature': f'the Hessian of the same loss over the same batches, from Hessian-vector '
                     f'products (double backward): its top eigenvalue by power iteration (at '
                     f'most {settings.eigen_iterations} products, relative tolerance '
                     f'{settings.eigen_tolerance}) and its trace by Hutchinson\'s estimator (at '
                     f'most {settings.trace_samples} Rademacher vectors, until the standard error '
                     f'is {settings.trace_tolerance:.0%} of it); each run\'s iterations, seconds '
                     'and convergence below',
        'loss': f'the training loss, every evaluation with the same random state (torch, numpy '
                f'and Python generators seeded with {settings.loss_seed}, then given back): a '
                'detector\'s proposal and RoI sampling, dropout and batch augments are the same '
                'at every point and for every run',
    }
    return write_analysis(measured, out_dir, page)


def link_analysis(work_dir) -> bool:
    """Add a link to the analysis page to the sweep's comparison.md (once), where both exist."""
    work_dir = Path(work_dir)
    table, page = work_dir / 'comparison.md', work_dir / ANALYSIS_DIR / ANALYSIS_PAGE
    if not (table.is_file() and page.is_file()):
        return False
    line = (f'Activation variance, gradient flow and loss landscape of these runs: '
            f'[{ANALYSIS_DIR}/{ANALYSIS_PAGE}]({ANALYSIS_DIR}/{ANALYSIS_PAGE})')
    text = table.read_text()
    if line not in text:
        table.write_text(text.rstrip('\n') + '\n\n' + line + '\n')
    return True
