"""What each job of a sweep runs (tools/compare_activations.py launches it, locally or as a
Slurm job): train the run in RUN_DIR as its job.json says, resuming from its own last
checkpoint, then write its result; end.json records how it ended.

    python tools/run_job.py RUN_DIR
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from golu_mm.jobs.runner import run_job  # noqa: E402


def finish(run_dir):
    from golu_mm.openmmlab.sweep import finish_run_dir
    finish_run_dir(run_dir)


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(run_job(Path(sys.argv[1]), finish))
