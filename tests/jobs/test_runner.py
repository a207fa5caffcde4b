"""tools/run_job.py: a job trains its run (resuming from the run's own last checkpoint), finishes
it, and records how it ended, a SIGTERM included; the training command for each launcher."""
import json
import signal
import subprocess
import sys
import time

from golu_mm.jobs.records import read_end
from golu_mm.jobs.runner import training_command

from .conftest import RUN_JOB


def job(run, **env):
    import os
    return subprocess.run([sys.executable, str(RUN_JOB), str(run)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


def started(run):
    return [json.loads(line) for line in (run / 'started.jsonl').read_text().splitlines()]


def test_a_job_trains_finishes_and_resumes(make_run):
    run = make_run('GoLU_seed1', seed=1)
    first = job(run)
    assert first.returncode == 0, first.stdout + first.stderr
    assert 'no checkpoint yet: from iteration 0' in first.stdout
    assert read_end(run)['status'] == 'finished'
    result = json.loads((run / 'result.json').read_text())
    assert result['metrics'] == {'mIoU': 41.0} and result['status'] == 'finished'
    assert '--resume' not in started(run)[0]['argv']
    # Run again (a requeue after the last checkpoint): resumed from the run's own checkpoint.
    (run / 'result.json').unlink()
    second = job(run, SLURM_RESTART_COUNT='1')
    assert f'attempt 2, resuming from {run / "iter_2.pth"}' in second.stdout
    assert '--resume' in started(run)[1]['argv']


def test_failures_are_recorded_with_their_exit_code(make_run):
    run = make_run('Fail_seed0', activation='Fail')
    result = job(run)
    assert result.returncode == 1 and 'the fake training failed' in result.stdout
    assert read_end(run) == {**read_end(run), 'status': 'failed', 'exit': 1}
    assert not (run / 'result.json').exists()


def test_another_runs_checkpoint_is_never_resumed(make_run, tmp_path):
    run = make_run('GoLU_seed0')
    (run / 'last_checkpoint').write_text(str(tmp_path / 'ReLU_seed0' / 'iter_8.pth'))
    result = job(run)
    assert result.returncode == 2 and 'resumes from its own checkpoints only' in result.stdout
    assert not (run / 'started.jsonl').exists()  # nothing trained


def test_sigterm_is_recorded_and_forwarded(make_run):
    import os
    run = make_run('GoLU_seed0')
    child = subprocess.Popen([sys.executable, str(RUN_JOB), str(run)],
                             env={**os.environ, 'FAKE_TRAIN_SLEEP': '60'},
                             stdout=subprocess.PIPE, text=True)
    assert 'from iteration 0' in child.stdout.readline()
    time.sleep(1)  # the training has started
    begin = time.monotonic()
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 128 + signal.SIGTERM
    assert time.monotonic() - begin < 20  # the training ended with it, not after its sleep
    end = read_end(run)
    assert end['status'] == 'terminated' and end['signal'] == 'SIGTERM'
    assert not (run / 'started.jsonl').exists()


def test_training_commands(tmp_path, monkeypatch):
    base = {'python': 'py', 'train_script': 'train.py', 'config': 'c.py', 'options': ['a=1']}
    monkeypatch.setenv('SLURM_CPUS_PER_TASK', '6')
    assert training_command(tmp_path, {**base, 'launcher': 'slurm', 'processes': 16}, True) == [
        'srun', '--kill-on-bad-exit=1', '--cpus-per-task=6', 'py', '-u', 'train.py', 'c.py',
        '--work-dir', str(tmp_path), '--save-on-signal', '--resume', '--launcher', 'slurm',
        '--cfg-options', 'a=1']
    single = training_command(tmp_path, {**base, 'launcher': 'slurm', 'processes': 1}, False)
    assert '--launcher' not in single and single[:3] == ['srun', '--kill-on-bad-exit=1',
                                                          '--cpus-per-task=6']
    torchrun = training_command(tmp_path, {**base, 'launcher': 'local', 'processes': 2}, False)
    assert torchrun[:5] == ['py', '-m', 'torch.distributed.run', '--nnodes=1',
                            '--nproc_per_node=2']
    assert torchrun[-4:] == ['--launcher', 'pytorch', '--cfg-options', 'a=1']
    assert training_command(tmp_path, {**base, 'launcher': 'local'}, False) == [
        'py', '-u', 'train.py', 'c.py', '--work-dir', str(tmp_path), '--save-on-signal',
        '--cfg-options', 'a=1']
