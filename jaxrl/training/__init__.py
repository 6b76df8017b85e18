"""The host session: assembly from a config, the population, the loop, devices, processes,
checkpoints, run dirs, stopping, evaluation."""
