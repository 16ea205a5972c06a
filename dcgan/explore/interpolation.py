"""Interpolation between seeds (the paper's Figure 4): rows of lerp and slerp paths, what their norms say about
the difference, and the export's metadata."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dcgan.explore.explorer import Explorer
from dcgan.nets.latent import generate, lerp, sample_noise, slerp

INTERPOLATION_METHODS = ("lerp", "slerp")


@dataclass
class Interpolation:
    """Seed pairs joined by lerp and slerp (the paper's Figure 4): row i joins seed_a+i to seed_b+i; row 0's
    ends may be projected images' z (start_z/end_z, named start/end) instead. Plain data."""

    seed_a: int = 1
    seed_b: int = 2
    steps: int = 9
    rows: int = 4
    start: str = "seed"  # "seed" or the name of the projected image start_z came from
    end: str = "seed"
    start_z: list[float] | None = None
    end_z: list[float] | None = None


# ---- interpolation -------------------------------------------------------------------------------------------


def interpolation_endpoints(explorer: Explorer, interpolation: Interpolation) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, nz) start and end points: row i joins seed a+i to seed b+i; row 0's ends may be projected images."""
    rows = interpolation.rows
    starts = torch.stack(
        [sample_noise(1, explorer.nz, explorer.noise, seed=interpolation.seed_a + row)[0] for row in range(rows)]
    )
    ends = torch.stack(
        [sample_noise(1, explorer.nz, explorer.noise, seed=interpolation.seed_b + row)[0] for row in range(rows)]
    )
    for z, points in ((interpolation.start_z, starts), (interpolation.end_z, ends)):
        if z is not None and len(z) == explorer.nz:
            points[0] = torch.tensor(z)
    return starts, ends


def interpolation_paths(explorer: Explorer, interpolation: Interpolation) -> dict[str, torch.Tensor]:
    """{method: (rows, steps, nz)} for lerp and slerp."""
    starts, ends = interpolation_endpoints(explorer, interpolation)
    steps = interpolation.steps
    return {
        method: torch.stack([function(a, b, steps) for a, b in zip(starts, ends, strict=True)])
        for method, function in (("lerp", lerp), ("slerp", slerp))
    }


def interpolation_images(explorer: Explorer, method_paths: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{method: (rows, steps, nc, S, S)}, from one generator forward for both methods and every row."""
    rows, steps, nz = method_paths["lerp"].shape
    every_z = torch.cat([method_paths[method].reshape(-1, nz) for method in INTERPOLATION_METHODS])
    config = explorer.generator.config
    image_shape = (config.nc, config.image_size, config.image_size)
    images = generate(explorer.generator, every_z).reshape(len(INTERPOLATION_METHODS), rows, steps, *image_shape)
    return dict(zip(INTERPOLATION_METHODS, images, strict=True))


def path_norms(method_paths: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{method: (rows, steps) ||z||}: lerp's dips in the middle (through the low-density inside of the shell
    where Gaussian z lives), slerp's stays on it."""
    return {method: method_paths[method].norm(dim=2) for method in INTERPOLATION_METHODS}


def path_contrast(method_images: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{method: (steps,)} each frame's contrast, the standard deviation of its pixels, averaged over the rows:
    what "lerp's middle images are washed out" means, as a number per frame."""
    return {method: images.flatten(2).std(dim=2).mean(dim=0) for method, images in method_images.items()}


def describe_contrast(contrast: dict[str, torch.Tensor]) -> str:
    """A markdown table: the contrast of every frame for lerp and slerp, and the middle frame's against the ends'."""
    steps = len(contrast["lerp"])
    header = "| contrast (pixel std) | " + " | ".join(f"t={t:.2f}" for t in torch.linspace(0, 1, steps).tolist())
    lines = [header + " |", "|---" * (steps + 1) + "|"]
    for method in INTERPOLATION_METHODS:
        lines.append(f"| {method} | " + " | ".join(f"{value:.2f}" for value in contrast[method].tolist()) + " |")
    middle = steps // 2
    changes = {
        method: 100 * (float(values[middle]) / float((values[0] + values[-1]) / 2) - 1)
        for method, values in contrast.items()
    }
    summary = ", ".join(f"{method} {change:+.0f}%" for method, change in changes.items())
    return "\n".join(lines) + f"\n\nThe middle frame's contrast against the ends': {summary}."


def typical_norm(explorer: Explorer) -> float:
    """||z|| of a typical sample: sqrt(nz) for N(0, 1), sqrt(nz / 3) for U(-1, 1)."""
    return math.sqrt(explorer.nz if explorer.noise == "normal" else explorer.nz / 3)


def describe_interpolation(interpolation: Interpolation) -> str:
    """What the rows join (markdown): the app's caption, and the exports' "top_row"."""
    start = interpolation.start if interpolation.start_z is not None else f"seed {interpolation.seed_a}"
    end = interpolation.end if interpolation.end_z is not None else f"seed {interpolation.seed_b}"
    seeds = f"{interpolation.seed_a}+i -> {interpolation.seed_b}+i"
    more = f"; rows below: seeds {seeds}" if interpolation.rows > 1 else ""
    return f"Top row: **{start} -> {end}**{more}. Same endpoints, different paths: look at the middle columns."


def interpolation_export_scale(explorer: Explorer) -> int:
    """Exported strips are upscaled so a 32 px model's are not postage stamps."""
    return max(1, 64 // explorer.image_size)


def interpolation_metadata(explorer: Explorer, interpolation: Interpolation, method: str) -> dict[str, object]:
    """What an exported strip carries (PNG text chunks, GIF comment)."""
    return {
        "model": explorer.name,
        "method": method,
        "seeds": f"{interpolation.seed_a}+i -> {interpolation.seed_b}+i for i < {interpolation.rows}",
        "top_row": describe_interpolation(interpolation),
        "steps": interpolation.steps,
        "rows": interpolation.rows,
    }
