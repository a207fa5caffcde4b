"""A run's state from its directory and what the scheduler says: every Slurm state, every end
record, local processes alive or gone, and a directory holding another experiment."""
import os
import subprocess
import sys

import pytest

from golu_mm.analysis.run_record import finish_run, start_run
from golu_mm.jobs.records import (LOCAL, SLURM, hostname, process_start, write_end, write_job)
from golu_mm.jobs.state import (CANCELLED, DONE, FAILED, PENDING, PLANNED, RUNNING, STALE,
                                run_state, state_table)

SPEC = {'config': 'c.py', 'activation': 'GoLU', 'seed': 0, 'options': ['a=1']}


def started(tmp_path, job=None):
    run = tmp_path / 'GoLU_seed0'
    start_run(run, SPEC)
    if job is not None:
        write_job(run, job)
    return run


@pytest.mark.parametrize('slurm, expected', [
    ('PENDING', PENDING), ('REQUEUED', PENDING), ('CONFIGURING', PENDING),
    ('RUNNING', RUNNING), ('COMPLETING', RUNNING), ('SUSPENDED', RUNNING),
    ('CANCELLED', CANCELLED), ('CANCELLED by 0', CANCELLED), ('PREEMPTED', CANCELLED),
    ('FAILED', FAILED), ('TIMEOUT', FAILED), ('NODE_FAIL', FAILED), ('OUT_OF_MEMORY', FAILED),
    ('COMPLETED', FAILED),  # completed without writing result.json
])
def test_slurm_states(tmp_path, slurm, expected):
    run = started(tmp_path, {'launcher': SLURM, 'id': '17'})
    state = run_state('GoLU_seed0', run, SPEC, {'17': (slurm, 'Priority')})
    assert (state.state, state.job) == (expected, '17')
    if expected == PENDING:
        assert state.reason == 'Priority'
    if slurm == 'TIMEOUT':
        assert state.reason.startswith('TIMEOUT')


def test_the_reason_is_the_last_error_of_the_job_output(tmp_path):
    run = started(tmp_path, {'launcher': SLURM, 'id': '5'})
    (run / 'job-5.out').write_text('loading\nerror: FileNotFoundError: data/ann.json does not '
                                   'exist\n')
    state = run_state('r', run, SPEC, {'5': ('FAILED', 'NonZeroExitCode')})
    assert state.reason == 'FAILED: error: FileNotFoundError: data/ann.json does not exist'
    # Forgotten by the scheduler (no accounting): the end record and the output still tell.
    write_end(run, 'failed', exit=1)
    assert run_state('r', run, SPEC, {}).reason.endswith('data/ann.json does not exist')


def test_states_without_the_scheduler(tmp_path):
    assert run_state('r', tmp_path / 'nothing', SPEC, {}).state == PLANNED
    run = started(tmp_path, {'launcher': SLURM, 'id': '9'})
    gone = run_state('r', run, SPEC, {})
    assert gone.state == FAILED and 'left no end record' in gone.reason
    write_end(run, 'terminated', signal='SIGTERM', exit=-15)
    assert run_state('r', run, SPEC, {}).state == CANCELLED
    write_end(run, 'failed', exit=3)
    assert run_state('r', run, SPEC, {}).reason == 'exit code 3'
    finish_run(run, SPEC, {'mIoU': 1.0})
    assert run_state('r', run, SPEC, {'9': ('RUNNING', 'None')}).state == DONE


def test_local_jobs_are_running_while_their_process_lives(tmp_path):
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    try:
        run = started(tmp_path, {'launcher': LOCAL, 'pid': child.pid, 'host': hostname(),
                                 'pid_start': process_start(child.pid)})
        state = run_state('r', run, SPEC, {})
        assert state.state == RUNNING and state.job == f'pid {child.pid}@{hostname()}'
        # The same pid with another start time is another process (a reused pid).
        write_job(run, {'launcher': LOCAL, 'pid': child.pid, 'host': hostname(),
                        'pid_start': '1'})
        assert run_state('r', run, SPEC, {}).state == FAILED
        write_job(run, {'launcher': LOCAL, 'pid': 1, 'host': 'elsewhere', 'pid_start': '1'})
        assert run_state('r', run, SPEC, {}).reason.startswith('on elsewhere')
    finally:
        child.kill()
        child.wait()
    write_job(run, {'launcher': LOCAL, 'pid': child.pid, 'host': hostname(),
                    'pid_start': process_start(os.getpid())})
    assert run_state('r', run, SPEC, {}).state == FAILED


def test_stale_runs_and_foreign_checkpoints(tmp_path):
    run = started(tmp_path)
    stale = run_state('r', run, {**SPEC, 'seed': 1}, {})
    assert stale.state == STALE and 'seed: recorded 0, now 1' in stale.reason
    (run / 'last_checkpoint').write_text(str(tmp_path / 'other' / 'iter_4.pth'))
    foreign = run_state('r', run, SPEC, {})
    assert foreign.state == STALE and 'its own checkpoints' in foreign.reason
    (run / 'last_checkpoint').write_text(str(run / 'iter_4.pth'))
    assert run_state('r', run, SPEC, {}).checkpoint == 'iter_4.pth'


def test_state_table_lines_up():
    from golu_mm.jobs.state import RunState
    table = state_table([RunState('pretrain/GoLU_seed0', RUNNING, '12', 40, 'iter_40.pth'),
                         RunState('GoLU_seed0', PENDING, '13', reason='Dependency')])
    lines = table.splitlines()
    assert lines[0].split() == ['run', 'state', 'job', 'iter', 'checkpoint', 'reason']
    assert lines[1].split() == ['pretrain/GoLU_seed0', 'running', '12', '40', 'iter_40.pth']
    assert lines[2].index('pending') == lines[1].index('running')


def test_a_scheduler_that_does_not_answer_makes_the_state_unknown(tmp_path):
    from golu_mm.jobs.state import UNKNOWN, SchedulerView
    run = started(tmp_path, {'launcher': SLURM, 'id': '31'})
    silent = SchedulerView(error='squeue: slurm_load_jobs error: Socket timed out')
    state = run_state('r', run, SPEC, silent)
    assert (state.state, state.job) == (UNKNOWN, '31') and state.active
    assert 'Socket timed out' in state.reason
    # What the job wrote of its end is final whatever Slurm says; a requeue is not.
    write_end(run, 'requeued', reason='time limit ahead')
    assert run_state('r', run, SPEC, silent).state == UNKNOWN
    write_end(run, 'failed', exit=1, reason='no progress')
    assert run_state('r', run, SPEC, silent).state == FAILED
    # Answered, the same record reads as the job's end.
    assert run_state('r', run, SPEC, SchedulerView({'31': ('FAILED', 'NonZeroExitCode')})
                     ).reason == 'no progress'


def test_a_submission_without_its_id_is_found_by_the_job_comment(tmp_path):
    from golu_mm.jobs.records import job_comment
    from golu_mm.jobs.state import UNKNOWN, SchedulerView
    run = started(tmp_path, {'launcher': SLURM, 'id': None})
    assert run_state('r', run, SPEC, SchedulerView()).state == PLANNED
    found = SchedulerView({'40': ('RUNNING', 'None')}, {job_comment(run): ['40']})
    assert (run_state('r', run, SPEC, found).state, run_state('r', run, SPEC, found).job) == (
        RUNNING, '40')
    assert run_state('r', run, SPEC, SchedulerView(error='down')).state == UNKNOWN


def test_a_requeued_job_is_pending_while_slurm_holds_it(tmp_path):
    run = started(tmp_path, {'launcher': SLURM, 'id': '12'})
    write_end(run, 'requeued', reason='time limit ahead')
    assert run_state('r', run, SPEC, {'12': ('PENDING', 'BeginTime')}).state == PENDING
    gone = run_state('r', run, SPEC, {})
    assert gone.state == FAILED and 'was requeued (time limit ahead)' in gone.reason


def test_the_live_job_of_a_directory(tmp_path):
    from golu_mm.jobs.records import job_comment
    from golu_mm.jobs.state import SchedulerView, live_job
    run = started(tmp_path, {'launcher': SLURM, 'id': '5'})
    assert live_job(run, SchedulerView({'5': ('RUNNING', 'None')})) == 'Slurm job 5'
    assert live_job(run, SchedulerView({'5': ('COMPLETED', 'None')})) is None
    assert live_job(run, SchedulerView({'9': ('PENDING', 'None')},
                                       {job_comment(run): ['9']})) == 'Slurm job 9'
    assert 'could not be asked' in live_job(run, SchedulerView(error='timeout'))
    write_job(run, {'launcher': LOCAL, 'pid': os.getpid(), 'host': hostname(),
                    'pid_start': process_start(os.getpid())})
    assert live_job(run, SchedulerView()) == f'process pid {os.getpid()}@{hostname()}'
    assert live_job(tmp_path / 'none', SchedulerView()) is None
