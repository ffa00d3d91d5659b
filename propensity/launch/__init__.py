"""How jobs are launched: devices per job, SLURM's resources and signals, the console, and the
sweep's summary."""
