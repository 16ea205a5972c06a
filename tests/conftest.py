"""Shared fixtures: tiny data on disk, made by the tests themselves (no network, no dataset needed).

Also how the suite shares the machine when pytest-xdist runs it in two workers (pyproject's addopts):
- each worker's torch (and the subprocesses it starts) uses one thread, so two workers don't fight for two cores;
- each test file is one xdist group: a file's module-scoped fixtures (an app server, a training run) are made once;
- tests marked `alone` (they measure a server's latency) run while the other worker waits between its tests.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from helpers import blob_images

from dcgan.data import write_idx

WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:
    os.environ["OMP_NUM_THREADS"] = "1"  # dcgan.device.set_threads respects it; so do the CLI's subprocesses
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def idx_folder(tmp_path):
    """A folder of MNIST-layout IDX files with 256 train and 64 test images."""
    folder = tmp_path / "idx"
    folder.mkdir()
    for split, count in (("train", 256), ("t10k", 64)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", blob_images(count, seed=count))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", (np.arange(count) % 10).astype(np.uint8))
    return folder


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def _lock_files(config) -> tuple[Path, Path] | None:
    """Two lock files shared by the workers of one run (xdist gives them the run's uid), or None without xdist."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not WORKER or not run:
        return None
    folder = Path(config._tmp_path_factory.getbasetemp()).parent
    return folder / f"alone-{run}.gate", folder / f"alone-{run}.lock"


@contextmanager
def _locked(path: Path, mode: int):
    with open(path, "a") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Every test holds the lock shared; an `alone` test holds it exclusively (its setup and teardown too).
    The gate keeps the shared holders from starving a waiting `alone` test: each test passes it first."""
    files = _lock_files(item.config)
    if files is None:
        yield
        return
    gate, lock = files
    if item.get_closest_marker("alone"):
        with _locked(gate, fcntl.LOCK_EX), _locked(lock, fcntl.LOCK_EX):
            yield
    else:
        with _locked(gate, fcntl.LOCK_EX):
            fcntl_handle = open(lock, "a")
            fcntl.flock(fcntl_handle, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fcntl_handle, fcntl.LOCK_UN)
            fcntl_handle.close()
