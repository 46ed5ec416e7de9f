"""Training: the step, the loop, learning-rate balancing, resume, torchrun, the launcher, fault points."""
