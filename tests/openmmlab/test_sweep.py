"""The sweep's pieces: which act_cfg keys an activation replaces, and the metrics it reads back."""
import json
from pathlib import Path

import pytest
from mmengine import Config

from golu_mm.openmmlab.sweep import activation_options

FAKE_TRAIN = Path(__file__).resolve().parents[1] / 'jobs' / 'fake_train.py'


def test_activation_options_follow_the_declared_act_cfg():
    backbone_only = activation_options(Config.fromfile('configs/mask_rcnn_golu.py'), 'GELU')
    assert backbone_only == ['act_cfg.type=GELU', 'model.backbone.act_cfg.type=GELU']
    whole = activation_options(Config.fromfile('configs/mask_rcnn_golu_whole.py'), 'SiLU')
    assert set(whole) == {'act_cfg.type=SiLU', 'model.backbone.act_cfg.type=SiLU',
                          'model.rpn_head.act_cfg.type=SiLU',
                          'model.roi_head.bbox_head.act_cfg.type=SiLU',
                          'model.roi_head.mask_head.act_cfg.type=SiLU'}
    with pytest.raises(ValueError, match='no top-level act_cfg'):
        activation_options(Config(dict(model=dict())), 'GoLU')


def load_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('compare_activations',
                                                  'tools/compare_activations.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_one_failed_run_does_not_end_the_sweep(tmp_path, monkeypatch, capsys):
    """Fail's training fails, Silent's evaluation logs nothing, the rest finish (each run a job
    of tools/run_job.py with a stand-in training): every run is in the table, each number says
    how many runs it rests on, and the tool exits with an error naming the failed runs after
    writing everything. A rerun retries the failed runs only."""
    from golu_mm.openmmlab import sweep
    tool = load_tool()
    monkeypatch.setattr(sweep, 'TRAIN_SCRIPT', FAKE_TRAIN)
    work = tmp_path / 'sweep with space'
    argv = ['configs/demo/deeplabv3_golu_demo.py', '--activations', 'GoLU', 'Fail', 'Silent',
            '--seeds', '0', '1', '--work-dir', str(work), '--launcher', 'local',
            '--max-parallel', '2']
    with pytest.raises(RuntimeError, match=r'2 of 6 runs failed \(Fail seed 0, Fail seed 1\)'):
        tool.main(argv)
    assert len(started(work)) == 6
    table = (work / 'comparison.md').read_text()
    assert '| GoLU | 2 | 40.5000 ± 0.7071 (n=2) |' in table
    assert '| Fail | 2 | no result (n=0) |' in table and '| Silent | 2 | no result (n=0) |' in table
    assert '| Fail | 0 | failed | error: RuntimeError: the fake training failed |' in table
    assert '| Silent | 1 | finished | no mIoU, mAcc, aAcc logged |' in table
    assert 'mIoU_n' in (work / 'comparison.csv').read_text()
    out = capsys.readouterr().out
    assert 'Fail_seed1: FAILED (error: RuntimeError: the fake training failed); going on' in out
    with pytest.raises(RuntimeError, match='2 of 6 runs failed'):
        tool.main(argv[:argv.index('--seeds') + 1] + ['1', '0'] + argv[argv.index('--seeds') + 3:])
    assert sorted(started(work)[6:]) == [('Fail', 0), ('Fail', 1)]
    assert capsys.readouterr().out.count('done before') == 4
    # --status reads it all back; --report writes the same table again.
    tool.main(argv + ['--status'])
    status = capsys.readouterr().out.splitlines()
    assert status[0].split() == ['run', 'state', 'job', 'iter', 'checkpoint', 'reason']
    assert [line.split()[:2] for line in status[1:]] == [
        [f'{act}_seed{seed}', 'failed' if act == 'Fail' else 'done']
        for act in ('GoLU', 'Fail', 'Silent') for seed in (0, 1)]
    before = table
    (work / 'comparison.md').unlink()
    tool.main(argv + ['--report'])
    assert (work / 'comparison.md').read_text() == before


def started(work):
    """(activation, seed) of every training the stand-in started, in order."""
    runs = []
    for log in work.glob('*/started.jsonl'):
        for line in log.read_text().splitlines():
            record = json.loads(line)
            runs.append((record['start'], *log.parent.name.split('_seed')))
    return [(act, int(seed)) for _, act, seed in sorted(runs)]


def test_a_stale_run_stops_the_sweep_before_anything_trains(tmp_path, monkeypatch):
    from golu_mm.openmmlab import sweep
    tool = load_tool()
    monkeypatch.setattr(sweep, 'TRAIN_SCRIPT', FAKE_TRAIN)
    argv = ['configs/demo/deeplabv3_golu_demo.py', '--activations', 'GoLU', '--seeds', '0',
            '--work-dir', str(tmp_path)]
    tool.main(argv)
    with pytest.raises(SystemExit) as stop:  # another schedule: not passed off as the same runs
        tool.main(argv + ['--cfg-options', 'train_cfg.max_iters=3'])
    assert stop.value.code == 2 and len(started(tmp_path)) == 1
    status = tool.main(argv + ['--cfg-options', 'train_cfg.max_iters=3', '--status'])
    assert status['GoLU_seed0'].state == 'stale'
    assert 'train_cfg.max_iters=3' in status['GoLU_seed0'].reason


def test_from_scratch_sweep_with_frozen_batch_norm_is_refused(tmp_path, monkeypatch):
    from golu_mm.openmmlab.config_options import ConfigError
    from golu_mm.openmmlab import sweep
    tool = load_tool()
    monkeypatch.setattr(sweep, 'run_here', lambda *a, **k: pytest.fail('trained'))
    with pytest.raises(ConfigError, match=r'from scratch with model\.backbone\.frozen_stages=1 '
                                          r'.*model\.backbone\.norm_eval=True'):
        tool.main(['configs/mask_rcnn_golu.py', '--work-dir', str(tmp_path),
                   '--cfg-options', 'model.backbone.init_cfg=None'])


def test_a_fine_tune_is_not_submitted_after_a_local_pretraining(tmp_path, monkeypatch):
    """Slurm cannot wait for a process of this machine: submitting a fine-tune whose
    pretraining trains here now is refused, naming it, before anything is submitted."""
    import os
    from golu_mm.jobs import slurm
    from golu_mm.jobs.records import hostname, process_start, write_job
    from golu_mm.analysis.run_record import start_run
    from golu_mm.openmmlab import slurm_sweep, sweep
    stub = tmp_path / 'bin'
    stub.mkdir()
    for command in ('sbatch', 'squeue', 'scancel', 'scontrol'):
        (stub / command).write_text('#!/bin/bash\necho "called $0" >&2\nexit 9\n')
        (stub / command).chmod(0o755)
    monkeypatch.setenv('PATH', f'{stub}:{os.environ["PATH"]}')
    cfg = Config.fromfile('configs/demo/deeplabv3_golu_demo.py')
    pre_cfg = Config.fromfile('configs/demo/resnet_golu_pretrain_demo.py')
    runs = sweep.plan_sweep(sweep.Stage('d.py', cfg), ['GoLU'], [0], tmp_path / 'w', 'v',
                            sweep.Stage('p.py', pre_cfg))
    start_run(runs[0].run_dir, runs[0].spec)
    write_job(runs[0].run_dir, {'launcher': 'local', 'pid': os.getpid(), 'host': hostname(),
                                'pid_start': process_start(os.getpid())})
    with pytest.raises(slurm.SlurmError, match=r'pretrain/GoLU_seed0 is being trained on this '
                                               r'machine \(pid \d+@'):
        slurm_sweep.submit_to_slurm(runs, tmp_path / 'w', False,
                                    slurm_sweep.SlurmSettings(slurm.Resources()), ['true'])
    assert not (runs[1].run_dir / 'job.json').exists()


def test_a_run_another_sweep_finished_meanwhile_is_not_trained_again(tmp_path, monkeypatch,
                                                                      capsys):
    """Local mode: the claim just before a launch checks "done" too, not only "active" (a
    concurrent sweep may have finished the run since this one planned it)."""
    from golu_mm.analysis.run_record import finish_run, start_run
    from golu_mm.openmmlab import sweep
    monkeypatch.setattr(sweep, 'TRAIN_SCRIPT', FAKE_TRAIN)
    cfg = Config.fromfile('configs/demo/deeplabv3_golu_demo.py')
    (run,) = sweep.plan_sweep(sweep.Stage('d.py', cfg), ['GoLU'], [0], tmp_path / 'w', 'v')
    planned = sweep.check_runs

    def finished_meanwhile(runs, force, scheduler=None):
        plans = planned(runs, force, scheduler)
        start_run(run.run_dir, run.spec)
        finish_run(run.run_dir, run.spec, {'mIoU': 1.0})  # the other sweep, just now
        return plans
    monkeypatch.setattr(sweep, 'check_runs', finished_meanwhile)
    results = sweep.run_here([run], tmp_path / 'w', False)
    assert 'another sweep finished it just now; reusing it' in capsys.readouterr().out
    assert not (run.run_dir / 'started.jsonl').exists()  # nothing trained
    assert results[0]['metrics'] == {'mIoU': 1.0}
