"""DCGAN core: models, data, training, run directories, checkpoints, latent tools and export.

Importable without Streamlit; the app in explorer/ builds on it, never the other way round.
"""
from .config import ConfigError, ModelConfig, TrainConfig

__all__ = ["ConfigError", "ModelConfig", "TrainConfig"]
