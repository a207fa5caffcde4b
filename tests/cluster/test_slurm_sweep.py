"""The sweep on a real Slurm cluster (started on this machine by the slurm_cluster fixture): every
run its own job, submitted at once and running concurrently, a fine-tune after its own
pretraining, the report written by a last job and equal to the sequential mode's; a requeued or
cancelled job resumes from its checkpoint; bad input stops before anything is submitted; and
tools/slurm_train.sh runs a 2-task DDP training through srun."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from golu_mm.data import config_options, generate, generate_classification

ROOT = Path(__file__).resolve().parents[2]
TOOL = [sys.executable, str(ROOT / 'tools' / 'compare_activations.py')]
DEMO = 'configs/demo/deeplabv3_golu_demo.py'
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    return generate(tmp_path_factory.mktemp('data'), num_train=8, num_val=4, size=96, seed=2)


def tool(*args, check=True, **kwargs):
    result = subprocess.run([*TOOL, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                            timeout=600, **kwargs)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def squeue(cluster):
    """{job id: (name, state)} of every job the cluster knows."""
    out = cluster.run('squeue', '-h', '-t', 'all', '-o', '%i|%j|%T').stdout
    return {i: (n, s) for i, n, s in (line.split('|') for line in out.splitlines())}


def wait_for(condition, timeout, what, poll=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f'{what}: not within {timeout} s')


def seg_options(data, *extra):
    return [*(f'{k}={v}' for k, v in config_options(data, detection=False).items()), *extra]


def test_a_sweep_is_jobs_that_run_at_once_and_report_as_the_sequential_mode(
        slurm_cluster, scenes, tmp_path):
    shapes = generate_classification(tmp_path / 'cls', num_train=12, num_val=6, size=32)
    work = tmp_path / 'sweep'
    args = [DEMO, '--activations', 'ReLU', 'GoLU', '--seeds', 0, 1, '--work-dir', work,
            '--cfg-options', *seg_options(scenes, 'train_cfg.max_iters=2',
                                          'default_hooks.logger.interval=1'),
            '--pretrain-config', 'configs/demo/resnet_golu_pretrain_demo.py',
            '--pretrain-cfg-options', 'train_cfg.max_iters=2', 'train_dataloader.batch_size=4',
            'default_hooks.logger.interval=1', 'model.backbone.type=ActResNetV1c',
            *(f'{k}={v}' for k, v in config_options(shapes, detection=False).items())]
    slurm = ['--launcher', 'slurm', '--gpus-per-node', 1, '--cpus-per-task', 1]
    # Two sweeps started at once against one work dir, each submission slowed down so that
    # they overlap: one job per run all the same.
    slow = tmp_path / 'slow-bin'
    slow.mkdir()
    (slow / 'sbatch').write_text(f'#!/bin/bash\nsleep 1\nexec {shutil.which("sbatch")} "$@"\n')
    (slow / 'sbatch').chmod(0o755)
    env = {**os.environ, 'PATH': f'{slow}:{os.environ["PATH"]}'}
    both = [subprocess.Popen([*TOOL, *map(str, args + slurm)], cwd=ROOT, text=True, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    begin = time.monotonic()
    outputs = [p.communicate(timeout=300) for p in both]
    assert [p.returncode for p in both] == [0, 0], outputs
    assert time.monotonic() - begin < 120  # returned at once, not after the trainings
    jobs = squeue(slurm_cluster)
    runs = [f'{stage}{act}_seed{seed}' for act in ('ReLU', 'GoLU') for seed in (0, 1)
            for stage in ('pretrain-', '')]
    names = [n for n, s in jobs.values()]
    assert sorted(n for n in names if n != 'golu-report') == sorted(f'golu-{r}' for r in runs)
    assert [s for n, s in jobs.values() if n == 'golu-report'].count('PENDING') == 1
    table = outputs[0][0] + outputs[1][0]
    assert re.search(r'^GoLU_seed1 +(pending|running) +\d+', table, re.M)
    # Each fine-tune waits for its own pretraining (afterok), not for all of them.
    job_of = {r.replace('-', '/'): json.loads((work / r.replace('-', '/') / 'job.json')
                                              .read_text())['id'] for r in runs}
    detail = slurm_cluster.run('scontrol', 'show', 'job', job_of['GoLU_seed1']).stdout
    assert re.search(rf'Dependency=afterok:{job_of["pretrain/GoLU_seed1"]}\b', detail) or \
        (work / 'pretrain' / 'GoLU_seed1' / 'result.json').is_file()
    most = [0]

    def ended():
        states = [s for n, s in squeue(slurm_cluster).values() if n.startswith('golu-')]
        most[0] = max(most[0], states.count('RUNNING'))
        return not any(s in ('PENDING', 'RUNNING', 'COMPLETING', 'CONFIGURING')
                       for s in states)
    wait_for(ended, 900, 'the sweep\'s jobs ending', poll=0.3)
    assert most[0] >= 2  # at least two trainings ran at the same time
    status = tool(*args, '--status').stdout.splitlines()
    assert [line.split()[1] for line in status[1:]] == ['done'] * 8, status
    report = (work / 'comparison.md').read_text()
    assert re.search(r'^\| GoLU \| 2 \|( [0-9.]+ ± [0-9.]+ \(n=2\) \|){4}$', report, re.M)
    # The sequential mode over the same work dir reuses every run and writes the same report.
    (work / 'comparison.md').unlink()
    sequential = tool(*args).stdout
    assert sequential.count('done before') == 8 and ': training' not in sequential
    assert (work / 'comparison.md').read_text() == report
    # Everything done: a rerun submits no training, only the report job.
    again = tool(*args, *slurm).stdout
    assert [n for n, s in squeue(slurm_cluster).values()].count('golu-ReLU_seed0') == 1, again


def job_output(run):
    outputs = sorted(run.glob('job-*.out'))
    return outputs[-1].read_text() if outputs else ''


def checkpoint_iter(run):
    marker = run / 'last_checkpoint'
    return int(re.search(r'iter_(\d+)', marker.read_text()).group(1)) if marker.exists() else 0


def test_requeued_and_cancelled_jobs_resume_from_their_checkpoint(slurm_cluster, scenes,
                                                                   tmp_path):
    work = tmp_path / 'sweep'
    run = work / 'GoLU_seed0'
    args = [DEMO, '--activations', 'GoLU', '--seeds', 0, '--work-dir', work, '--cfg-options',
            *seg_options(scenes, 'train_cfg.max_iters=60', 'train_cfg.val_interval=60',
                         'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
                         'train_dataloader.batch_size=2', 'image_size=64'),
            '--launcher', 'slurm', '--gpus-per-node', 0, '--cpus-per-task', 1]
    tool(*args)
    job = json.loads((run / 'job.json').read_text())['id']
    wait_for(lambda: checkpoint_iter(run) >= 2, 300, 'a first checkpoint')
    slurm_cluster.run('scontrol', 'requeue', job)
    # Slurm holds a requeued job back for a while (BeginTime); let it start now.
    wait_for(lambda: squeue(slurm_cluster)[job][1] == 'PENDING', 60, 'the requeue')
    slurm_cluster.run('scontrol', 'update', f'jobid={job}', 'StartTime=now')
    wait_for(lambda: 'attempt 2, resuming from' in job_output(run), 120, 'the requeued attempt')
    resumed_at = checkpoint_iter(run)
    assert f'attempt 2, resuming from {run}/iter_{resumed_at}.pth' in job_output(run) or \
        re.search(rf'attempt 2, resuming from {re.escape(str(run))}/iter_\d+\.pth',
                  job_output(run))
    wait_for(lambda: checkpoint_iter(run) > resumed_at, 300, 'a checkpoint after the requeue')
    slurm_cluster.run('scancel', job)
    wait_for(lambda: squeue(slurm_cluster)[job][1] == 'CANCELLED', 60, 'the cancel')
    status = tool(*args, '--status').stdout.splitlines()[1].split()
    assert status[:3] == ['GoLU_seed0', 'cancelled', job], status
    cancelled_at = checkpoint_iter(run)
    assert status[4] == f'iter_{cancelled_at}.pth'
    # The rerun submits it again, and the new job goes on from the cancelled one's checkpoint.
    tool(*args)
    second = json.loads((run / 'job.json').read_text())['id']
    assert second != job
    wait_for(lambda: (run / 'result.json').is_file() or squeue(slurm_cluster)[second][1] in
             ('FAILED', 'CANCELLED'), 600, 'the resubmitted job')
    assert (run / 'result.json').is_file(), job_output(run)[-3000:]
    assert f'resuming from {run}/iter_{cancelled_at}.pth' in (run / f'job-{second}.out').read_text()
    sessions = sorted(run.glob('*/vis_data/scalars.json'))
    steps = [[json.loads(line)['step'] for line in s.read_text().splitlines()
              if 'loss' in json.loads(line)] for s in sessions]
    assert len(steps) >= 3 and steps[0][0] == 1
    assert all(later[0] > 2 for later in steps[1:] if later)  # never from iteration 0 again
    assert max(steps[-1]) == 60


def test_bad_input_stops_before_anything_is_submitted(slurm_cluster, scenes, tmp_path):
    args = [DEMO, '--activations', 'GoLU', '--seeds', 0, '--work-dir', tmp_path / 'w',
            '--cfg-options', *seg_options(scenes), '--launcher', 'slurm', '--gpus-per-node', 0]
    before = squeue(slurm_cluster)
    refused = tool(*args, '--partition', 'nope', check=False)
    assert refused.returncode == 1
    assert [line for line in refused.stderr.splitlines() if line.startswith('error')] == [
        'error: SlurmError: Slurm refuses the sweep\'s jobs: invalid partition specified: nope '
        '(nothing was submitted; check --partition/--account/--qos/--gpus-per-node)']
    assert squeue(slurm_cluster).keys() == before.keys()  # no job submitted
    assert not (tmp_path / 'w' / 'GoLU_seed0' / 'job.json').exists()
    # A job that dies before writing anything: failed, with the error its output ends with.
    dying = [DEMO, '--activations', 'GoLU', '--seeds', 0, '--work-dir', tmp_path / 'w',
             '--cfg-options', *seg_options(scenes, 'train_dataloader.dataset.data_root=/x/'),
             '--launcher', 'slurm', '--gpus-per-node', 0]
    tool(*dying)
    status = wait_for(lambda: (lambda out: 'failed' in out and out)(
        tool(*dying, '--status').stdout), 300, 'the failure')
    assert re.search(r'^GoLU_seed0 +failed +\d+ +FAILED: error: .*/x/', status, re.M), status
    assert not (tmp_path / 'w' / 'GoLU_seed0' / 'result.json').exists()


def test_slurm_train_sh_runs_a_two_task_ddp_training(slurm_cluster, scenes, tmp_path):
    work = tmp_path / 'ddp'
    result = subprocess.run(
        ['bash', 'tools/slurm_train.sh', 'debug', 'ddp', DEMO, str(work), '--cfg-options',
         *seg_options(scenes, 'train_cfg.max_iters=2', 'default_hooks.logger.interval=1')],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, 'GPUS': '2', 'CPUS_PER_TASK': '1', 'PYTHON': sys.executable})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = next(work.glob('*/*.log')).read_text()
    assert 'Distributed launcher: slurm' in log and 'Distributed training: True' in log
    assert re.search(r'GPU number: 2|world_size: 2', log), log[:3000]
    assert (work / 'iter_2.pth').is_file()


def test_a_run_of_several_tasks_is_one_ddp_training(slurm_cluster, scenes, tmp_path):
    """--tasks-per-node 2: the run's job trains with two processes through srun and mmengine's
    slurm launcher (gloo on the CPU), and finishes like any run."""
    work = tmp_path / 'sweep'
    tool(DEMO, '--activations', 'GoLU', '--seeds', 0, '--work-dir', work, '--cfg-options',
         *seg_options(scenes, 'train_cfg.max_iters=2', 'default_hooks.logger.interval=1'),
         '--launcher', 'slurm', '--gpus-per-node', 0, '--tasks-per-node', 2,
         '--cpus-per-task', 1)
    run = work / 'GoLU_seed0'
    launch = json.loads((run / 'launch.json').read_text())
    assert launch['processes'] == 2 and '--ntasks-per-node=2' in (run / 'job.sbatch').read_text()
    wait_for(lambda: (run / 'end.json').is_file(), 300, 'the job')
    assert (run / 'result.json').is_file(), job_output(run)[-3000:]
    log = next(run.glob('*/*.log')).read_text()
    assert 'Distributed launcher: slurm' in log and re.search(r'GPU number: 2|world_size: 2', log)
