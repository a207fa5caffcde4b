"""What a run cost: from Slurm's accounting where it knows every job of the run, else from the
run's attempt records; seconds per iteration from the training log."""
import json

import pytest

from golu_mm.jobs.cost import run_cost
from golu_mm.jobs.records import read_attempts, start_attempt, write_end


def attempts(run, spans, gpus=4):
    for job, (start, end) in spans:
        start_attempt(run, job, 'x', None, gpus)
        record = json.loads((run / 'attempts.json').read_text())
        record['attempts'][-1]['started'] = start
        (run / 'attempts.json').write_text(json.dumps(record))
        if end:
            write_end(run, 'requeued')
            record = json.loads((run / 'attempts.json').read_text())
            record['attempts'][-1]['ended'] = end
            (run / 'attempts.json').write_text(json.dumps(record))


def test_costs_from_the_job_records_and_from_sacct(tmp_path):
    attempts(tmp_path, [('5', ('2026-01-01T00:00:00', '2026-01-01T01:00:00')),
                        ('5', ('2026-01-01T02:00:00', '2026-01-01T02:30:00')),
                        ('9', ('2026-01-01T03:00:00', None))])  # killed with its node
    log = tmp_path / 'a' / 'vis_data' / 'scalars.json'
    log.parent.mkdir(parents=True)
    log.write_text('\n'.join(json.dumps(r) for r in [
        {'loss': 1, 'time': 0.5, 'step': 1}, {'loss': 1, 'time': 1.5, 'step': 2},
        {'mIoU': 3, 'time': 9.0, 'step': 2}]) + '\n')  # a validation's time is not training's
    cost = run_cost(tmp_path)
    assert cost['source'] == 'job records' and cost['attempts'] == 3
    assert cost['cost/wall_hours'] == pytest.approx(1.5)  # the unfinished attempt is unknown
    assert cost['cost/gpu_hours'] == pytest.approx(6.0)
    assert cost['cost/seconds_per_iter'] == pytest.approx(1.0)
    sacct = run_cost(tmp_path, {'5': (5400.0, 4), '9': (600.0, 4)})
    assert sacct['source'] == 'sacct' and sacct['cost/wall_hours'] == pytest.approx(5400 / 3600 + 1 / 6)
    assert sacct['cost/gpu_hours'] == pytest.approx(4 * 6000 / 3600)
    # Accounting that misses one of the run's jobs is not used.
    assert run_cost(tmp_path, {'5': (5400.0, 4)})['source'] == 'job records'
    assert len(read_attempts(tmp_path)) == 3


def test_a_cpu_run_has_no_gpu_hours(tmp_path):
    attempts(tmp_path, [('pid 3', ('2026-01-01T00:00:00', '2026-01-01T00:06:00'))], gpus=0)
    cost = run_cost(tmp_path)
    assert cost['cost/wall_hours'] == pytest.approx(0.1) and 'cost/gpu_hours' not in cost
