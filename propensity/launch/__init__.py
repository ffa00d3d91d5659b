"""How jobs are launched: devices per job, the console, and the sweep's summary."""
