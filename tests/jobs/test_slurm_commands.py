"""What is handed to Slurm: sbatch options from the resources, the batch script, the missing
commands named; tools/slurm_srun.sh asks for GPUs only where the partition has them (stub
sinfo and srun; the real cluster runs in tests/cluster)."""
import os
import stat
import subprocess
from pathlib import Path

import pytest

from golu_mm.jobs.slurm import Resources, SlurmError, batch_script, dependency, require_slurm

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
