"""Networks and their building blocks: models, losses, stabilisers.

Each module here is small, pure and tested on its own (tests/test_nets.py); the trainer wires them in:
`losses` (hinge, relativistic pair, R1), `augment` (DiffAugment), `ema` (the averaged generator) and
`layers` (minibatch standard deviation, spectral norm for a whole network).
"""
