"""A sweep's runs as jobs, on this machine or on a Slurm cluster. Each run directory holds what
defines the run (run.json, analysis.run_record), its job record (job.json: where and how it was
launched, written by the sweep) and its end record (end.json, written by the job as it ends);
a run's state (state.py) is read from those and from the scheduler. The job itself is
tools/run_job.py (runner.py): train, resuming from the run's own last checkpoint, then finish.
local.py runs jobs N at a time on this machine; slurm.py submits them with sbatch."""
