"""DCGAN Explorer's library: models, data, training, checkpoints, latent-space tools.

from dcgan import Generator
generator = Generator.from_pretrained("checkpoints/fashion-mnist-32")

The subpackages, lowest layer first (each imports only from layers below it; tests/test_imports.py checks):
the base modules here (errors, device, io_utils, images), data/, nets/, store/, interop/, quality/,
training/, explore/, serve/, ui/ and cli/. ARCHITECTURE.md says what each holds.
"""

from dcgan.errors import DcganError
from dcgan.nets.config import ModelConfig, RunConfig, TrainConfig
from dcgan.nets.models import Discriminator, Generator
from dcgan.store import pretrained

pretrained.attach()  # Generator.from_pretrained / save_pretrained (they read and write model folders: store/)

__all__ = ["DcganError", "Discriminator", "Generator", "ModelConfig", "RunConfig", "TrainConfig"]
__version__ = "0.1.0"
