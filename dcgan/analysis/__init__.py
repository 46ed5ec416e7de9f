"""Analysing a generator: directions (SeFa, labelled, local), sensitivity, what D believes, and the views the CLI and app show."""
