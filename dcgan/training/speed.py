"""How fast this machine trains a given DCGAN, measured: a few steps on random images.

A speed quoted from another machine (or from this one on a quieter day) misleads, and scaling one
measurement to other widths by their FLOPs was off by 2x here (small nets are bound by overheads, not
arithmetic), so the Train tab measures the settings it is given, on the machine it runs on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from dcgan.data.dataset import ImageDataset
from dcgan.nets.config import ModelConfig, TrainConfig
from dcgan.training.trainer import Trainer

WARMUP_STEPS = 2  # the first steps pay for allocations and thread start-up: not timed
TIMED_STEPS = 4


@dataclass(frozen=True)
class Measurement:
    model: ModelConfig
    batch_size: int
    images_per_s: float
    measured_at: str  # local date and time, for the sentence that quotes it


def measure(model: ModelConfig, batch_size: int, steps: int = TIMED_STEPS, warmup: int = WARMUP_STEPS) -> Measurement:
    """Train `warmup + steps` steps on random images (nothing written to disk) and time the last `steps`."""
    noise = torch.Generator().manual_seed(0)
    pixels = torch.rand((batch_size, model.nc, model.image_size, model.image_size), generator=noise) * 2 - 1
    dataset = ImageDataset(pixels, None, None, "speed-test")
    train = TrainConfig(data="speed-test", steps=warmup + steps, batch_size=batch_size, sample_every=10**9)
    trainer = Trainer(model, train, "speed-test", dataset=dataset, write=False)
    times = {}
    for event in trainer.run():
        if event.kind == "step" and event.step in (warmup, warmup + steps):
            times[event.step] = time.perf_counter()
    seconds = times[warmup + steps] - times[warmup]
    return Measurement(model, batch_size, steps * batch_size / seconds, time.strftime("%Y-%m-%d %H:%M"))


def describe(measurement: Measurement, images: int, epochs: int) -> str:
    """ "~N min an epoch" in words, for `images` training images."""
    minutes = images / measurement.images_per_s / 60
    return (
        f"{measurement.images_per_s:.0f} images/s with these settings, measured on this server at "
        f"{measurement.measured_at}: about {minutes:.1f} min an epoch of {images:,} images, "
        f"{minutes * epochs:.0f} min for {epochs} epochs (more while others use the server)"
    )
