"""Start the app in this process on a free 127.0.0.1 port, with a tiny model the test makes itself."""

from __future__ import annotations

import socket
from contextlib import contextmanager
from pathlib import Path

import torch

from dcgan.nets.config import ModelConfig, RunConfig, TrainConfig
from dcgan.nets.models import Discriminator, Generator
from dcgan.store.checkpoints import save_model_folder

# Small enough to build and rank in well under a second; nz 16 still gives 8 dimension sliders and 10 directions.
TINY = ModelConfig(image_size=32, nc=1, nz=16, ngf=8, ndf=8)


def tiny_model_folder(folder: Path, seed: int = 0) -> Path:
    """A seeded, untrained generator and discriminator in our folder format (config.json + safetensors).

    Its conv weights are N(0, 0.2), ten times the paper's init: an untrained generator with the
    paper's init draws an almost uniform grey, and the tests need seeds and sliders to show.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator, discriminator = Generator(TINY), Discriminator(TINY)
        with torch.no_grad():
            for layer in generator.modules():
                if isinstance(layer, torch.nn.ConvTranspose2d):
                    layer.weight.normal_(0.0, 0.2)
    return save_model_folder(folder, generator, RunConfig(TINY, TrainConfig(steps=20)), discriminator)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_app(root: Path, **build_options):
    """Yields the app's URL; the model is shipped as checkpoints/tiny-fashion under `root`.
    `build_options` go to build_app (e.g. limits=HostLimits(...))."""
    from dcgan.ui import build_app, launch

    tiny_model_folder(root / "checkpoints" / "tiny-fashion")
    demo = build_app(root / "checkpoints", root / "runs", root / "uploads", warm_default=False, **build_options)
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
