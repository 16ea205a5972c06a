"""Shared fixtures: tiny data on disk, made by the tests themselves (no network, no dataset needed)."""

import numpy as np
import pytest
from helpers import blob_images

from dcgan.data.idx import write_idx


@pytest.fixture
def idx_folder(tmp_path):
    """A folder of MNIST-layout IDX files with 256 train and 64 test images."""
    folder = tmp_path / "idx"
    folder.mkdir()
    for split, count in (("train", 256), ("t10k", 64)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", blob_images(count, seed=count))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", (np.arange(count) % 10).astype(np.uint8))
    return folder
