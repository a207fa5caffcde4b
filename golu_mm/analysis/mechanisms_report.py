"""The mechanisms' report over runs (activations x seeds): analysis.json (every number),
analysis.md (the tables, each activation's paired difference from the first with its 95 % CI,
as the AP table has them) and the figures: activation densities per stage (the paper's KDE
form), variance per layer and gradient norm per stage with 95 % intervals over seeds, the 1-D
loss curves and 2-D contours.

A run is a dict: activation, seed, name; layers {layer: {stage, mean, variance, skewness,
near_zero, inactive}}; samples {stage: [values]}; gradients {stage: {weights, activations}};
landscape_1d {coefficients, losses}; landscape_2d {coefficients, losses (rows)}; sharpness;
curvature {top_eigenvalue, trace: {value, iterations, converged, seconds}} (optional)."""
import json
import math
from pathlib import Path
from typing import Dict, List, Sequence

from .comparison import COLOURS, aggregate, differences, finite, interval, verdict
from .plots import pyplot, save_figure

__all__ = ['run_metrics', 'write_analysis']


def run_metrics(run: dict) -> Dict[str, float]:
    """The run's numbers that the comparison tables hold: sharpness, and per stage the mean
    variance of its activation layers and the weights' gradient norm."""
    metrics = {'sharpness': run['sharpness']}
    metrics.update({f'hessian/{key}': found['value']
                    for key, found in run.get('curvature', {}).items()})
    stages: Dict[str, List[float]] = {}
    for layer in run['layers'].values():
        stages.setdefault(layer['stage'], []).append(layer['variance'])
    metrics.update({f'variance/{stage}': sum(v) / len(v) for stage, v in stages.items()})
    metrics.update({f'grad_norm/{stage}': g['weights'] for stage, g in run['gradients'].items()
                    if g['weights'] is not None})
    return metrics


def _by_activation(runs: Sequence[dict]) -> Dict[str, List[dict]]:
    grouped: Dict[str, List[dict]] = {}
    for run in runs:
        grouped.setdefault(run['activation'], []).append(run)
    return grouped


def _colours(runs):
    return {act: COLOURS[i % len(COLOURS)] for i, act in enumerate(_by_activation(runs))}


def _band(ax, xs, per_seed: List[List[float]], colour, label):
    """Mean over seeds and its 95 % interval as a band."""
    stats = [interval([seed[i] for seed in per_seed]) for i in range(len(xs))]
    means = [m for m, _ in stats]
    ax.plot(xs, means, 'o-', color=colour, label=f'{label} (n={len(per_seed)})', ms=3)
    lows = [ci[0] if ci else math.nan for _, ci in stats]
    highs = [ci[1] if ci else math.nan for _, ci in stats]
    if any(ci is not None for _, ci in stats):  # NaN: no band there
        ax.fill_between(xs, lows, highs, color=colour, alpha=0.2)


def _density(ax, values, colour, label, low, high):
    import numpy as np
    xs = np.linspace(low, high, 200)
    values = np.asarray(values)
    try:
        from scipy.stats import gaussian_kde
        ys = gaussian_kde(values)(xs)
    except (ValueError, np.linalg.LinAlgError):  # no spread (e.g. all zeros): a histogram
        ys, edges = np.histogram(values, bins=40, range=(low, high), density=True)
        xs = (edges[1:] + edges[:-1]) / 2
    ax.plot(xs, ys, color=colour, label=label)


def plot_distributions(runs: Sequence[dict], out_dir: Path) -> List[Path]:
    """One figure per stage: the density of its activation outputs per activation (all seeds'
    samples pooled), the paper's Figures 3-4 form."""
    import numpy as np
    colours, paths = _colours(runs), []
    stages = list(dict.fromkeys(s for run in runs for s in run['samples']))
    for stage in stages:
        pooled = {act: sum((r['samples'].get(stage, []) for r in group), [])
                  for act, group in _by_activation(runs).items()}
        every = np.concatenate([np.asarray(v) for v in pooled.values() if v])
        if every.size == 0:
            continue
        low, high = np.percentile(every, [0.5, 99.5])
        if high <= low:
            low, high = low - 1, high + 1
        fig, ax = pyplot().subplots(figsize=(5, 3.4))
        for act, values in pooled.items():
            if values:
                _density(ax, values, colours[act], act, low, high)
        ax.set(xlabel='activation output', ylabel='density', title=f'{stage}: activation outputs')
        ax.legend(fontsize=7)
        paths.append(save_figure(fig, out_dir / f'distribution_{stage.replace(".", "_")}.png'))
    return paths


def _or_nan(value) -> float:
    return math.nan if value is None else value


def plot_layers_and_gradients(runs: Sequence[dict], out_dir: Path) -> Dict[str, Path]:
    colours = _colours(runs)
    layers = list(runs[0]['layers'])
    stages = list(runs[0]['gradients'])
    fig, ax = pyplot().subplots(figsize=(max(6, 0.25 * len(layers)), 3.6))
    for act, group in _by_activation(runs).items():
        _band(ax, list(range(1, len(layers) + 1)),
              [[r['layers'][name]['variance'] for name in layers] for r in group], colours[act], act)
    ax.set(yscale='log', xlabel='activation layer (forward order)', ylabel='variance',
           title='variance of each activation layer: mean and 95 % CI over seeds')
    ax.legend(fontsize=7)
    paths = {'variance': save_figure(fig, out_dir / 'variance_per_layer.png')}
    fig, axes = pyplot().subplots(1, 2, figsize=(11, 3.6))
    for ax, kind in zip(axes, ('weights', 'activations')):
        for act, group in _by_activation(runs).items():  # a stage without any: a gap
            _band(ax, list(range(len(stages))),
                  [[_or_nan(r['gradients'][s][kind]) for s in stages] for r in group],
                  colours[act], act)
        ax.set(yscale='log', ylabel='gradient norm', title=f'loss gradient w.r.t. {kind}')
        ax.set_xticks(range(len(stages)))
        ax.set_xticklabels(stages, rotation=45, ha='right', fontsize=7)
        ax.legend(fontsize=7)
    paths['gradients'] = save_figure(fig, out_dir / 'gradient_flow.png')
    return paths


def plot_landscapes(runs: Sequence[dict], out_dir: Path) -> Dict[str, Path]:
    import numpy as np
    colours = _colours(runs)
    fig, ax = pyplot().subplots(figsize=(5, 3.6))
    for run in runs:
        curve = run['landscape_1d']
        ax.plot(curve['coefficients'], curve['losses'], color=colours[run['activation']],
                label=f'{run["activation"]} seed {run["seed"]}', lw=1)
    ax.set(xlabel='filter-normalised step', ylabel='loss', title='loss along one direction')
    ax.legend(fontsize=6)
    paths = {'landscape_1d': save_figure(fig, out_dir / 'landscape_1d.png')}
    columns = min(4, len(runs))
    rows = math.ceil(len(runs) / columns)
    fig, axes = pyplot().subplots(rows, columns, figsize=(3.4 * columns, 3.0 * rows),
                                  squeeze=False)
    for ax, run in zip(axes.flat, runs):
        grid = run['landscape_2d']
        c = grid['coefficients']
        # levels at quantiles of the surface: the far corners' large losses would leave the
        # centre, where the minimum's shape is, without a line
        levels = np.unique(np.quantile(np.asarray(grid['losses']), np.linspace(0.02, 0.95, 12)))
        contour = ax.contour(c, c, grid['losses'], levels=levels if len(levels) > 1 else 12,
                             cmap='viridis')
        ax.clabel(contour, fontsize=5, fmt='%.3g')
        ax.set_title(f'{run["activation"]} seed {run["seed"]}', fontsize=8)
    for ax in list(axes.flat)[len(runs):]:
        ax.axis('off')
    paths['landscape_2d'] = save_figure(fig, out_dir / 'landscape_2d.png')
    return paths


def _metric_table(results: Sequence[dict], metrics: Sequence[str]) -> List[str]:
    """One row per measure: each activation's mean ± std over seeds (n), and each later
    activation's difference from the first, paired by seed, with its 95 % CI."""
    rows = aggregate(results, metrics)
    diffs = {(d['activation'], d['metric']): d for d in differences(results, metrics)}
    first = rows[0]['activation']
    header = [f'{r["activation"]} (mean ± std, n)' for r in rows]
    header += [f'{r["activation"]} − {first} [95 % CI]' for r in rows[1:]]
    lines = ['| measure | ' + ' | '.join(header) + ' |', '|---|' + '---|' * len(header)]
    for m in metrics:
        cells = [f'{r[m][0]:.4g} ± {r[m][1]:.2g} ({r[m][2]})' for r in rows]
        for r in rows[1:]:
            d = diffs[r['activation'], m]
            ci = '' if d['ci95'] is None else f' [{d["ci95"][0]:+.3g}, {d["ci95"][1]:+.3g}]'
            cells.append(f'{d["mean"]:+.4g}{ci}: {verdict(d)}')
        lines.append(f'| {m} | ' + ' | '.join(cells) + ' |')
    left_out = [f'{r["activation"]} seed {r["seed"]}: {m} = {r["metrics"][m]}'
                for r in results for m in metrics
                if m in r['metrics'] and not finite([r['metrics'][m]])]
    if left_out:
        lines += ['', 'Not finite, so left out of the numbers above (the loss or its gradient was '
                      'not finite there): ' + '; '.join(left_out) + '.']
    return lines


def _curvature_cost(runs: Sequence[dict]) -> List[str]:
    """What each run's curvature estimates took, and whether they met their tolerance."""
    rows = [f'| {r["activation"]} | {r["seed"]} | {key} | {found["iterations"]} | '
            f'{found["seconds"]:.1f} | {"yes" if found["converged"] else "no: the bound ended it"} |'
            for r in runs for key, found in r.get('curvature', {}).items()]
    if not rows:
        return []
    return ['', 'Curvature estimates (Hessian-vector products, each a forward and a double '
                'backward pass per batch):', '',
            '| activation | seed | estimate | products | seconds | converged |',
            '|---|---|---|---|---|---|', *rows]


def _stage_table(runs: Sequence[dict]) -> List[str]:
    """Per stage and activation: each statistic's mean over the stage's layers, then its mean
    and 95 % CI over seeds."""
    lines = ['| stage | activation | runs | variance | skewness | near zero | inactive (= 0) |',
             '|---|---|---|---|---|---|---|']
    stages = list(dict.fromkeys(layer['stage'] for layer in runs[0]['layers'].values()))
    for stage in stages:
        for act, group in _by_activation(runs).items():
            cells = []
            for key in ('variance', 'skewness', 'near_zero', 'inactive'):
                per_run = []
                for run in group:
                    values = finite(v[key] for v in run['layers'].values()
                                    if v['stage'] == stage)
                    per_run.append(sum(values) / len(values) if values else math.nan)
                mean, ci = interval(per_run)
                cells.append(f'{mean:.4g}' + ('' if ci is None else
                                              f' [{ci[0]:.4g}, {ci[1]:.4g}]'))
            lines.append(f'| {stage} | {act} | {len(group)} | ' + ' | '.join(cells) + ' |')
    return lines


def write_analysis(runs: Sequence[dict], out_dir, settings: dict) -> Dict[str, Path]:
    """analysis.json, analysis.md and the figures in out_dir; `settings` (what was measured how)
    heads the page. Returns the paths by kind."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {'json': out_dir / 'analysis.json', 'markdown': out_dir / 'analysis.md'}
    paths['json'].write_text(json.dumps({'settings': settings, 'runs': list(runs)}, indent=1))
    distributions = plot_distributions(runs, out_dir)
    paths.update(plot_layers_and_gradients(runs, out_dir))
    paths.update(plot_landscapes(runs, out_dir))
    results = [{'activation': r['activation'], 'seed': r['seed'], 'metrics': run_metrics(r)}
               for r in runs]
    metrics = list(dict.fromkeys(m for r in results for m in r['metrics']))
    lines = ['# Activation variance, gradient flow and loss landscape', '']
    lines += [f'- {key}: {value}' for key, value in settings.items()]
    lines += ['', '## Each measure per activation', '', *_metric_table(results, metrics),
              *_curvature_cost(runs),
              '', '## Activation statistics per stage (mean over the stage\'s layers; 95 % CI '
              'over seeds)', '', *_stage_table(runs), '', '## Figures', '']
    figures = distributions + [paths[k] for k in ('variance', 'gradients', 'landscape_1d',
                                                  'landscape_2d')]
    lines += [f'![{p.stem}]({p.name})' for p in figures]
    paths['markdown'].write_text('\n'.join(lines) + '\n')
    paths['figures'] = figures
    return paths
