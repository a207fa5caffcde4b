import sys
from pathlib import Path

import pytest

from golu_mm.analysis.run_record import start_run
from golu_mm.jobs.records import write_launch

ROOT = Path(__file__).resolve().parents[2]
FAKE_TRAIN = Path(__file__).with_name('fake_train.py')
RUN_JOB = ROOT / 'tools' / 'run_job.py'


@pytest.fixture
def make_run(tmp_path):
    """A run directory launched with the fake training: make_run(name, activation, seed,
    **job fields) -> its path."""
    def make(name, activation='GoLU', seed=0, **job):
        run = tmp_path / name
        options = [f'act_cfg.type={activation}', f'randomness.seed={seed}']
        start_run(run, {'config': 'c.py', 'activation': activation, 'seed': seed,
                        'options': options})
        write_launch(run, {'launcher': 'local', 'python': sys.executable,
                        'train_script': str(FAKE_TRAIN), 'config': 'c.py', 'options': options,
                        'finish': {'metrics': ['mIoU'], 'backbone': False,
                                   'pretrain_dir': None}, **job})
        return run
    return make
