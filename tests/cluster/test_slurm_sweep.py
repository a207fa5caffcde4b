"""The sweep on a real Slurm cluster (started on this machine by the slurm_cluster fixture): every
run its own job, submitted at once and running concurrently, a fine-tune after its own
pretraining, the report written by a last job and equal to the sequential mode's; a requeued or
cancelled job resumes from its checkpoint; bad input stops before anything is submitted; and
tools/slurm_train.sh runs a 2-task DDP training through srun."""
import json
import os
import re
import shutil
import signal
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
    # A missing dataset is found before anything is queued, naming the run and the path.
    missing = tool(DEMO, '--activations', 'GoLU', '--seeds', 0, '--work-dir', tmp_path / 'w',
                   '--cfg-options', *seg_options(scenes, 'train_dataloader.dataset.data_root=/x/'),
                   '--launcher', 'slurm', '--gpus-per-node', 0, check=False)
    assert missing.returncode == 1 and missing.stderr.strip().splitlines()[-2] == (
        f'error: ConfigError: run GoLU_seed0 ({DEMO}): train_dataloader.dataset.data_root /x/ '
        'does not exist. Nothing was submitted')
    # Settings Slurm would refuse, or that cannot work, are one line each, nothing submitted.
    for extra, message in (
            (['--time', 'soon'], "Slurm refuses the sweep's jobs: Invalid --time specification"),
            (['--max-attempts', 0], 'ValueError: --max-attempts must be at least 1, not 0'),
            (['--max-running', 0], 'ValueError: --max-running must be at least 1, not 0'),
            (['--time', '5', '--signal-lead', 600], '--signal-lead 600 s is not shorter than '
                                                    'the time limit --time 5 (300 s)')):
        refused = tool(*args, *extra, check=False)
        errors = [line for line in refused.stderr.splitlines() if line.startswith('error')]
        assert refused.returncode == 1 and len(errors) == 1 and message in errors[0], errors
    assert squeue(slurm_cluster).keys() == before.keys()
    assert not (tmp_path / 'w' / 'GoLU_seed0' / 'job.json').exists()


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


def training_pids(run):
    """The pids of the training processes (tools/train.py) working in `run`."""
    pids = []
    for proc in Path('/proc').iterdir():
        try:
            argv = (proc / 'cmdline').read_bytes().split(b'\0')
        except OSError:
            continue
        if any(a.endswith(b'tools/train.py') for a in argv) and str(run).encode() in argv:
            pids.append(int(proc.name))
    return pids


def our_jobs(cluster):
    """{job id: (state, comment)} of the cluster's jobs whose comment names a golu_mm run."""
    out = cluster.run('squeue', '-h', '-t', 'all', '-o', '%i|%T|%k').stdout
    return {i: (s, c) for i, s, c in (line.split('|', 2) for line in out.splitlines())
            if c.startswith('golu_mm:')}


def steps_of(run):
    """The training steps each session of the run logged, session by session."""
    return [[json.loads(line)['step'] for line in s.read_text().splitlines()
             if 'loss' in json.loads(line)] for s in sorted(run.glob('*/vis_data/scalars.json'))]


def test_a_sweep_finishes_unattended_while_faults_hit_it(slurm_cluster, scenes, tmp_path):
    """2 activations x 2 seeds with pretraining, at most 3 runs at once, while: a pretraining
    crashes (its training killed), a fine-tune runs under a 1-minute time limit, another is
    requeued with scontrol, slurmctld restarts, and squeue fails for a while. Nobody steps in:
    the report comes, naming the failed and the blocked run; every other run reaches its last
    iteration, resuming; no run ever has two jobs; nothing is left waiting."""
    shapes = generate_classification(tmp_path / 'cls', num_train=12, num_val=6, size=32)
    work = tmp_path / 'sweep'
    flag = tmp_path / 'squeue-fails'
    flaky = tmp_path / 'flaky-bin'
    flaky.mkdir()
    (flaky / 'squeue').write_text(
        f'#!/bin/bash\nif [ -e {flag} ]; then echo "squeue: error: slurm_load_jobs error: Socket '
        f'timed out on send/recv operation" >&2; exit 1; fi\nexec {shutil.which("squeue")} "$@"\n')
    (flaky / 'squeue').chmod(0o755)
    env = {**os.environ, 'PATH': f'{flaky}:{os.environ["PATH"]}'}
    iters = 240
    args = [DEMO, '--activations', 'ReLU', 'GoLU', '--seeds', 0, 1, '--work-dir', work,
            '--cfg-options', *seg_options(scenes, f'train_cfg.max_iters={iters}',
                                          f'train_cfg.val_interval={iters}', 'image_size=64',
                                          'train_dataloader.batch_size=2',
                                          'default_hooks.logger.interval=1'),
            '--pretrain-config', 'configs/demo/resnet_golu_pretrain_demo.py',
            '--pretrain-cfg-options', 'train_cfg.max_iters=60', 'train_dataloader.batch_size=4',
            'default_hooks.logger.interval=1', 'model.backbone.type=ActResNetV1c',
            *(f'{k}={v}' for k, v in config_options(shapes, detection=False).items()),
            '--launcher', 'slurm', '--gpus-per-node', 1, '--cpus-per-task', 1,
            '--signal-lead', 30, '--max-running', 3, '--max-attempts', 20]
    tool(*args, env=env)
    run = {name: work / name for name in ('pretrain/ReLU_seed1', 'ReLU_seed1', 'GoLU_seed0',
                                          'GoLU_seed1')}
    job_id = {name: json.loads((path / 'job.json').read_text())['id']
              for name, path in run.items()}
    slurm_cluster.run('scontrol', 'update', f'JobId={job_id["GoLU_seed0"]}', 'TimeLimit=1')
    most, doubled = [0], []

    def watch():
        jobs = our_jobs(slurm_cluster)
        active = [c for s, c in jobs.values() if s in ('PENDING', 'RUNNING', 'COMPLETING',
                                                       'CONFIGURING', 'REQUEUED')]
        doubled.extend(c for c in set(active) if active.count(c) > 1)
        most[0] = max(most[0], [s for s, _ in jobs.values()].count('RUNNING'))

    def until(condition, timeout, what):
        def check():
            watch()
            return condition()
        return wait_for(check, timeout, what, poll=0.2)

    # A pretraining crashes (its training process killed, as by the OOM killer).
    pids = until(lambda: training_pids(run['pretrain/ReLU_seed1']), 300, 'the pretraining')
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    # A fine-tune is requeued by hand once it trains.
    until(lambda: len(steps_of(run['GoLU_seed1'])[-1:][0] if steps_of(run['GoLU_seed1'])
                      else []) >= 10, 600, 'GoLU_seed1 training')
    slurm_cluster.run('scontrol', 'requeue', job_id['GoLU_seed1'])
    # squeue fails for a while: the states are unknown, and a rerun submits nothing.
    flag.touch()
    status = tool(*args[:args.index('--launcher')], '--status', env=env).stdout
    assert re.search(r'^GoLU_seed1 +unknown +\d+ .*Socket timed out', status, re.M), status
    before = set(our_jobs(slurm_cluster))
    refused = tool(*args, check=False, env=env)
    assert refused.returncode == 1 and 'Slurm does not answer (squeue: slurm_load_jobs error: ' \
        'Socket timed out on send/recv operation): nothing was submitted' in refused.stderr
    assert set(our_jobs(slurm_cluster)) == before
    flag.unlink()
    # The controller restarts.
    slurm_cluster.restart_controller()
    # Nobody steps in any more: the closing job writes the report once every job has ended.
    until(lambda: (work / 'comparison.md').is_file() and not any(  # the closing job's too
        s in ('PENDING', 'RUNNING', 'COMPLETING', 'CONFIGURING')
        for _, s in squeue(slurm_cluster).values()), 900, 'the report')
    assert not doubled, f'runs with two jobs at once: {set(doubled)}'
    assert most[0] <= 3
    report = (work / 'comparison.md').read_text()
    assert re.search(r'^\| ReLU \| 1 \| blocked \| pretrain/ReLU_seed1 failed: ', report, re.M), \
        report
    states = {line.split()[0]: line.split()[1] for line in
              tool(*args[:args.index('--launcher')], '--status').stdout.splitlines()[1:]}
    assert states == {'pretrain/ReLU_seed0': 'done', 'ReLU_seed0': 'done',
                      'pretrain/ReLU_seed1': 'failed', 'ReLU_seed1': 'blocked',
                      'pretrain/GoLU_seed0': 'done', 'GoLU_seed0': 'done',
                      'pretrain/GoLU_seed1': 'done', 'GoLU_seed1': 'done'}, states
    for name in ('ReLU_seed0', 'GoLU_seed0', 'GoLU_seed1'):
        sessions = steps_of(work / name)
        assert max(sessions[-1]) == iters  # trained to its end ...
        assert all(later[0] > 1 for later in sessions[1:] if later)  # ... never from 0 again
    for name in ('GoLU_seed0', 'GoLU_seed1'):  # the time limit and the requeue: attempts
        attempts = json.loads((work / name / 'attempts.json').read_text())['attempts']
        assert len(attempts) >= 2 and attempts[0]['how'] == 'requeued', attempts
        assert 'attempt 2, resuming from' in job_output(work / name)
        spans = [(a['started'], a.get('ended', '9')) for a in attempts]
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # one after another
    assert 'time limit ahead' in json.dumps(json.loads(
        (work / 'GoLU_seed0' / 'attempts.json').read_text()))
    assert 'Training cost' in report and 'cost/wall_hours' in report
