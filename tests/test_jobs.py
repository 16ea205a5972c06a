"""The server's background training job: streams, controls, one at a time, warnings."""

from pathlib import Path

import pytest
import torch
from helpers import blob_images

from dcgan.data.dataset import ImageDataset
from dcgan.errors import DcganError
from dcgan.nets.config import ModelConfig, TrainConfig
from dcgan.serve.jobs import JobBudget, JobManager, grid_diversity, wait_until
from dcgan.training.trainer import Trainer

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


def test_collapse_warning_when_every_z_draws_the_same_image(tmp_path):
    """A deliberately collapsed run: G's first layer, the only one z enters, is zeroed and frozen, so every z
    draws the same image while the rest of G trains. Its grids were never diverse, so only the comparison
    with the training images' own diversity can catch it."""
    make = trainer(tmp_path / "run", steps=30)

    def collapsed():
        run = make()
        first = run.generator.blocks[0][0]  # ConvTranspose2d from z (nz x 1 x 1) to 4 x 4
        first.weight.data.zero_()
        first.weight.requires_grad_(False)
        return run

    job = JobManager().start(collapsed, "collapsed")
    job.wait(timeout=120)
    snapshot = job.snapshot()
    look_alike = [w for w in snapshot.warnings if "the fixed samples look alike, 0% as diverse" in w]
    assert look_alike and snapshot.status == "done"
    assert min(int(w.split(":")[0].split()[1]) for w in look_alike) >= 6  # not in the first 20% of the run
    assert job.data_diversity == pytest.approx(grid_diversity(blobs().images[:16]))


def test_grid_diversity():
    same = torch.ones(5, 1, 8, 8)
    assert grid_diversity(same) == 0.0
    varied = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert grid_diversity(varied) > 0.2


# ---- ownership and the host's budget ----


class FakeClock:
    """A clock the test moves by hand: the watchdog's minutes pass in no time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_only_the_owner_or_the_host_controls_a_job(tmp_path):
    manager = JobManager()
    job = manager.start(trainer(tmp_path / "run", steps=100000, sample_every=1000), "long", owner_key="alice-key")
    try:
        for action in ("pause", "resume", "stop"):
            for stranger in (None, "", "mallory-key", "alice-key" + "x", 42):
                with pytest.raises(DcganError, match="started by another visitor: you can watch it"):
                    manager.control(action, stranger)
        assert not job.trainer.paused and not job.trainer.stop_requested
        assert manager.snapshot("alice-key").yours and not manager.snapshot("bob-key").yours
        assert manager.snapshot(None).owned
        assert "alice-key" not in repr(manager.snapshot("alice-key")) + repr(job)  # only its hash is kept
        manager.control("pause", "alice-key")
        assert job.trainer.paused
        manager.control("resume", None, as_host=True)
        assert not job.trainer.paused
    finally:
        manager.control("stop", "alice-key")
    assert job.wait(timeout=60) and job.snapshot().status == "stopped"
    with pytest.raises(DcganError, match="no training job is running"):
        manager.control("stop", "alice-key")


def test_a_job_without_an_owner_is_the_hosts_alone(tmp_path):
    manager = JobManager()
    job = manager.start(trainer(tmp_path / "run", steps=100000, sample_every=1000), "server's")
    try:
        with pytest.raises(DcganError, match="another visitor"):
            manager.control("stop", "any-key")
        assert not manager.snapshot("any-key").yours and not manager.snapshot().owned
    finally:
        manager.control("stop", as_host=True)
    assert job.wait(timeout=60) and job.snapshot().status == "stopped"


def test_too_many_steps_are_refused_before_the_trainer_is_started(tmp_path):
    budget = JobBudget(max_steps=50)
    with pytest.raises(
        DcganError, match=r"60 training steps \(6 epochs x 10\).*at most 50 steps.*python -m dcgan train"
    ):
        budget.check_steps(60, "6 epochs x 10")
    budget.check_steps(50)
    JobBudget(max_steps=0).check_steps(10**9)  # 0: no limit
    manager = JobManager()
    with pytest.raises(DcganError, match="at most 50 steps"):
        manager.start(trainer(tmp_path / "run", steps=51), "too long", budget=budget)  # the trainer's own count
    assert manager.job is None and not (tmp_path / "run").exists()


def test_a_job_over_its_time_budget_stops_itself_with_a_checkpoint(tmp_path):
    clock = FakeClock()
    manager = JobManager()
    budget = JobBudget(max_minutes=30)
    job = manager.start(
        trainer(tmp_path / "run", steps=100000, sample_every=1000),
        "long",
        budget=budget,
        clock=clock,
        watch_every_s=0.01,
    )
    assert wait_until(lambda: job.snapshot().step >= 2, timeout=60)
    assert not job.finished and 29 * 60 < job.snapshot().ends_in_s <= 30 * 60
    clock.now += 30 * 60  # half an hour later
    assert job.wait(timeout=60)
    snapshot = job.snapshot()
    assert snapshot.status == "stopped" and snapshot.step < 100000
    assert "stopped after 30 min, this server's time limit" in snapshot.message
    assert (tmp_path / "run" / "training_state.safetensors").is_file()  # stopped through Trainer.stop


def test_a_job_paused_too_long_is_stopped_and_frees_the_server(tmp_path):
    clock = FakeClock()
    manager = JobManager()
    budget = JobBudget(max_minutes=60, pause_minutes=10)
    job = manager.start(
        trainer(tmp_path / "run", steps=100000, sample_every=1000),
        "paused",
        budget=budget,
        owner_key="alice-key",
        clock=clock,
        watch_every_s=0.01,
    )
    assert wait_until(lambda: job.snapshot().step >= 2, timeout=60)
    manager.control("pause", "alice-key")
    assert wait_until(lambda: job.snapshot().status == "paused", timeout=30)
    clock.now += 9 * 60
    assert not job.wait(timeout=0.2) and job.snapshot().ends_in_s == pytest.approx(60)
    manager.control("resume", "alice-key")  # resuming resets the pause clock
    manager.control("pause", "alice-key")
    clock.now += 9 * 60
    assert not job.wait(timeout=0.2)
    clock.now += 60
    assert job.wait(timeout=60)
    assert job.snapshot().status == "stopped" and "10 min paused, to free the server" in job.snapshot().message
    assert (tmp_path / "run" / "training_state.safetensors").is_file()
    manager.start(trainer(tmp_path / "next"), "next").wait(timeout=120)  # the slot is free again
    assert manager.snapshot().name == "next"


def test_a_real_time_budget_needs_no_fake_clock(tmp_path):
    manager = JobManager()
    job = manager.start(
        trainer(tmp_path / "run", steps=100000, sample_every=1000),
        "short",
        budget=JobBudget(max_minutes=0.01),  # 0.6 s
        watch_every_s=0.05,
    )
    assert job.wait(timeout=60)
    assert job.snapshot().status == "stopped" and "stopped after 1 s" in job.snapshot().message


def test_a_finished_run_on_disk_reads_back_as_the_train_tab_shows_a_job(tmp_path):
    """Before any job ran on a server, the Train tab shows the newest finished run (one with progress.gif)."""
    import json
    import os

    from dcgan.serve.jobs import finished_run_snapshot, last_finished_run

    def run(name: str, steps: int, finished: bool, age_s: float) -> Path:
        folder = tmp_path / name
        (folder / "samples").mkdir(parents=True)
        rows = [{"step": s, "loss_d": 1.0, "loss_g": 2.0, "d_real": 0.6, "d_fake": 0.4} for s in range(1, steps + 1)]
        (folder / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        for step in (500, 1000, 1500):
            (folder / "samples" / f"step_{step:07d}.png").write_bytes(b"png")
        if finished:
            (folder / "progress.gif").write_bytes(b"gif")
            os.utime(folder / "progress.gif", (1e9 - age_s, 1e9 - age_s))
        return folder

    older, newer = run("older", 1500, True, age_s=100), run("newer", 1500, True, age_s=10)
    run("still-training", 1500, False, age_s=0)
    assert last_finished_run(tmp_path) == newer
    assert last_finished_run(tmp_path / "nothing-here") is None
    snapshot = finished_run_snapshot(older, max_rows=100)
    assert snapshot.status == "done" and snapshot.name == "older" and snapshot.step == snapshot.total_steps == 1500
    assert [step for step, _ in snapshot.grids] == [500, 1000, 1500]
    assert 100 <= len(snapshot.metrics) <= 101 and snapshot.metrics[-1]["step"] == 1500  # thinned, last kept
    assert snapshot.progress_gif == str(older / "progress.gif")
    assert finished_run_snapshot(tmp_path / "still-training") is None
