"""Mean ± std of final metrics per activation over seeds, each activation's difference from the
first one (mean paired by seed, its 95 % confidence interval and the paired t-test's p-value:
one test, so that the interval and the p-value always agree; where the interval holds 0, how
many seeds the observed spread would need), as markdown, CSV and plots, and the runs'
training-loss and validation curves."""
import csv
import math
import statistics
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .plots import pyplot, save_figure


def aggregate(results: Sequence[dict], metrics: Sequence[str]) -> List[dict]:
    """results: [{'activation': str, 'seed': int, 'metrics': {name: value}}]. Returns one row
    per activation (in first-seen order): n (runs), seeds, and for each metric (mean, sample
    std, count): over the runs that have a finite value of it (a failed run, or an evaluation
    that logged nothing, has none), NaN mean with none, std 0 with one."""
    by_act: Dict[str, List[dict]] = {}
    for r in results:
        by_act.setdefault(r['activation'], []).append(r)
    rows = []
    for act, runs in by_act.items():
        row = {'activation': act, 'n': len(runs), 'seeds': sorted(r['seed'] for r in runs)}
        for m in metrics:
            values = finite([r['metrics'][m] for r in runs if m in r['metrics']])
            row[m] = (statistics.fmean(values) if values else math.nan,
                      statistics.stdev(values) if len(values) > 1 else 0.0, len(values))
        rows.append(row)
    return rows


def finite(values) -> List[float]:
    """The values that are finite numbers (NaN, infinities and None left out)."""
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def interval(values: Sequence[float]) -> Tuple[float, Optional[Tuple[float, float]]]:
    """The mean of the finite `values` (NaN for none; non-finite ones are left out: see
    finite) and its 95 % confidence interval (Student t; None with fewer than two values)."""
    values = finite(values)
    if not values:
        return math.nan, None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    from scipy import stats
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, (mean - half, mean + half)


def _values(results, activation, metric) -> Dict[int, float]:
    return {r['seed']: float(r['metrics'][metric]) for r in results
            if r['activation'] == activation and finite([r['metrics'].get(metric)])}


def differences(results: Sequence[dict], metrics: Sequence[str]) -> List[dict]:
    """For each activation after the first (the reference) and each metric: the mean of the
    per-seed differences (activation - reference, seeds both ran), its 95 % confidence interval
    (Student t, None with fewer than two pairs), the paired t-test's two-sided p-value on the
    same differences (None with fewer than two pairs or no spread), and `seeds_needed`: where
    the interval holds 0, the pairs at which this mean and spread would exclude it (None where
    it excludes 0 already or cannot be estimated)."""
    from scipy import stats
    activations = list(dict.fromkeys(r['activation'] for r in results))
    rows = []
    for act in activations[1:]:
        for m in metrics:
            ref, ours = _values(results, activations[0], m), _values(results, act, m)
            paired = [ours[s] - ref[s] for s in sorted(set(ref) & set(ours))]
            mean, ci = interval(paired)
            p = needed = None
            if len(paired) > 1 and statistics.stdev(paired) > 0:
                p = float(stats.ttest_1samp(paired, 0.0).pvalue)
            if ci is not None and ci[0] <= 0 <= ci[1]:
                needed = seeds_needed(mean, statistics.stdev(paired))
            rows.append({'activation': act, 'reference': activations[0], 'metric': m,
                         'pairs': len(paired), 'mean': mean, 'ci95': ci, 'paired_p': p,
                         'seeds_needed': needed})
    return rows


def seeds_needed(mean: float, std: float, most: int = 10000) -> Optional[int]:
    """The fewest pairs whose 95 % interval (Student t) around `mean` excludes 0 at spread
    `std` (None: no spread, no difference, or more than `most`)."""
    from scipy import stats
    if std <= 0 or mean == 0 or not math.isfinite(mean):
        return None
    for n in range(2, most + 1):
        if stats.t.ppf(0.975, n - 1) * std / math.sqrt(n) < abs(mean):
            return n
    return None


def verdict(row: dict) -> str:
    """In words: whether the difference is distinguishable from 0 with the seeds there are."""
    if row['ci95'] is None:
        return f'{row["pairs"]} pair(s): no interval (two seeds at least)'
    low, high = row['ci95']
    if low > 0 or high < 0:
        return 'distinguishable from 0'
    needed = row.get('seeds_needed')
    return (f'not distinguishable with {row["pairs"]} seeds'
            + (f'; about {needed} would be needed at this spread' if needed else
               '; no number of seeds would tell at this mean'))


def _ci_text(row) -> str:
    return 'n/a' if row['ci95'] is None else f'[{row["ci95"][0]:+.4f}, {row["ci95"][1]:+.4f}]'


def _cell(value) -> str:
    mean, std, count = value
    return 'no result (n=0)' if count == 0 else f'{mean:.4f} ± {std:.4f} (n={count})'


def markdown(rows: Sequence[dict], metrics: Sequence[str],
             diffs: Optional[Sequence[dict]] = None,
             incomplete: Sequence[dict] = ()) -> str:
    """The table (each number with the count of runs it rests on), the differences, and the
    runs that failed or logged no metric (`incomplete`: results with a note)."""
    lines = ['| activation | runs | ' + ' | '.join(metrics) + ' |',
             '|---|---|' + '---|' * len(metrics)]
    for row in rows:
        cells = [_cell(row[m]) for m in metrics]
        lines.append(f'| {row["activation"]} | {row["n"]} | ' + ' | '.join(cells) + ' |')
    if diffs:
        lines += ['', f'Difference from {diffs[0]["reference"]} (mean over seeds, paired; 95 % CI '
                      'and the paired t-test on the same differences):', '',
                  '| activation | metric | pairs | mean difference | 95 % CI | paired p | '
                  'verdict |', '|---|---|---|---|---|---|---|']
        for d in diffs:
            p = 'n/a' if d['paired_p'] is None else f'{d["paired_p"]:.3f}'
            lines.append(f'| {d["activation"]} | {d["metric"]} | {d["pairs"]} | '
                         f'{d["mean"]:+.4f} | {_ci_text(d)} | {p} | {verdict(d)} |')
    if incomplete:
        lines += ['', 'Runs without every metric (left out of the numbers they lack):', '',
                  '| activation | seed | status | note |', '|---|---|---|---|']
        lines += [f'| {r["activation"]} | {r["seed"]} | {r.get("status", "")} | '
                  f'{(r.get("note") or "").replace("|", "/")} |' for r in incomplete]
    return '\n'.join(lines)


def write_table(rows: Sequence[dict], metrics: Sequence[str], out_dir,
                diffs: Optional[Sequence[dict]] = None, incomplete: Sequence[dict] = (),
                appendix: str = '') -> Dict[str, Path]:
    """Writes comparison.md (with the differences and the incomplete runs, if given, and
    `appendix` after them: the page is written whole, once),
    comparison.csv (mean, std and count of each metric) and comparison.png (first metric, ±std
    bars; activations without a value left out)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {'markdown': out_dir / 'comparison.md', 'csv': out_dir / 'comparison.csv',
             'plot': out_dir / 'comparison.png'}
    paths['markdown'].write_text(markdown(rows, metrics, diffs, incomplete) + '\n' + appendix)
    with paths['csv'].open('w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['activation', 'n'] + [f'{m}_{s}' for m in metrics
                                               for s in ('mean', 'std', 'n')])
        for row in rows:
            writer.writerow([row['activation'], row['n']] + [v for m in metrics for v in row[m]])

    main = metrics[0]
    rows = [row for row in rows if row[main][2]]
    fig, ax = pyplot().subplots(figsize=(1.2 * len(rows) + 2, 3.5))
    means = [row[main][0] for row in rows]
    ax.bar([row['activation'] for row in rows], means,
           yerr=[row[main][1] for row in rows], capsize=4, color='tab:blue')
    low = min((m - row[main][1] for m, row in zip(means, rows)), default=0.0)
    high = max((m + row[main][1] for m, row in zip(means, rows)), default=1.0)
    pad = (high - low) * 0.5 or abs(high) * 0.1 or 0.1
    ax.set_ylim(max(0.0, low - pad) if not math.isnan(low) else 0, high + pad)
    ax.set_ylabel(main)
    ax.set_title(f'{main}: mean ± std over seeds')
    save_figure(fig, paths['plot'])
    return paths


COLOURS = ('tab:blue', 'tab:orange', 'tab:green', 'tab:red', 'tab:purple', 'tab:brown')


def plot_curves(runs: Sequence[dict], metric: str, path, title: str = '') -> List[str]:
    """Training loss and validation `metric` against iteration, one line per run and one colour
    per activation, saved to `path`. runs: [{'activation', 'seed', 'records': scalars.json
    records}]. Returns the runs that logged no training loss (shorter than the logging
    interval), which the plot lacks."""
    fig, (loss_ax, val_ax) = pyplot().subplots(1, 2, figsize=(10, 3.8))
    colours, without_loss = {}, []
    for run in runs:
        colour = colours.setdefault(run['activation'], COLOURS[len(colours) % len(COLOURS)])
        label = f'{run["activation"]} seed {run["seed"]}'
        train = [(r['step'], r['loss']) for r in run['records'] if 'loss' in r and 'step' in r]
        val = [(r['step'], r[metric]) for r in run['records'] if metric in r and 'step' in r]
        if train:
            loss_ax.plot(*zip(*train), color=colour, alpha=0.8, lw=1, label=label)
        else:
            without_loss.append(label)
        if val:
            val_ax.plot(*zip(*val), color=colour, marker='o', label=label)
    loss_ax.set(xlabel='iteration', ylabel='training loss', title=f'{title} training loss')
    val_ax.set(xlabel='iteration', ylabel=metric, title=f'{title} validation {metric}')
    for ax in (loss_ax, val_ax):
        if ax.lines:
            ax.legend(fontsize=7)
    save_figure(fig, path)
    return without_loss
