"""What an import shows of itself: a preview grid, two health numbers, and a model card.

A generator imported with the wrong geometry or activation still runs; its samples give it away.
So every import draws 64 samples from seed 0 into preview.png and measures them: the output's
standard deviation (near 0: a flat grey image) and the share of pixels saturated at +-1 (near 1:
blown-out black and white). The card records where the weights came from and how to redo it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dcgan.images import grid_image, save_png
from dcgan.interop.layer_spec import config_spec
from dcgan.nets.config import ModelConfig
from dcgan.nets.latent import generate, sample_noise
from dcgan.nets.models import Generator

PREVIEW_FILE = "preview.png"
PREVIEW_SEED = 0
SATURATED = 0.99  # |x| above this counts as saturated: tanh is within 1% of its limit


@dataclass(frozen=True)
class Health:
    output_std: float
    saturated: float  # share of output values with |x| > SATURATED

    def describe(self) -> str:
        return f"output std {self.output_std:.3f}, {self.saturated:.1%} of pixels saturated at +-1"


def preview_health(generator: Generator, folder: Path) -> tuple[Path, Health]:
    """Write folder/preview.png (an 8x8 grid, seed 0) and measure those samples."""
    config = generator.config
    images = generate(generator, sample_noise(64, config.nz, config.noise, seed=PREVIEW_SEED))
    health = Health(images.std().item(), (images.abs() > SATURATED).float().mean().item())
    scale = max(1, 64 // config.image_size)
    path = folder / PREVIEW_FILE
    save_png(grid_image(images, nrow=8, scale=scale), path, {"seed": str(PREVIEW_SEED), "n": "64"})
    return path, health


def import_card(source_name: str, sha256: str, config: ModelConfig, flags: str, health: Health) -> str:
    """README.md of an imported model: its source file, how it was read, and its preview."""
    size = config.image_size
    dense = config.dense
    activation = config.activation + (f" (slope {config.leaky_slope:g})" if config.activation == "leakyrelu" else "")
    lines = [
        f"# Imported generator: {source_name}",
        "",
        f"A DCGAN generator imported from another project's weights: {size}x{size}x{config.nc} images from z "
        f"of {config.nz} dims ({config.noise} noise).",
        "",
        f"- source file: `{source_name}`, sha256 `{sha256}`",
        f"- imported with: `python -m dcgan import {source_name} OUT {flags}`",
    ]
    if dense:
        batchnorm = {"none": "", "1d": ", BatchNorm1d", "2d": ", BatchNorm2d after the reshape"}[dense["batchnorm"]]
        lines.append(
            f"- dense layer: Linear({config.nz} -> {dense['out_channels']}x{dense['size']}x{dense['size']})"
            f"{batchnorm}, then {dense['activation']}"
        )
    lines += [
        f"- ConvTranspose2d layers (kernel, stride, padding, output_padding): `{config_spec(config.layers)}`",
        f"- activation: {activation} between layers, tanh at the output",
        f"- preview (64 samples, seed {PREVIEW_SEED}): {health.describe()}",
        "",
        f"![64 samples, seed {PREVIEW_SEED}]({PREVIEW_FILE})",
        "",
    ]
    return "\n".join(lines)
