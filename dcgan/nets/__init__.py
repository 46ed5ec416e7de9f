"""Networks and their building blocks: the generator and discriminator, losses, stabilisers."""
