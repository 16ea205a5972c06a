"""Small data the tests make themselves."""

from types import SimpleNamespace

import numpy as np
import torch
from torch import nn


def blob_images(count: int, size: int = 28, seed: int = 0) -> np.ndarray:
    """(count, size, size) uint8: a bright square at a random place on black, plus a little noise.

    Simple enough that a tiny GAN learns something in a few steps, varied enough to be data.
    """
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 30, (count, size, size), dtype=np.uint8)
    for image in images:
        top, left = rng.integers(2, size - 10, 2)
        image[top : top + 8, left : left + 8] = 255
    return images


class ZShownAsPixels(nn.Module):
    """A stand-in generator: G(z) = z itself as a 1x1 'image' of nz channels, so that a stand-in judge reads z."""

    def __init__(self, nz: int = 8):
        super().__init__()
        self.config = SimpleNamespace(nz=nz)
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z[:, :, None, None]
