"""What each job of a sweep runs (tools/compare_activations.py launches it, locally or as a
Slurm job): train the run in RUN_DIR as its launch.json says, resuming from its own last
checkpoint, then write its result; end.json records how it ended, attempts.json each attempt
(golu_mm.jobs.runner: a Slurm job warned of its time limit saves and requeues itself).

    python tools/run_job.py RUN_DIR
"""
import signal
import sys
from pathlib import Path

# Noted from the first instant: Slurm may warn a job of its time limit as it starts, and the
# default action of SIGUSR1 would end it while the imports below still run.
EARLY = []
for _signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
    signal.signal(_signum, lambda signum, _frame: EARLY.append(signum))

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from golu_mm.jobs.runner import run_job  # noqa: E402


def finish(run_dir):
    from golu_mm.openmmlab.sweep import finish_run_dir
    finish_run_dir(run_dir)


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(run_job(Path(sys.argv[1]), finish, EARLY))
