"""Mean ± std of final metrics per activation over seeds, as markdown, CSV and a bar plot."""
import csv
import math
import statistics
from pathlib import Path
from typing import Dict, List, Sequence

from .plots import pyplot, save_figure


def aggregate(results: Sequence[dict], metrics: Sequence[str]) -> List[dict]:
    """results: [{'activation': str, 'seed': int, 'metrics': {name: value}}]. Returns one row
    per activation (in first-seen order): n, and mean/std (sample std, 0 for one seed) of each
    metric. A run missing a metric is an error, not silently averaged over fewer seeds."""
    by_act: Dict[str, List[dict]] = {}
    for r in results:
        by_act.setdefault(r['activation'], []).append(r)
    rows = []
    for act, runs in by_act.items():
        row = {'activation': act, 'n': len(runs), 'seeds': sorted(r['seed'] for r in runs)}
        for m in metrics:
            missing = [r['seed'] for r in runs if m not in r['metrics']]
            if missing:
                raise KeyError(f'metric {m!r} missing for {act} seeds {missing}')
            values = [float(r['metrics'][m]) for r in runs]
            row[m] = (statistics.fmean(values),
                      statistics.stdev(values) if len(values) > 1 else 0.0)
        rows.append(row)
    return rows


def markdown(rows: Sequence[dict], metrics: Sequence[str]) -> str:
    lines = ['| activation | seeds | ' + ' | '.join(metrics) + ' |',
             '|---|---|' + '---|' * len(metrics)]
    for row in rows:
        cells = [f'{row[m][0]:.4f} ± {row[m][1]:.4f}' for m in metrics]
        lines.append(f'| {row["activation"]} | {row["n"]} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def write_table(rows: Sequence[dict], metrics: Sequence[str], out_dir) -> Dict[str, Path]:
    """Writes comparison.md, comparison.csv and comparison.png (first metric, ±std bars)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {'markdown': out_dir / 'comparison.md', 'csv': out_dir / 'comparison.csv',
             'plot': out_dir / 'comparison.png'}
    paths['markdown'].write_text(markdown(rows, metrics) + '\n')
    with paths['csv'].open('w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['activation', 'n'] + [f'{m}_{s}' for m in metrics for s in ('mean', 'std')])
        for row in rows:
            writer.writerow([row['activation'], row['n']] + [v for m in metrics for v in row[m]])

    main = metrics[0]
    fig, ax = pyplot().subplots(figsize=(1.2 * len(rows) + 2, 3.5))
    means = [row[main][0] for row in rows]
    ax.bar([row['activation'] for row in rows], means,
           yerr=[row[main][1] for row in rows], capsize=4, color='tab:blue')
    low = min(m - row[main][1] for m, row in zip(means, rows))
    high = max(m + row[main][1] for m, row in zip(means, rows))
    pad = (high - low) * 0.5 or abs(high) * 0.1 or 0.1
    ax.set_ylim(max(0.0, low - pad) if not math.isnan(low) else 0, high + pad)
    ax.set_ylabel(main)
    ax.set_title(f'{main}: mean ± std over seeds')
    save_figure(fig, paths['plot'])
    return paths
