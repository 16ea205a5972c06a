"""Differentiable augmentation of what D sees (DiffAugment, Zhao et al. 2020, "Differentiable Augmentation
for Data-Efficient GAN Training").

On a few thousand images D soon memorises the real set; its verdicts then tell G nothing and training
falls apart. DiffAugment changes every image D sees, real and generated alike, in the D step and in the
G step, with operations G's gradient flows through. D can no longer memorise the exact training images,
and G is not pushed to draw the changes (they are applied to both sides).

The policy is a comma-separated list of:
    color        random brightness (±0.5), saturation (x0-2) and contrast (x0.5-1.5), per image
    translation  shift by up to 1/8 of the side, per image; the gap is filled with 0 (mid grey in [-1, 1])
    cutout       a square of half the side, at a random place, set to 0

Randomness is drawn apart from the images (`draw`) from a seeded CPU generator, for the global batch, so a
run is reproducible, resumes exactly and is the same on any number of processes (each takes its slice).
"""

from __future__ import annotations

import torch

from dcgan.nets.config import POLICIES  # named there, so that checking a config needs no training code

OPERATIONS = ("color", "translation", "cutout")
TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2

__all__ = ["OPERATIONS", "POLICIES", "apply", "draw", "parse_policy"]


def parse_policy(policy: str) -> tuple[str, ...]:
    """("color", "translation", ...) from "color,translation"; () from "off" or ""."""
    if policy in ("", "off"):
        return ()
    names = tuple(name.strip() for name in policy.split(","))
    unknown = [name for name in names if name not in OPERATIONS]
    if unknown:
        raise ValueError(f"unknown DiffAugment operation(s) {unknown}: choose from {', '.join(OPERATIONS)}")
    return names


def draw(policy: str, count: int, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The random parameters for `count` images of side `size`: one row per image, so slicing the rows
    gives a process its share of a global batch."""
    params: dict[str, torch.Tensor] = {}
    operations = parse_policy(policy)
    if "color" in operations:
        params["color"] = torch.rand(count, 3, generator=generator)  # brightness, saturation, contrast
    if "translation" in operations:
        reach = int(size * TRANSLATION_RATIO + 0.5)
        params["translation"] = torch.randint(-reach, reach + 1, (count, 2), generator=generator)
    if "cutout" in operations:
        params["cutout"] = torch.randint(0, size + 1, (count, 2), generator=generator)  # square centres
    return params


def apply(images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """`images` (N, C, H, W) in [-1, 1], changed as `params` (from `draw`) say; differentiable in `images`."""
    if "color" in params:
        images = _color(images, params["color"].to(images.device, images.dtype))
    if "translation" in params:
        images = _translate(images, params["translation"].to(images.device))
    if "cutout" in params:
        images = _cutout(images, params["cutout"].to(images.device))
    return images


def _color(images: torch.Tensor, amounts: torch.Tensor) -> torch.Tensor:
    count = images.shape[0]
    brightness, saturation, contrast = (amounts[:, i].view(count, 1, 1, 1) for i in range(3))
    images = images + (brightness - 0.5)
    if images.shape[1] > 1:  # saturation: away from or towards each pixel's grey
        grey = images.mean(dim=1, keepdim=True)
        images = (images - grey) * (saturation * 2) + grey
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * (contrast + 0.5) + mean


def _translate(images: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Shift each image by its (dy, dx), zeros in the gap: gather rows then columns from a padded copy."""
    count, channels, height, width = images.shape
    reach = int(shifts.abs().max().item()) if shifts.numel() else 0
    if reach == 0:
        return images
    padded = torch.nn.functional.pad(images, (reach,) * 4)
    rows = (reach - shifts[:, 0, None] + torch.arange(height, device=images.device)).view(count, 1, height, 1)
    padded = padded.gather(2, rows.expand(count, channels, height, padded.shape[-1]))
    cols = (reach - shifts[:, 1, None] + torch.arange(width, device=images.device)).view(count, 1, 1, width)
    return padded.gather(3, cols.expand(count, channels, height, width))


def _cutout(images: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Zero a square of side size * CUTOUT_RATIO centred at each image's (y, x) (clipped at the edges)."""
    count, _, height, width = images.shape
    half = int(height * CUTOUT_RATIO + 0.5) // 2
    ys = torch.arange(height, device=images.device).view(1, height, 1)
    xs = torch.arange(width, device=images.device).view(1, 1, width)
    centre_y, centre_x = centres[:, 0].view(count, 1, 1), centres[:, 1].view(count, 1, 1)
    inside = ((ys >= centre_y - half) & (ys < centre_y + half)) & ((xs >= centre_x - half) & (xs < centre_x + half))
    return images * (~inside).unsqueeze(1).to(images.dtype)
