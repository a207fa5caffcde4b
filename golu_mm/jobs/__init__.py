"""A sweep's runs as jobs, on this machine or on a Slurm cluster. Each run directory holds what
defines the run (run.json, analysis.run_record) and its job records (records.py: launch.json,
what the next job runs; job.json, who runs it; end.json, how it ended); a run's state
(state.py) is read from those and from the scheduler. The job itself is tools/run_job.py
(runner.py): train, resuming from the run's own last checkpoint, then finish. local.py runs
jobs N at a time on this machine; slurm.py submits them with sbatch."""
