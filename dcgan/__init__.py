"""DCGAN Explorer's library: models, data, training, checkpoints, latent-space tools.

from dcgan import Generator
generator = Generator.from_pretrained("checkpoints/fashion-mnist-32")
"""

from .config import ModelConfig, RunConfig, TrainConfig
from .errors import DcganError
from .models import Discriminator, Generator

__all__ = ["DcganError", "Discriminator", "Generator", "ModelConfig", "RunConfig", "TrainConfig"]
__version__ = "0.1.0"
