"""The comparison aggregator (values from known inputs) and the plots (files written)."""
import math

import pytest
import torch
from torch import nn

from golu_mm import GoLU
from golu_mm.analysis import (aggregate, differences, plot_activation_distributions,
                              plot_activation_functions, plot_curves, write_table)
from golu_mm.analysis.comparison import seeds_needed, verdict
from golu_mm.analysis.plots import activation_outputs

RESULTS = [
    {'activation': 'ReLU', 'seed': 0, 'metrics': {'ap': 0.30, 'ap50': 0.50}},
    {'activation': 'ReLU', 'seed': 1, 'metrics': {'ap': 0.34, 'ap50': 0.54}},
    {'activation': 'GoLU', 'seed': 1, 'metrics': {'ap': 0.40, 'ap50': 0.60}},
    {'activation': 'GoLU', 'seed': 0, 'metrics': {'ap': 0.36, 'ap50': 0.58}},
    {'activation': 'GoLU', 'seed': 2, 'metrics': {'ap': 0.38, 'ap50': 0.62}},
]


def is_png(path):
    return path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and path.stat().st_size > 5000


def test_aggregate_mean_and_sample_std():
    relu, golu_row = aggregate(RESULTS, ['ap', 'ap50'])
    assert relu['activation'] == 'ReLU' and relu['n'] == 2 and relu['seeds'] == [0, 1]
    assert relu['ap'][0] == pytest.approx(0.32) and relu['ap'][1] == pytest.approx(math.sqrt(0.0008))
    assert golu_row['seeds'] == [0, 1, 2]
    assert golu_row['ap'] == pytest.approx((0.38, 0.02, 3))
    assert golu_row['ap50'] == pytest.approx((0.60, 0.02, 3))


def test_single_seed_has_zero_std_and_a_missing_metric_is_counted_not_averaged():
    (row,) = aggregate(RESULTS[:1], ['ap'])
    assert row['ap'] == (0.30, 0.0, 1)
    partial = RESULTS + [{'activation': 'GoLU', 'seed': 3, 'metrics': {'ap50': 0.7}}]
    relu, golu_row = aggregate(partial, ['ap', 'ap50', 'segm'])
    assert golu_row['n'] == 4 and golu_row['ap'] == pytest.approx((0.38, 0.02, 3))
    assert golu_row['ap50'][2] == 4 and math.isnan(golu_row['segm'][0])
    assert golu_row['segm'][1:] == (0.0, 0)


def test_write_table(tmp_path):
    paths = write_table(aggregate(RESULTS, ['ap', 'ap50']), ['ap', 'ap50'], tmp_path)
    md = paths['markdown'].read_text()
    assert '| GoLU | 3 | 0.3800 ± 0.0200 (n=3) | 0.6000 ± 0.0200 (n=3) |' in md
    header, relu = paths['csv'].read_text().splitlines()[:2]
    assert header == 'activation,n,ap_mean,ap_std,ap_n,ap50_mean,ap50_std,ap50_n'
    assert relu.startswith('ReLU,2,0.32,0.0282842712') and relu.endswith(',2')
    assert is_png(paths['plot'])


def test_differences_pair_by_seed_with_one_test():
    (ap, ap50) = differences(RESULTS, ['ap', 'ap50'])
    # GoLU - ReLU on the seeds both ran (0, 1): 0.06 and 0.06 for ap; 0.08 and 0.06 for ap50.
    assert (ap['activation'], ap['reference'], ap['metric'], ap['pairs']) == ('GoLU', 'ReLU',
                                                                               'ap', 2)
    assert ap['mean'] == pytest.approx(0.06) and ap['ci95'] == pytest.approx((0.06, 0.06))
    t975_1dof = 12.706204736174707  # Student t quantile, 1 degree of freedom
    half = t975_1dof * math.sqrt(((0.08 - 0.07) ** 2 + (0.06 - 0.07) ** 2) / 1) / math.sqrt(2)
    assert ap50['mean'] == pytest.approx(0.07)
    assert ap50['ci95'] == pytest.approx((0.07 - half, 0.07 + half))
    # The paired t-test on the same differences, by hand: t = mean / (sd / sqrt(n)), 1 dof.
    from scipy import stats
    t = 0.07 / (math.sqrt(0.0002) / math.sqrt(2))
    assert ap50['paired_p'] == pytest.approx(2 * stats.t.sf(t, 1))
    assert ap['paired_p'] is None  # no spread in the differences
    # The interval holds 0 exactly when p >= 0.05: one test, never two verdicts.
    assert (ap50['ci95'][0] <= 0 <= ap50['ci95'][1]) == (ap50['paired_p'] >= 0.05)
    assert ap50['seeds_needed'] == 3  # t(0.975, 2) sd / sqrt(3) = 0.035 < 0.07
    assert verdict(ap50) == ('not distinguishable with 2 seeds; about 3 would be needed at this '
                             'spread')
    assert verdict(ap) == 'distinguishable from 0'


@pytest.mark.parametrize('mean, std', [(0.5, 1.0), (0.1, 0.3), (2.0, 0.5)])
def test_seeds_needed_is_the_first_count_whose_interval_excludes_zero(mean, std):
    from scipy import stats
    n = seeds_needed(mean, std)
    assert stats.t.ppf(0.975, n - 1) * std / math.sqrt(n) < mean
    assert n == 2 or stats.t.ppf(0.975, n - 2) * std / math.sqrt(n - 1) >= mean
    assert seeds_needed(0.0, 1.0) is None and seeds_needed(1.0, 0.0) is None


def test_differences_with_one_seed_have_no_interval():
    (d,) = differences([RESULTS[0], RESULTS[3]], ['ap'])
    assert d['pairs'] == 1 and d['ci95'] is None and d['paired_p'] is None
    assert d['mean'] == pytest.approx(0.06)


def test_write_table_with_differences(tmp_path):
    metrics = ['ap', 'ap50']
    paths = write_table(aggregate(RESULTS, metrics), metrics, tmp_path,
                        differences(RESULTS, metrics))
    md = paths['markdown'].read_text()
    assert 'Difference from ReLU' in md
    assert '| GoLU | ap | 2 | +0.0600 | [+0.0600, +0.0600] |' in md


def test_curves_plot(tmp_path):
    runs = [{'activation': act, 'seed': seed,
             'records': [{'step': i, 'loss': 2.0 / (i + seed + 1)} for i in range(1, 20)]
             + [{'step': 19, 'ap': 0.3 + 0.01 * seed}]}
            for act in ('ReLU', 'GoLU') for seed in (0, 1)]
    assert plot_curves(runs, 'ap', tmp_path / 'curves.png', title='demo') == []
    assert is_png(tmp_path / 'curves.png')
    runs[1]['records'] = runs[1]['records'][-1:]  # a run shorter than the logging interval
    assert plot_curves(runs, 'ap', tmp_path / 'again.png') == ['ReLU seed 1']
    assert is_png(tmp_path / 'again.png')


def test_activation_function_plot(tmp_path):
    assert is_png(plot_activation_functions(tmp_path / 'f.png'))


def test_activation_distribution_plot(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), GoLU(), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1), GoLU())
    x = torch.randn(1, 3, 16, 16)
    outputs = activation_outputs(model, x)
    assert list(outputs) == ['1', '3', '5'] and outputs['1'].numel() == 4 * 14 * 14
    assert is_png(plot_activation_distributions(model, x, tmp_path / 'd.png'))
    with pytest.raises(ValueError, match='no activation'):
        activation_outputs(nn.Linear(2, 2), torch.randn(1, 2))


def test_final_metrics_take_the_last_logged_values(tmp_path):
    import json
    from golu_mm.analysis.run_record import final_metrics, last_logged_step
    assert last_logged_step(tmp_path) is None
    for session, miou in (('20260101_000000', 10.0), ('20260102_000000', 12.5)):
        log = tmp_path / session / 'vis_data' / 'scalars.json'
        log.parent.mkdir(parents=True)
        log.write_text('\n'.join(json.dumps(r) for r in (
            {'loss': 1.0, 'step': 1 + 4 * (miou > 10)}, {'mIoU': miou, 'mAcc': 20.0, 'step': 2})))
    assert final_metrics(tmp_path, ['mIoU', 'mAcc']) == {'mIoU': 12.5, 'mAcc': 20.0}
    assert final_metrics(tmp_path, ['mIoU', 'aAcc']) == {'mIoU': 12.5}  # never logged: absent
    assert last_logged_step(tmp_path) == 5  # the training records' highest step
