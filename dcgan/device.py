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


BACKGROUND_NICENESS = 10


def lower_thread_priority(niceness: int = BACKGROUND_NICENESS) -> bool:
    """Make the calling thread a background thread for the OS scheduler (Linux: nice is per thread).

    Threads it starts afterwards inherit it, and that includes the OpenMP workers torch's ops start
    from this thread: a training job niced this way leaves the CPU to the app's requests when they
    want it (bench/ui_latency.py --while-training). False where the OS doesn't allow it.
    """
    import threading

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        return False
    return True
