"""What launches runs: the jobs, the schedules and the sensors (scoring, retraining, landing zone)."""
