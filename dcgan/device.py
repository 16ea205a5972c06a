"""Picks the device and thread count once, so every entry point agrees."""

from __future__ import annotations

import os
import threading

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


BACKGROUND_NICENESS = 19


def lower_thread_priority() -> str | None:
    """Make the calling thread a background thread for the OS scheduler; returns how ('idle', 'nice')
    or None where the OS allows neither.

    Linux's SCHED_IDLE runs the thread only on CPU time nothing else wants (nice 19 is the fallback;
    both are per thread there). Threads it starts afterwards inherit it, and that includes the OpenMP
    workers torch's ops start from this thread: a training job lowered this way leaves the cores to the
    visitors' requests and their browser when they want them, and loses nothing when nobody does
    (bench/ui_latency.py --while-training).
    """
    thread = threading.get_native_id()
    try:
        os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
        return "idle"
    except (AttributeError, OSError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, thread, BACKGROUND_NICENESS)
    except (AttributeError, OSError):
        return None
    return "nice"
