"""What every dataset loader shares: the dataset type, the cache folder, the argument checks.

Its own module so that dcgan/data/emoji.py can use it without importing dcgan/data/, which imports
emoji (the registry of datasets by name); data.py re-exports these names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from dcgan.errors import DcganError


@dataclass
class ImageDataset:
    images: torch.Tensor  # (N, C, H, W) float32 in [-1, 1], contiguous
    labels: torch.Tensor | None  # (N,) int64
    class_names: list[str] | None
    name: str  # "fashion-mnist", "mnist" or the folder path

    def __len__(self) -> int:
        return self.images.shape[0]


def cache_dir() -> Path:
    """Where downloads go: $DCGAN_CACHE if set, else ~/.cache/dcgan-explorer."""
    configured = os.environ.get("DCGAN_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "dcgan-explorer"


def check_load_arguments(image_size: int, channels: int | None, limit: int | None) -> None:
    """The checks every dataset loader makes on its common arguments."""
    if not isinstance(image_size, int) or image_size < 1:
        raise DcganError(f"image_size must be a positive whole number, not {image_size!r}")
    if channels not in (None, 1, 3):
        raise DcganError(f"channels must be 1 (grey) or 3 (RGB), not {channels}")
    if limit is not None and limit < 1:
        raise DcganError(f"limit must be at least 1, not {limit}")
