"""The latent space: noise, paths between points (lerp/slerp).

Noise is always drawn on the CPU from an explicit seed or torch.Generator and moved
afterwards, so a seed means the same z, and the same image, on any device.
"""

from __future__ import annotations

import torch


def cpu_generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed))


def sample_noise(
    n: int,
    nz: int,
    distribution: str = "normal",
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """z of shape (n, nz) on the CPU. Row 0 of seed S is the z of seed S alone.

    normal: N(0, 1) (the paper's recipe); uniform: U(-1, 1) (the paper's original code).
    """
    if generator is None:
        if seed is None:
            raise ValueError("sample_noise needs a seed or a torch.Generator")
        generator = cpu_generator(seed)
    # Row by row: torch draws a (n, nz) block in a different order than n rows of nz, and
    # a seed must mean the same z whether it is drawn alone or as the first of a batch.
    if distribution == "normal":
        rows = [torch.randn(nz, generator=generator) for _ in range(n)]
    elif distribution == "uniform":
        rows = [torch.rand(nz, generator=generator) * 2 - 1 for _ in range(n)]
    else:
        raise ValueError(f"unknown noise distribution {distribution!r}")
    return torch.stack(rows) if rows else torch.empty(0, nz)


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """(steps, nz): straight line from z0 to z1, both ends included."""
    t = torch.linspace(0, 1, steps, dtype=z0.dtype).unsqueeze(1)
    return (1 - t) * z0.reshape(1, -1) + t * z1.reshape(1, -1)


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """(steps, nz): along the great circle, with the norm interpolated linearly.

    Gaussian z lives near a sphere of radius sqrt(nz); a straight line cuts through its
    low-density inside (the midpoint's norm drops by ~1/sqrt(2)), slerp stays near the shell.
    """
    a, b = z0.reshape(-1).double(), z1.reshape(-1).double()
    norm_a, norm_b = a.norm(), b.norm()
    cos_omega = torch.clamp(torch.dot(a / norm_a, b / norm_b), -1.0, 1.0)
    omega = torch.arccos(cos_omega)
    t = torch.linspace(0, 1, steps, dtype=torch.float64).unsqueeze(1)
    if omega.abs() < 1e-6:  # (nearly) the same direction: slerp degenerates to lerp
        return lerp(z0, z1, steps)
    unit_path = (torch.sin((1 - t) * omega) * (a / norm_a) + torch.sin(t * omega) * (b / norm_b)) / torch.sin(omega)
    norms = (1 - t) * norm_a + t * norm_b
    path = unit_path / unit_path.norm(dim=1, keepdim=True) * norms
    return path.to(z0.dtype)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, method: str = "slerp") -> torch.Tensor:
    if method == "lerp":
        return lerp(z0, z1, steps)
    if method == "slerp":
        return slerp(z0, z1, steps)
    raise ValueError(f"method must be 'lerp' or 'slerp', got {method!r}")


@torch.inference_mode()
def generate(generator: torch.nn.Module, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Images (N, nc, S, S) in [-1, 1] on the CPU for z (N, nz), with G in eval mode."""
    generator.eval()
    device = next(generator.parameters()).device
    chunks = [generator(part.to(device)).float().cpu() for part in z.split(batch_size)]
    return torch.cat(chunks)
