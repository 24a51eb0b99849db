"""Training ReCo LoRAs: config, data, latent cache, losses in the loop, checkpoints."""

from .config import TrainConfig, config_from_dict, load_config
from .trainer import Models, Trainer

__all__ = ["Models", "TrainConfig", "Trainer", "config_from_dict", "load_config"]
