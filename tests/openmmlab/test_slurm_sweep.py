"""The decisions of a sweep on Slurm, without a cluster (tests/cluster runs them on a real one): a
fine-tune whose pretraining failed is blocked; --force never deletes a directory a live job
writes to; a work dir without file locks, bad settings and a missing data folder are refused in
one line before anything is submitted; nothing is submitted while squeue fails; at most N
runs share N job names; the report's cost table."""
import errno
import json
import os
import re
import stat

import pytest
from mmengine import Config

from golu_mm.analysis.run_record import StaleRunError, finish_run, start_run
from golu_mm.jobs import slurm
from golu_mm.jobs.records import (hostname, process_start, start_attempt, write_end, write_job,
                                  write_launch)
from golu_mm.jobs.state import BLOCKED, DONE
from golu_mm.openmmlab import slurm_sweep, sweep
from golu_mm.openmmlab.config_options import ConfigError

SEG = 'configs/demo/deeplabv3_golu_demo.py'
PRE = 'configs/demo/resnet_golu_pretrain_demo.py'


def plan(tmp_path, activations=('GoLU',), seeds=(0,), options=(), pre_options=()):
    return sweep.plan_sweep(sweep.Stage(SEG, Config.fromfile(SEG), list(options)),
                            list(activations), list(seeds), tmp_path / 'w', 'v',
                            sweep.Stage(PRE, Config.fromfile(PRE), list(pre_options)))


def stubs(tmp_path, monkeypatch, **bodies):
    """Slurm's commands as stubs logging their calls to tmp_path/calls (bodies by name)."""
    folder = tmp_path / 'bin'
    folder.mkdir(exist_ok=True)
    for name in slurm.COMMANDS:
        path = folder / name
        path.write_text(f'#!/bin/bash\necho "{name} $*" >> {tmp_path / "calls"}\n'
                        f'{bodies.get(name, "exit 0")}\n')
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv('PATH', f'{folder}:{os.environ["PATH"]}')


def called(tmp_path) -> str:
    calls = tmp_path / 'calls'
    return calls.read_text() if calls.exists() else ''


def test_a_fine_tune_whose_pretraining_failed_is_blocked(tmp_path):
    pre, fine = plan(tmp_path)
    start_run(pre.run_dir, pre.spec)
    write_job(pre.run_dir, {'launcher': 'slurm', 'id': '4'})
    write_end(pre.run_dir, 'failed', exit=1, reason='CUDA error: out of memory')
    states = sweep.sweep_states([pre, fine], slurm.SchedulerView({'4': ('FAILED', 'x')}))
    assert states[fine.name].state == BLOCKED
    assert states[fine.name].reason == ('pretrain/GoLU_seed0 failed: CUDA error: out of '
                                        'memory')
    finish_run(pre.run_dir, pre.spec, {})  # run again, and done: no longer blocked
    assert sweep.sweep_states([pre, fine], slurm.SchedulerView())[fine.name].state != BLOCKED


def test_force_never_deletes_a_directory_a_live_job_writes_to(tmp_path):
    (run,) = [r for r in plan(tmp_path) if not r.is_pretrain]
    start_run(run.run_dir, {**run.spec, 'seed': 9})  # another experiment
    write_job(run.run_dir, {'launcher': 'local', 'pid': os.getpid(), 'host': hostname(),
                            'pid_start': process_start(os.getpid())})
    with pytest.raises(StaleRunError, match=rf'--force would delete .*GoLU_seed0, but process '
                                            rf'pid {os.getpid()}@\S+ still runs there'):
        sweep.check_runs([run], force=True)
    assert run.run_dir.is_dir()
    write_job(run.run_dir, {'launcher': 'local', 'pid': os.getpid(), 'host': hostname(),
                            'pid_start': '1'})  # the process is gone
    assert sweep.check_runs([run], force=True) == {run.name: 'train'}


def test_a_work_dir_without_file_locks_is_named(tmp_path, monkeypatch):
    def refuse(*_):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
    monkeypatch.setattr(sweep.fcntl, 'flock', refuse)
    with pytest.raises(RuntimeError, match=r'\.sweep\.lock cannot be locked \(No locks '
                                           r'available\): the file system of the work dir does '
                                           r'not support file locks'):
        with sweep.work_dir_lock(tmp_path):
            pass


@pytest.mark.parametrize('settings, message', [
    (dict(max_attempts=0), '--max-attempts must be at least 1, not 0'),
    (dict(max_running=0), '--max-running must be at least 1, not 0'),
    (dict(signal_lead=900, time='10'), r'--signal-lead 900 s is not shorter than the time '
                                       r'limit --time 10 \(600 s\)')])
def test_bad_settings_are_refused(settings, message):
    time = settings.pop('time', None)
    with pytest.raises(ValueError, match=message):
        slurm_sweep.SlurmSettings(slurm.Resources(time=time), **settings)


def test_at_most_n_runs_share_n_job_names(tmp_path):
    runs = plan(tmp_path, ('ReLU', 'GoLU'), (0, 1, 2))
    names = slurm_sweep.job_names(runs, tmp_path / 'w', 2)
    assert len(set(names.values())) == 2
    assert all(names[r.name] == names[r.pretrain.name] for r in runs if r.pretrain)
    other = slurm_sweep.job_names(runs, tmp_path / 'other', 2)
    assert not set(names.values()) & set(other.values())  # another sweep is not held back
    assert slurm_sweep.job_names(runs, tmp_path, None)['pretrain/GoLU_seed1'] == \
        'golu-pretrain-GoLU_seed1'


def test_a_missing_data_folder_stops_the_sweep_before_anything_is_queued(tmp_path,
                                                                         monkeypatch):
    from golu_mm.data import config_options, generate
    data = generate(tmp_path / 'data', num_train=2, num_val=2, size=64, seed=0)
    good = [f'{k}={v}' for k, v in config_options(data, detection=False).items()]
    stubs(tmp_path, monkeypatch, sbatch='echo 1')
    runs = plan(tmp_path, options=good, pre_options=['train_dataloader.dataset.data_root='
                                                     f'{tmp_path}/imagenet/'])
    settings = slurm_sweep.SlurmSettings(slurm.Resources(gpus_per_node=0))
    with pytest.raises(ConfigError, match=rf'^run pretrain/GoLU_seed0 \({PRE}\): '
                                          rf'train_dataloader\.dataset\.data_root '
                                          rf'{tmp_path}/imagenet/ does not exist; .*\. '
                                          'Nothing was submitted$'):
        slurm_sweep.submit_to_slurm(runs, tmp_path / 'w', False, settings, ['true'])
    assert 'sbatch' not in called(tmp_path)
    # The fine-tune's own data checked too; its backbone is what its pretraining will write.
    (seg_missing,) = [r for r in plan(tmp_path, options=[
        *good, 'val_dataloader.dataset.data_prefix.img_path=nowhere']) if not r.is_pretrain]
    with pytest.raises(ConfigError, match=r'val_dataloader\.dataset\.data_prefix\.img_path '
                                          r'\S+/nowhere does not exist'):
        slurm_sweep.check_before_queue([seg_missing])
    slurm_sweep.check_before_queue([r for r in plan(tmp_path, options=good)
                                    if not r.is_pretrain], log=lambda line: None)


def test_nothing_is_submitted_while_squeue_fails(tmp_path, monkeypatch):
    stubs(tmp_path, monkeypatch, squeue='echo "squeue: error: Socket timed out" >&2; exit 1')
    runs = plan(tmp_path)
    start_run(runs[0].run_dir, runs[0].spec)
    write_job(runs[0].run_dir, {'launcher': 'slurm', 'id': '5'})
    with pytest.raises(slurm.SlurmError, match=r'Slurm does not answer \(squeue: Socket timed '
                                               r'out\): nothing was submitted'):
        slurm_sweep.submit_to_slurm(runs, tmp_path / 'w', False,
                                    slurm_sweep.SlurmSettings(slurm.Resources()), ['true'])
    assert 'sbatch' not in called(tmp_path)
    assert sweep.sweep_states(runs)[runs[0].name].state == 'unknown'


def test_the_report_says_what_each_activation_cost(tmp_path):
    runs = [r for r in plan(tmp_path, ('ReLU', 'GoLU'), (0, 1)) if not r.is_pretrain]
    for i, run in enumerate(runs):
        start_run(run.run_dir, run.spec)
        write_launch(run.run_dir, {})
        for _ in range(2):  # two attempts of 30 and 30 + 60 i seconds on 2 GPUs
            start_attempt(run.run_dir, '7', 'x', None, gpus=2)
            attempts = json.loads((run.run_dir / 'attempts.json').read_text())
            attempts['attempts'][-1].update(started='2026-01-01T00:00:00',
                                            ended=f'2026-01-01T00:0{i}:30', how='requeued')
            (run.run_dir / 'attempts.json').write_text(json.dumps(attempts))
        log = run.run_dir / 'x' / 'vis_data' / 'scalars.json'
        log.parent.mkdir(parents=True)
        log.write_text(json.dumps({'loss': 1, 'time': 0.5 + i, 'step': 1}) + '\n')
        finish_run(run.run_dir, run.spec, {'mIoU': 1.0})
    states = {r.name: sweep.RunState(r.name, DONE) for r in runs}
    section = sweep.cost_section(runs, states)
    hours = [2 * (30 + 60 * i) / 3600 for i in range(4)]
    assert re.search(rf'\| ReLU \| 2 \| {statistics_text(hours[:2])} .*'
                     rf'\| {statistics_text([h * 2 for h in hours[:2]])}', section), section
    assert '| GoLU | cost/seconds_per_iter | 2 | +2.0000 |' in section


def statistics_text(values):
    import statistics
    return re.escape(f'{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f} (n=2)')
