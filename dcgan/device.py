"""Picks the device and thread count once, so every entry point agrees."""

from __future__ import annotations

import os

import torch


def pick_device(requested: str | None = None) -> torch.device:
    """CUDA when available (or when asked for), else CPU. `requested` may be 'cpu', 'cuda', 'cuda:1'."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_threads() -> int:
    """Use every core for intra-op work; one thread per core is fastest for convs here.

    Respects OMP_NUM_THREADS when the user set it. Returns the thread count in use.
    """
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    return torch.get_num_threads()


def configure(device: torch.device) -> None:
    """Per-device speed settings: on CUDA, let cuDNN pick the fastest conv algorithms for our fixed
    shapes (the first steps are slower while it searches). Nothing to do on the CPU."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
