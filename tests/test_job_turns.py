"""The training slot's turns (issue 24, dcgan/serve/jobs.py): owner keys of any characters, and a slot a visitor may
not keep for hours by restarting their job the moment it stops. Plain Python with fake clocks; the app-level
checks are in tests/test_job_ownership.py, the fair shares of heavy work in tests/test_fairness.py."""

import pytest
import torch
from helpers import blob_images

pytest.importorskip("gradio")

from test_fairness import FakeClock  # noqa: E402

from dcgan.data.dataset import ImageDataset  # noqa: E402
from dcgan.errors import DcganError  # noqa: E402
from dcgan.nets.config import ModelConfig, TrainConfig  # noqa: E402
from dcgan.serve.jobs import JobBudget, JobManager, TrainingJob, wait_until  # noqa: E402
from dcgan.training.trainer import Trainer  # noqa: E402

# ---- owner keys of any characters -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["clé-été-ключ-🔑", "\ud800", "a\x00b", " "])
def test_an_owner_key_of_any_characters_is_compared_not_raised_on(key):
    job = TrainingJob(None, "a job", owner_key="the-real-key")  # ownership needs no trainer
    assert job.owned_by(key) is False
    assert TrainingJob(None, "a job", owner_key=key).owned_by(key) is bool(key.strip())  # blank: no key at all


# ---- the training slot: no holding it for hours while others wait ---------------------------------------------

TINY = ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8)
HOUR = JobBudget(max_minutes=60)
ALICE, BOB = ("alice-key", "151.101.1.1"), ("bob-key", "151.101.1.2")


def long_trainer(run_dir):
    pixels = torch.from_numpy(blob_images(64, size=32)).float()
    data = ImageDataset(pixels[:, None] / 127.5 - 1, None, None, "blobs")
    train = TrainConfig(data="blobs", steps=100000, batch_size=16, sample_every=1000, n_fixed=16)
    return lambda: Trainer(TINY, train, run_dir, dataset=data)


def start(manager, tmp_path, who, clock, budget=HOUR, name="job"):
    key, address = who
    return manager.start(
        long_trainer(tmp_path / name), name, budget=budget, owner_key=key, owner_address=address, clock=clock
    )


def run_for(job, clock, minutes):
    """The job holds the slot for `minutes` (of the fake clock), then its owner stops it."""
    assert wait_until(lambda: job.snapshot().step >= 1, timeout=60)
    clock.now += minutes * 60
    job.stop()
    assert job.wait(timeout=60)


def test_a_job_others_waited_for_is_not_restarted_by_its_starter_at_once(tmp_path):
    clock, manager = FakeClock(), JobManager()
    job = start(manager, tmp_path, ALICE, clock, name="alice-1")
    with pytest.raises(DcganError, match="already running"):
        manager.check_free(*BOB)  # Bob asks for the slot meanwhile
    run_for(job, clock, 45)
    for who in (ALICE, ("a-fresh-key", ALICE[1]), (ALICE[0], "151.101.1.77")):  # her browser, or her network
        with pytest.raises(DcganError, match=r"another visitor waited.*start the next one in 45 min.*anyone else"):
            start(manager, tmp_path, who, clock, name="alice-2")
    assert manager.job is job
    bob_job = start(manager, tmp_path, BOB, clock, name="bob-1")  # anyone else may start one now
    run_for(bob_job, clock, 10)
    with pytest.raises(DcganError, match="in 35 min"):  # the cooldown runs from her job's end
        start(manager, tmp_path, ALICE, clock, name="alice-2")
    clock.now += 35 * 60
    run_for(start(manager, tmp_path, ALICE, clock, name="alice-2"), clock, 1)


def test_a_job_nobody_else_asked_for_may_be_restarted_at_once(tmp_path):
    clock, manager = FakeClock(), JobManager()
    run_for(start(manager, tmp_path, ALICE, clock, name="first"), clock, 60)
    manager.check_free()  # a speed estimate, say: no visitor asking, so nobody is waiting
    manager.check_free(*ALICE)  # nor is the starter herself
    run_for(start(manager, tmp_path, ALICE, clock, name="second"), clock, 1)


def test_without_a_time_limit_there_is_no_cooldown(tmp_path):
    clock, manager = FakeClock(), JobManager()
    job = start(manager, tmp_path, ALICE, clock, budget=JobBudget(), name="first")
    with pytest.raises(DcganError, match="already running"):
        manager.check_free(*BOB)
    run_for(job, clock, 60)
    run_for(start(manager, tmp_path, ALICE, clock, budget=JobBudget(), name="second"), clock, 1)
