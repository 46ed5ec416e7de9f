"""Runs on disk: the run directory, checkpoints and exported generators, import, model cards."""
