"""What a run's loss curves need said beside them, read from its config: the app's charts and notes."""
from __future__ import annotations

from ..config import TrainConfig
from ..nets.losses import gan_loss


def losses_mirrored(cfg: TrainConfig) -> bool:
    """Whether D's and G's losses are one quantity seen from both sides (a paired, relativistic loss:
    softplus(f - r) and softplus(r - f)): on one axis the two curves lie on top of each other."""
    return gan_loss(cfg.gan_loss).paired


def loss_notes(cfg: TrainConfig) -> list[str]:
    """The reading notes a loss chart of this run needs, one sentence each (none for a plain run)."""
    notes = []
    if losses_mirrored(cfg):
        notes.append("D's and G's losses are mirror images under the relativistic loss (G's is D's with real and "
                     "fake swapped), so both hover near log 2 ≈ 0.69 while neither wins: they get a panel each.")
    if cfg.r1_gamma > 0 and cfg.r1_every > 1:
        notes.append(f"The saw-tooth in D's loss is lazy R1 regularisation: D's gradient penalty is added every "
                     f"{cfg.r1_every} steps (r1_every), scaled by {cfg.r1_every}, so D's loss jumps on those "
                     "steps; the smoothed curve is the one to read.")
    return notes
