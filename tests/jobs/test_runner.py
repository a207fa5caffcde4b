"""tools/run_job.py: a job trains its run (resuming from the run's own last checkpoint), finishes
it, and records how it ended, a SIGTERM included; the training command for each launcher."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from golu_mm.jobs.records import read_end
from golu_mm.jobs.runner import (CANCELLED, PREEMPTED, REQUEUED_BY_SLURM, SAVED_EXIT, TIME_LIMIT,
                                 WARNED, Outcome, after_stop, signal_cause, training_command)

from .conftest import RUN_JOB


def job(run, **env):
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


@pytest.mark.parametrize('signum, detail, restarts, cause', [
    (signal.SIGUSR1, None, 0, WARNED),
    (signal.SIGTERM, {'JobState': 'COMPLETING', 'Reason': 'TimeLimit', 'Restarts': '0'}, 0,
     TIME_LIMIT),
    (signal.SIGTERM, {'JobState': 'COMPLETING', 'Reason': 'None', 'Restarts': '2'}, 1,
     REQUEUED_BY_SLURM),
    (signal.SIGTERM, {'JobState': 'PREEMPTED', 'Reason': 'None', 'Restarts': '0'}, 0, PREEMPTED),
    (signal.SIGTERM, {'JobState': 'COMPLETING', 'Reason': 'None', 'Restarts': '1'}, 1,
     CANCELLED),
    (signal.SIGTERM, None, 0, CANCELLED),  # scontrol did not answer: never requeue on a guess
])
def test_why_a_job_was_signalled(signum, detail, restarts, cause):
    assert signal_cause(signum, detail, restarts) == cause


def test_what_a_stopped_job_does():
    go = after_stop(WARNED, 2, 5, True, 'iter_8.pth')
    assert go == Outcome('requeued', 'time limit ahead: saved iter_8.pth; attempt 3 of at most '
                         '5 queued', True)
    assert not after_stop(TIME_LIMIT, 5, 5, True, 'iter_8.pth').requeue
    assert 'after attempt 5 of 5 (--max-attempts)' in after_stop(TIME_LIMIT, 5, 5, True,
                                                                 'x').reason
    stuck = after_stop(PREEMPTED, 1, 5, False, None)
    assert stuck.status == 'failed' and 'no progress' in stuck.reason and not stuck.requeue
    assert after_stop(REQUEUED_BY_SLURM, 1, 5, False, None) == Outcome(
        'requeued', 'requeued by Slurm (scontrol requeue or preemption)', False)
    assert after_stop(CANCELLED, 1, 5, True, 'x').status == 'terminated'


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """scontrol and sbatch stubs logging their arguments to CALLS: `show job` prints
    FAKE_DETAIL, `requeue` exits FAKE_REQUEUE_RC, sbatch prints job id 88."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    calls = tmp_path / 'calls'
    for name, body in (('scontrol', 'if [ "$2" = show ]; then echo "$FAKE_DETAIL"; exit 0; fi\n'
                                    'if [ "$1" = requeue ]; then exit ${FAKE_REQUEUE_RC:-0}; fi'),
                       ('sbatch', 'echo 88')):
        (bin_dir / name).write_text(f'#!/bin/bash\necho "{name} $*" >> {calls}\n{body}\n')
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv('PATH', f'{bin_dir}:{os.environ["PATH"]}')
    return calls


def signalled(run, signum, **env):
    """run_job in a Slurm job 77 (SLURM_RESTART_COUNT 0), signalled once its training runs."""
    child = subprocess.Popen([sys.executable, str(RUN_JOB), str(run)], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, 'SLURM_JOB_ID': '77',
                                             'FAKE_TRAIN_SLEEP': '60', **env})
    assert 'attempt' in child.stdout.readline()
    time.sleep(1.5)  # the training listens
    child.send_signal(signum)
    out = child.communicate(timeout=60)[0]
    return child.returncode, out


def test_the_warning_saves_and_requeues_until_the_attempts_are_used(make_run, fake_slurm):
    run = make_run('GoLU_seed0', max_attempts=2)
    code, out = signalled(run, signal.SIGUSR1)
    assert code == SAVED_EXIT, out
    assert read_end(run)['status'] == 'requeued' and 'scontrol requeue 77' in \
        fake_slurm.read_text()
    assert (run / 'last_checkpoint').read_text().endswith('iter_1.pth')
    code, out = signalled(run, signal.SIGUSR1)  # the second (and last) attempt: given up
    assert code == 1 and fake_slurm.read_text().count('requeue') == 1
    end = read_end(run)
    assert end['status'] == 'failed' and 'after attempt 2 of 2' in end['reason']
    third = job(run, SLURM_JOB_ID='77')
    assert third.returncode == 2 and 'attempt 3 refused' in third.stdout
    attempts = json.loads((run / 'attempts.json').read_text())['attempts']
    assert [(a['attempt'], a['from'], a.get('to'), a.get('how')) for a in attempts] == [
        (1, None, 'iter_1.pth', 'requeued'), (2, 'iter_1.pth', 'iter_2.pth', 'failed'),
        (3, 'iter_2.pth', None, 'failed')]


def test_no_progress_is_not_requeued(make_run, fake_slurm):
    run = make_run('GoLU_seed0')
    code, _ = signalled(run, signal.SIGUSR1, FAKE_TRAIN_NO_SAVE='1')
    assert read_end(run)['status'] == 'failed' and 'no progress' in read_end(run)['reason']
    assert not fake_slurm.exists() or 'requeue' not in fake_slurm.read_text()


@pytest.mark.parametrize('detail, status', [
    ('JobId=77 JobState=COMPLETING Reason=None Restarts=0', 'terminated'),  # scancel
    ('JobId=77 JobState=COMPLETING Reason=None Restarts=1', 'requeued'),  # Slurm requeues it
    ('JobId=77 JobState=COMPLETING Reason=TimeLimit Restarts=0', 'requeued')])  # we requeue
def test_a_sigterm_is_requeued_only_where_slurm_will_not(make_run, fake_slurm, detail, status):
    run = make_run('GoLU_seed0')
    signalled(run, signal.SIGTERM, FAKE_DETAIL=detail)
    assert read_end(run)['status'] == status
    requeued_here = 'scontrol requeue 77' in fake_slurm.read_text()
    assert requeued_here == ('TimeLimit' in detail)


def test_where_requeue_is_refused_the_job_is_submitted_again(make_run, fake_slurm):
    from golu_mm.jobs.records import read_job, write_job
    fine_tune = make_run('GoLU_seed0')
    write_job(fine_tune, {'launcher': 'slurm', 'id': '78'})
    run = make_run('pretrain/GoLU_seed0', dependents=[str(fine_tune)])
    write_job(run, {'launcher': 'slurm', 'id': '77'})
    (run / 'job.sbatch').write_text('#!/bin/bash\n')
    code, out = signalled(run, signal.SIGUSR1, FAKE_REQUEUE_RC='1')
    assert code == SAVED_EXIT, out
    assert read_job(run)['id'] == '88' and read_job(run)['resubmitted_from'] == '77'
    calls = fake_slurm.read_text()
    assert f'sbatch --parsable {run / "job.sbatch"}' in calls
    assert 'scontrol update JobId=78 Dependency=afterok:88' in calls


def test_a_warning_while_the_job_starts_up_is_not_lost(make_run, fake_slurm):
    """Slurm may warn a job as it starts: noted before tools/run_job.py's imports, it becomes a
    stop request the training acts on (a save after its first step), never the end of the job."""
    run = make_run('GoLU_seed0')
    child = subprocess.Popen([sys.executable, str(RUN_JOB), str(run)], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, 'SLURM_JOB_ID': '77',
                                             'FAKE_TRAIN_SLEEP': '60'})
    time.sleep(0.4)  # the interpreter runs the script's first lines, not yet golu_mm's imports
    child.send_signal(signal.SIGUSR1)
    out = child.communicate(timeout=60)[0]
    assert child.returncode == SAVED_EXIT, out
    assert read_end(run)['status'] == 'requeued' and 'scontrol requeue 77' in \
        fake_slurm.read_text()
    assert (run / 'last_checkpoint').read_text().endswith('iter_1.pth')  # saved, then stopped
