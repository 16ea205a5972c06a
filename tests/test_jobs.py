"""The server's background training job: streams, controls, one at a time, warnings."""

import pytest
import torch
from helpers import blob_images

from dcgan.config import ModelConfig, TrainConfig
from dcgan.data import ImageDataset
from dcgan.errors import DcganError
from dcgan.jobs import JobManager, grid_diversity, wait_until
from dcgan.train import Trainer

TINY = ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8)


def blobs() -> ImageDataset:
    pixels = torch.from_numpy(blob_images(64, size=32)).float()
    return ImageDataset(pixels[:, None] / 127.5 - 1, None, None, "blobs")


def trainer(run_dir, steps=12, sample_every=3):
    train = TrainConfig(data="blobs", steps=steps, batch_size=16, sample_every=sample_every, n_fixed=16)
    return lambda: Trainer(TINY, train, run_dir, dataset=blobs())


def test_a_job_streams_curves_and_grids_and_ends_done(tmp_path):
    manager = JobManager()
    job = manager.start(trainer(tmp_path / "run"), "blobs")
    assert job.wait(timeout=120)
    snapshot = manager.snapshot()
    assert snapshot.status == "done" and snapshot.step == snapshot.total_steps == 12
    assert [row["step"] for row in snapshot.metrics] == list(range(1, 13))
    assert [step for step, _ in snapshot.grids] == [3, 6, 9, 12]
    assert all((tmp_path / "run" / "samples").joinpath(path.split("/")[-1]).is_file() for _, path in snapshot.grids)
    assert snapshot.progress_gif.endswith("progress.gif") and snapshot.eta_s is None


def test_one_job_at_a_time_and_stop_keeps_a_checkpoint(tmp_path):
    manager = JobManager()
    job = manager.start(trainer(tmp_path / "long", steps=100000, sample_every=1000), "long")
    try:
        with pytest.raises(DcganError, match="already running.*one job at a time"):
            manager.start(trainer(tmp_path / "second"), "second")
        assert wait_until(lambda: job.snapshot().step >= 3, timeout=60)
        job.pause()
        assert wait_until(lambda: job.snapshot().status == "paused", timeout=30)
        paused_at = job.snapshot().step
        assert not wait_until(lambda: job.snapshot().step > paused_at + 1, timeout=0.5)  # it really waits
        job.resume()
        assert wait_until(lambda: job.snapshot().step > paused_at + 1, timeout=30)
    finally:
        job.stop()
    assert job.wait(timeout=60)
    assert job.snapshot().status == "stopped" and (tmp_path / "long" / "training_state.safetensors").is_file()
    manager.start(trainer(tmp_path / "after"), "after").wait(timeout=120)  # a finished job frees the server
    assert manager.snapshot().name == "after"


def test_collapse_warning_when_every_fixed_sample_is_one_class(tmp_path):
    def always_class_3(images):
        logits = torch.zeros(len(images), 10)
        logits[:, 3] = 5.0
        return logits

    manager = JobManager()
    names = [f"class {i}" for i in range(10)]
    job = manager.start(trainer(tmp_path / "run", steps=30), "blobs", classify=always_class_3, class_names=names)
    job.wait(timeout=120)
    warnings = job.snapshot().warnings
    assert any("100% of the fixed samples are class 3" in w for w in warnings)
    early = [int(w.split(":")[0].split()[1]) for w in warnings if "class 3" in w]
    assert min(early) >= 6  # nothing in the first 20% of the run, when every sample is noise


def test_grid_diversity():
    same = torch.ones(5, 1, 8, 8)
    assert grid_diversity(same) == 0.0
    varied = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert grid_diversity(varied) > 0.2
