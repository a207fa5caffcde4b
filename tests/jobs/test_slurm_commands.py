"""What is handed to Slurm: sbatch options from the resources, the batch script, the missing
commands named; tools/slurm_srun.sh asks for GPUs only where the partition has them (stub
sinfo and srun; the real cluster runs in tests/cluster)."""
import os
import stat
import subprocess
from pathlib import Path

import pytest

from golu_mm.jobs import slurm as slurm_module
from golu_mm.jobs.slurm import (Resources, SlurmError, accounting, batch_script, check_signal_lead,
                                dependency, job_detail, query, require_slurm, time_limit_seconds)

ROOT = Path(__file__).resolve().parents[2]


def test_resources_become_sbatch_options():
    assert Resources(gpus_per_node=0).sbatch_options() == [
        '--nodes=1', '--ntasks-per-node=1', '--cpus-per-task=4']
    many = Resources(nodes=2, gpus_per_node=8, cpus_per_task=10, mem='200G', time='2-00:00:00',
                     partition='gpu', account='lab', qos='high', extra=['--constraint=a100'])
    assert many.sbatch_options() == [
        '--nodes=2', '--ntasks-per-node=8', '--cpus-per-task=10', '--gres=gpu:8', '--mem=200G',
        '--time=2-00:00:00', '--partition=gpu', '--account=lab', '--qos=high',
        '--constraint=a100']
    assert many.processes == 16 and Resources(tasks_per_node=2, gpus_per_node=0).processes == 2
    with pytest.raises(ValueError, match='nodes must be at least 1, not 0'):
        Resources(nodes=0)


def test_batch_script_quotes_and_appends():
    script = batch_script('golu-GoLU_seed0', Path('/w/a b/job-%j.out'), ['--nodes=1'],
                          ['/venv/bin/python', '/r/tools/run_job.py', '/w/a b'])
    assert script.splitlines() == [
        '#!/bin/bash', '#SBATCH --job-name=golu-GoLU_seed0',
        "#SBATCH '--output=/w/a b/job-%j.out'", '#SBATCH --open-mode=append',
        '#SBATCH --nodes=1', '#SBATCH --requeue',
        "exec /venv/bin/python /r/tools/run_job.py '/w/a b'"]
    assert dependency(['1', '2'], ['3']) == 'afterok:1:2,afterany:3'
    assert dependency() is None


def test_missing_slurm_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv('PATH', str(tmp_path))
    with pytest.raises(SlurmError, match=r'needs Slurm\'s sbatch, squeue, scancel, scontrol on PATH'):
        require_slurm()


def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f'#!/bin/bash\n{body}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize('gres_column, env, expected', [
    ('(null)', {}, None), ('gpu:8', {}, '--gres=gpu:2'), ('gpu:a100:4(S:0-1)', {}, '--gres=gpu:2'),
    ('gpu:8', {'GRES': ''}, None), ('(null)', {'GRES': 'gpu:a100:2'}, '--gres=gpu:a100:2')])
def test_slurm_srun_asks_for_gpus_only_where_there_are(tmp_path, gres_column, env, expected):
    stub(tmp_path, 'sinfo', f'echo "{gres_column}"')
    stub(tmp_path, 'srun', 'printf "%s\\n" "$@"')
    result = subprocess.run(
        ['bash', str(ROOT / 'tools/slurm_train.sh'), 'part', 'job', 'cfg.py', 'work', '--amp'],
        capture_output=True, text=True, check=True,
        env={**os.environ, 'PATH': f'{tmp_path}:{os.environ["PATH"]}', 'GPUS': '2', **env})
    args = result.stdout.splitlines()
    assert [a for a in args if a.startswith('--gres')] == ([expected] if expected else [])
    assert args[:2] == ['-p', 'part'] and '--ntasks=2' in args and '--ntasks-per-node=2' in args
    assert args[-5:] == [str(ROOT / 'tools/train.py'), 'cfg.py', '--work-dir=work', '--amp',
                         '--launcher=slurm']


@pytest.mark.parametrize('limit, seconds', [
    ('90', 5400), ('5:30', 330), ('2:00:00', 7200), ('1-12', 129600), ('2-0:30', 174600),
    ('1-00:00:10', 86410), ('infinite', None), ('soon', None)])
def test_time_limits_in_seconds(limit, seconds):
    assert time_limit_seconds(limit) == seconds


def test_the_warning_must_come_before_the_limit():
    check_signal_lead(300, '1-00:00:00')
    check_signal_lead(30, None)
    with pytest.raises(ValueError, match=r'--signal-lead 600 s is not shorter than the time '
                                         r'limit --time 10 \(600 s\)'):
        check_signal_lead(600, '10')
    for lead in (0, -5, 70000):
        with pytest.raises(ValueError, match=rf'--signal-lead must be 1 to 65535 seconds, not '
                                             rf'{lead}'):
            check_signal_lead(lead, None)


def test_jobs_carry_their_run_and_ask_for_the_warning():
    script = batch_script('golu-x', Path('/w/job-%j.out'), [], ['run'], comment='golu_mm:/w/x',
                          signal_lead=120).splitlines()
    assert '#SBATCH --comment=golu_mm:/w/x' in script and '#SBATCH --signal=B:USR1@120' in script
    assert dependency(['4'], singleton=True) == 'afterok:4,singleton'


def test_a_scheduler_that_fails_is_an_error_not_an_empty_answer(tmp_path, monkeypatch):
    calls = tmp_path / 'calls'
    stub(tmp_path, 'squeue', f'echo x >> {calls}; echo "squeue: error: Socket timed out on '
                             f'send/recv operation" >&2; exit 1')
    monkeypatch.setenv('PATH', f'{tmp_path}:{os.environ["PATH"]}')
    view = query(['5'], tries=3, pause=0)
    assert view == {} and view.error == 'squeue: Socket timed out on send/recv operation'
    assert calls.read_text().count('x') == 3  # asked three times before giving up
    with pytest.raises(SlurmError, match=r'sleep did not answer within 0 s'):
        slurm_module._run(['sleep', '3'], timeout=0.2)


def test_squeue_lines_and_comments(tmp_path, monkeypatch):
    stub(tmp_path, 'squeue', 'printf "5|RUNNING|None|golu_mm:/w/a\\n6|PENDING|BeginTime|'
                             'golu_mm:/w/b\\n7|COMPLETED|None|golu_mm:/w/a\\n8|PENDING|None|'
                             '(null)\\n"')
    stub(tmp_path, 'sacct', 'echo "sacct: error: Slurm accounting storage is disabled" >&2; '
                            'exit 1')
    monkeypatch.setenv('PATH', f'{tmp_path}:{os.environ["PATH"]}')
    view = query(['5', '9'], pause=0)
    assert view == {'5': ('RUNNING', 'None'), '6': ('PENDING', 'BeginTime'),
                    '7': ('COMPLETED', 'None'), '8': ('PENDING', 'None')}
    assert view.comments == {'golu_mm:/w/a': ['5'], 'golu_mm:/w/b': ['6']}
    assert view.error is None  # no accounting is no error: job 9 is just forgotten


def test_accounting_sums_every_requeued_instance(tmp_path, monkeypatch):
    stub(tmp_path, 'sacct', 'printf "12|600|billing=4,cpu=4,gres/gpu=2,mem=8G,node=1\\n'
                            '12|300|billing=4,cpu=4,gres/gpu=2,mem=8G,node=1\\n'
                            '13|50|cpu=1,mem=1G,node=1\\n"')
    monkeypatch.setenv('PATH', f'{tmp_path}:{os.environ["PATH"]}')
    assert accounting(['12', '13']) == {'12': (900.0, 2), '13': (50.0, 0)}
    stub(tmp_path, 'sacct', 'exit 1')
    assert accounting(['12']) is None


def test_job_detail_reads_scontrols_fields(tmp_path, monkeypatch):
    stub(tmp_path, 'scontrol', 'echo "JobId=7 JobName=x JobState=COMPLETING Reason=TimeLimit '
                               'Dependency=(null) Requeue=1 Restarts=2 BatchFlag=1"')
    monkeypatch.setenv('PATH', f'{tmp_path}:{os.environ["PATH"]}')
    detail = job_detail('7')
    assert (detail['JobState'], detail['Reason'], detail['Restarts']) == (
        'COMPLETING', 'TimeLimit', '2')
