"""Runs on this machine N at a time: each on its own GPUs or cores, a dependent run after its
prerequisite's result (not at all when it fails), a run claimed elsewhere left to its owner."""
import json
import sys

import pytest

from golu_mm.jobs.local import Job, LocalPool, slots
from golu_mm.jobs.records import read_job, read_launch

from .conftest import RUN_JOB


def test_slots_share_gpus_or_cores():
    assert slots(2, 2, ['0', '1', '2', '3'], []) == [{'CUDA_VISIBLE_DEVICES': '0,1'},
                                                     {'CUDA_VISIBLE_DEVICES': '2,3'}]
    assert slots(3, 1, ['4', '6', '7'], [0]) == [{'CUDA_VISIBLE_DEVICES': d} for d in '467']
    assert slots(2, 1, [], [0, 1, 2, 3, 5]) == [{'cores': [0, 1]}, {'cores': [2, 3]}]
    with pytest.raises(ValueError, match=r'needs 6 GPUs; 4 visible \(0,1,2,3\)'):
        slots(3, 2, ['0', '1', '2', '3'], [])
    with pytest.raises(ValueError, match='each process needs a core of its own'):
        slots(3, 1, [], [0, 1])


def pool(slot_list, claimed=None):
    claimed = [] if claimed is None else claimed

    def claim(job):
        claimed.append(job.name)
        return True
    return LocalPool(lambda run_dir: [sys.executable, str(RUN_JOB), str(run_dir)], slot_list,
                     claim, active=lambda run_dir: False, log=lambda line: None, poll=0.1)


def intervals(runs):
    return [json.loads((r / 'started.jsonl').read_text().splitlines()[-1]) for r in runs]


def test_runs_at_once_each_on_its_own_gpus(make_run, monkeypatch):
    monkeypatch.setenv('FAKE_TRAIN_SLEEP', '3')
    runs = [make_run(f'GoLU_seed{s}', seed=s) for s in range(3)]
    codes = pool(slots(2, 2, ['0', '1', '2', '3'], [])).run(
        [Job(r.name, r, read_launch(r)) for r in runs])
    assert codes == {r.name: 0 for r in runs}
    seen = intervals(runs)
    assert {s['cuda'] for s in seen} <= {'0,1', '2,3'}
    # The first two ran at once on different GPUs; the third waited for a free slot.
    first, second, third = sorted(seen, key=lambda s: s['start'])
    assert second['start'] < first['end'] and first['cuda'] != second['cuda']
    assert third['start'] >= min(first['end'], second['end'])
    for run in runs:
        assert (run / 'result.json').is_file()
        assert read_job(run)['slot'] == {'CUDA_VISIBLE_DEVICES': intervals([run])[0]['cuda']}


def test_without_gpus_each_run_has_its_share_of_the_cores(make_run, monkeypatch):
    monkeypatch.setenv('FAKE_TRAIN_SLEEP', '1')
    cores = sorted(__import__('os').sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip('needs two CPU cores to share')
    runs = [make_run(f'GoLU_seed{s}', seed=s) for s in range(2)]
    pool(slots(2, 1, [], cores)).run([Job(r.name, r, read_launch(r)) for r in runs])
    seen = intervals(runs)
    half = len(cores) // 2
    assert sorted(tuple(s['cores']) for s in seen) == [tuple(cores[:half]),
                                                       tuple(cores[half:2 * half])]
    assert {s['omp'] for s in seen} == {str(half)} and seen[0]['cuda'] is None


def test_a_run_waits_for_its_prerequisite_and_is_dropped_when_it_fails(make_run):
    pre_ok, pre_bad = make_run('pre_ok'), make_run('pre_bad', activation='Fail')
    after_ok, after_bad = make_run('after_ok', seed=1), make_run('after_bad', seed=2)
    claimed = []
    codes = pool(slots(2, 1, ['0', '1'], []), claimed).run([
        Job('pre_bad', pre_bad, read_launch(pre_bad)), Job('pre_ok', pre_ok, read_launch(pre_ok)),
        Job('after_bad', after_bad, read_launch(after_bad), after=pre_bad),
        Job('after_ok', after_ok, read_launch(after_ok), after=pre_ok)])
    assert codes == {'pre_bad': 1, 'pre_ok': 0, 'after_bad': None, 'after_ok': 0}
    assert 'after_bad' not in claimed and not (after_bad / 'started.jsonl').exists()
    pre, after = intervals([pre_ok, after_ok])
    assert after['start'] >= pre['end']


def test_a_run_claimed_elsewhere_is_not_launched(make_run):
    run = make_run('GoLU_seed0')
    bare = LocalPool(lambda d: [sys.executable, str(RUN_JOB), str(d)], slots(1, 1, ['0'], []),
                     claim=lambda job: False, active=lambda d: False, log=lambda line: None)
    assert bare.run([Job('GoLU_seed0', run, read_launch(run))]) == {}
    assert not (run / 'started.jsonl').exists()
