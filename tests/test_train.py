import copy
import json
import shutil
import threading

import numpy as np
import pytest
import torch
from helpers import blob_images
from PIL import Image

from dcgan.data.dataset import ImageDataset
from dcgan.data.loading import load_dataset
from dcgan.errors import DcganError
from dcgan.nets.batchnorm_stats import measure_batchnorm_statistics
from dcgan.nets.config import ModelConfig, RunConfig, TrainConfig
from dcgan.nets.latent import generate
from dcgan.store.checkpoints import load_generator
from dcgan.store.model_files import CONFIG_FILE, GENERATOR_FILE
from dcgan.training.run_writer import METRICS_FILE, PROGRESS_GIF, SNAPSHOTS
from dcgan.training.state import STATE_FILE, load_train_state
from dcgan.training.trainer import Trainer, r1_penalty


def tiny_model(**overrides) -> ModelConfig:
    return ModelConfig(**({"image_size": 32, "nc": 1, "nz": 8, "ngf": 8, "ndf": 8} | overrides))


def tiny_train(**overrides) -> TrainConfig:
    defaults = {"data": "unused", "batch_size": 16, "steps": 8, "sample_every": 3, "checkpoint_every": 4, "n_fixed": 9}
    return TrainConfig(**(defaults | overrides))


@pytest.fixture
def dataset() -> ImageDataset:
    pixels = torch.from_numpy(blob_images(64, size=32)).float()
    return ImageDataset(pixels[:, None] / 127.5 - 1, None, None, "blobs")


def run_all(trainer: Trainer) -> list:
    return list(trainer.run())


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return (
        {f"g.{k}": v for k, v in trainer.generator.state_dict().items()}
        | {f"d.{k}": v for k, v in trainer.discriminator.state_dict().items()}
        | {f"ema.{k}": v for k, v in trainer.sampler.state_dict().items()}
    )


def test_run_writes_a_complete_run_directory(tmp_path, dataset):
    events = run_all(Trainer(tiny_model(), tiny_train(), tmp_path / "run", dataset=dataset))
    kinds = [event.kind for event in events]
    assert kinds.count("step") == 8 and kinds[-1] == "done"
    samples = [event for event in events if event.kind == "sample"]
    assert [event.step for event in samples] == [3, 6, 8]  # every 3 steps, and the last step's
    assert samples[0].grid.dtype == np.uint8 and samples[0].grid.shape == (3 * 34 + 2, 3 * 34 + 2, 1)
    assert not (samples[0].grid == samples[1].grid).all()  # G moved between the two grids
    run = tmp_path / "run"
    for name in ("config.json", GENERATOR_FILE, "discriminator.safetensors", STATE_FILE, PROGRESS_GIF):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "epoch_001.png",
        "epoch_002.png",
        "step_0000003.png",
        "step_0000006.png",
        "step_0000008.png",
    ]
    grid = Image.open(run / "samples" / "step_0000006.png")  # a downloaded grid says what it shows
    assert grid.text["run"] == "run" and grid.text["step"] == "6" and grid.text["data"] == tiny_train().data
    assert grid.text["figure"].startswith(f"the fixed-noise grid: the same {tiny_train().n_fixed} z (seed ")
    lines = [json.loads(line) for line in (run / METRICS_FILE).read_text().splitlines()]
    assert [line["step"] for line in lines] == list(range(1, 9))
    assert {"loss_d", "loss_g", "d_real", "d_fake", "images_per_s", "eta_s", "elapsed_s"} <= set(lines[0])
    assert all(a["elapsed_s"] < b["elapsed_s"] for a, b in zip(lines, lines[1:], strict=False))
    assert not list(run.glob(".*.tmp"))


def test_a_run_shorter_than_sample_every_still_leaves_its_grid_and_gif(tmp_path, dataset):
    events = run_all(Trainer(tiny_model(), tiny_train(steps=2, sample_every=200), tmp_path / "run", dataset=dataset))
    assert [event.step for event in events if event.kind == "sample"] == [2]
    assert (tmp_path / "run" / "samples" / "step_0000002.png").is_file()
    assert (
        events[-1].kind == "done" and events[-1].path == tmp_path / "run" / PROGRESS_GIF and events[-1].path.is_file()
    )


def test_run_directory_is_a_model_folder(tmp_path, dataset):
    trainer = Trainer(tiny_model(), tiny_train(), tmp_path / "run", dataset=dataset)
    run_all(trainer)
    z = torch.randn(4, 8)
    assert torch.equal(generate(load_generator(tmp_path / "run"), z), generate(trainer.generator, z))


@pytest.mark.parametrize(
    "knobs",
    [
        {},
        {"model": {"d_dropout": 0.3, "noise": "uniform"}, "train": {"augment": True, "label_smoothing": 0.1}},
        {"model": {"family": "tutorial", "image_size": 28, "d_dropout": 0.3}, "train": {"g_loss": "minimax"}},
        {"train": {"ema": 0.9}},
        {"train": {"d_augment": "color,translation,cutout"}},
        {"train": {"r1": 1.0, "d_augment": "translation,cutout"}},
    ],
    ids=["paper", "dropout-augment-uniform-smoothing", "tutorial-minimax", "ema", "diffaugment", "r1"],
)
def test_resume_continues_exactly(tmp_path, knobs):
    """N steps, stop, resume to 2N == 2N straight: same weights, optimizer state and RNG."""
    model = tiny_model(**knobs.get("model", {}))
    size = model.image_size
    pixels = torch.from_numpy(blob_images(64, size=size)).float()
    data = ImageDataset(pixels[:, None] / 127.5 - 1, None, None, "blobs")
    train = dict(steps=10, checkpoint_every=5, **knobs.get("train", {}))

    straight = Trainer(model, tiny_train(**train), tmp_path / "straight", dataset=data)
    run_all(straight)

    first = Trainer(model, tiny_train(**(train | {"steps": 6})), tmp_path / "resumed", dataset=data)
    run_all(first)  # epochs of 4 steps: the resume lands mid-epoch
    resumed = Trainer.from_run(tmp_path / "resumed", steps=10, dataset=data)
    assert resumed.step == 6
    run_all(resumed)

    expected, actual = weights(straight), weights(resumed)
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name
    state_a = load_train_state(tmp_path / "straight" / STATE_FILE)
    state_b = load_train_state(tmp_path / "resumed" / STATE_FILE)
    assert all(torch.equal(state_a.rng[k], state_b.rng[k]) for k in state_a.rng)
    for name, tensor in state_a.optimizer_g["state"][0].items():
        assert torch.equal(tensor, state_b.optimizer_g["state"][0][name])
    metrics = [json.loads(line) for line in (tmp_path / "resumed" / METRICS_FILE).read_text().splitlines()]
    assert [record["step"] for record in metrics] == list(range(1, 11))
    elapsed = [record["elapsed_s"] for record in metrics]
    assert elapsed == sorted(elapsed) and elapsed[6] > elapsed[5] > 0  # training time carried across the resume


def test_ema_draws_the_samples_and_is_the_published_model(tmp_path, dataset):
    trainer = Trainer(tiny_model(), tiny_train(steps=8, ema=0.9), tmp_path / "run", dataset=dataset)
    run_all(trainer)
    published = load_generator(tmp_path / "run")
    z = torch.randn(4, 8)
    assert torch.equal(generate(published, z), generate(trainer.ema_generator, z))
    assert not torch.equal(generate(published, z), generate(trainer.generator, z))
    for name, average in trainer.ema_generator.named_parameters():  # an average of G's recent weights
        assert not torch.equal(average, dict(trainer.generator.named_parameters())[name])
    # Its BatchNorm statistics are its own, measured on its activations: not G's, which fit other weights.
    g_buffers, published_buffers = dict(trainer.generator.named_buffers()), dict(published.named_buffers())
    assert not torch.equal(published_buffers["blocks.1.1.running_mean"], g_buffers["blocks.1.1.running_mean"])
    measured = measure_batchnorm_statistics(copy.deepcopy(trainer.ema_generator))
    assert all(torch.equal(buffer, published_buffers[name]) for name, buffer in measured.named_buffers())
    with pytest.raises(DcganError, match="ema"):
        tiny_train(ema=1.0)


def test_diffaugment_changes_what_d_sees_and_only_that(tmp_path, dataset):
    # Same seed, same data: with DiffAugment the first step's D gradients differ, G's init and z do not.
    plain = Trainer(tiny_model(), tiny_train(steps=1), tmp_path / "plain", dataset=dataset)
    changed = Trainer(
        tiny_model(), tiny_train(steps=1, d_augment="translation,cutout"), tmp_path / "da", dataset=dataset
    )
    assert all(torch.equal(a, b) for a, b in zip(weights(plain).values(), weights(changed).values(), strict=True))
    run_all(plain)
    run_all(changed)
    d_plain, d_changed = plain.discriminator.state_dict(), changed.discriminator.state_dict()
    assert any(not torch.equal(d_plain[name], d_changed[name]) for name in d_plain)


def test_r1_penalty_is_the_mean_squared_input_gradient():
    # A linear D, logit = w . x + b: its gradient with respect to every image is w, so the penalty is |w|^2.
    torch.manual_seed(0)
    linear = torch.nn.Linear(12, 1)
    images = torch.randn(5, 3, 2, 2, requires_grad=True)
    penalty = r1_penalty(linear(images.flatten(1)).squeeze(1), images)
    assert torch.allclose(penalty, linear.weight.square().sum())
    penalty.backward()  # differentiable: D's step can lower it
    assert torch.allclose(linear.weight.grad, 2 * linear.weight)


def test_r1_keeps_d_smooth_around_the_real_images(tmp_path, dataset):
    """Same seed, same data, 30 steps: with a strong R1 penalty D's output changes far less steeply around
    the real images than without."""

    def input_gradient(trainer: Trainer) -> float:
        images = dataset.images[:32].clone().requires_grad_(True)
        return r1_penalty(trainer.discriminator(images), images).item()

    steep, smooth = (
        Trainer(tiny_model(), tiny_train(steps=30, r1=r1), tmp_path / f"r1-{r1}", dataset=dataset) for r1 in (0, 10)
    )
    run_all(steep)
    run_all(smooth)
    assert input_gradient(smooth) < input_gradient(steep) / 3


def test_discriminator_separates_real_from_fake(tmp_path, dataset):
    trainer = Trainer(
        tiny_model(), tiny_train(steps=30, checkpoint_every=100, sample_every=100), tmp_path / "r", dataset=dataset
    )
    events = run_all(trainer)
    last = [event.metrics for event in events if event.kind == "step"][-5:]
    assert all(m["d_real"] > m["d_fake"] for m in last)
    trainer.discriminator.eval()
    with torch.inference_mode():
        real = torch.sigmoid(trainer.discriminator(dataset.images)).mean()
        fake = torch.sigmoid(trainer.discriminator(generate(trainer.generator, torch.randn(64, 8)))).mean()
    assert real > fake + 0.1


def test_keep_every_keeps_each_such_steps_model_as_a_folder_of_its_own(tmp_path, dataset):
    """A run that gets worse later still has its earlier models: snapshots/step-N is the model at step N."""
    run_all(Trainer(tiny_model(), tiny_train(steps=8, keep_every=4), tmp_path / "run", dataset=dataset))
    snapshots = tmp_path / "run" / SNAPSHOTS
    assert sorted(p.name for p in snapshots.iterdir()) == ["step-4", "step-8"]
    run_all(Trainer(tiny_model(), tiny_train(steps=4), tmp_path / "short", dataset=dataset))
    z = torch.randn(4, 8)
    assert torch.equal(
        generate(load_generator(snapshots / "step-4"), z), generate(load_generator(tmp_path / "short"), z)
    )
    assert torch.equal(generate(load_generator(snapshots / "step-8"), z), generate(load_generator(tmp_path / "run"), z))
    assert (snapshots / "step-4" / "discriminator.safetensors").is_file()
    for bad in (3, -4):  # models are kept at checkpoints (every 4 steps here)
        with pytest.raises(DcganError, match="multiple of checkpoint_every"):
            tiny_train(keep_every=bad)


def test_stop_from_another_thread_checkpoints_and_resumes(tmp_path, dataset):
    trainer = Trainer(
        tiny_model(), tiny_train(steps=10_000, checkpoint_every=10_000), tmp_path / "run", dataset=dataset
    )
    events = []
    for event in trainer.run():
        events.append(event)
        if event.kind == "step" and event.step == 5:
            threading.Thread(target=trainer.stop).start()
    assert events[-1].kind == "stopped"
    assert load_train_state(tmp_path / "run" / STATE_FILE).step == trainer.step >= 5
    assert Trainer.from_run(tmp_path / "run", dataset=dataset).step == trainer.step


def test_a_resume_may_change_the_learning_rates_from_there_on(tmp_path, dataset):
    """A finishing phase: the resumed steps use the new rates, config.json records them, a later resume
    without changes keeps them; what the run learned (batch size, ...) cannot be changed."""
    run_all(Trainer(tiny_model(), tiny_train(steps=4), tmp_path / "same", dataset=dataset))
    shutil.copytree(tmp_path / "same", tmp_path / "slower")
    before = load_train_state(tmp_path / "same" / STATE_FILE).generator
    same = Trainer.from_run(tmp_path / "same", steps=6, dataset=dataset)
    slower = Trainer.from_run(tmp_path / "slower", steps=6, dataset=dataset, lr_g=1e-5, lr_d=None)
    assert [group["lr"] for group in slower.optimizer_g.param_groups] == [1e-5]
    assert slower.optimizer_d.param_groups[0]["lr"] == same.optimizer_d.param_groups[0]["lr"] == 2e-4
    run_all(same)
    run_all(slower)

    def moved(trainer: Trainer) -> float:  # how far G's weights went in the resumed steps
        after = trainer.generator.state_dict()
        return sum((after[name] - before[name]).abs().sum().item() for name in before if "weight" in name)

    assert moved(slower) < moved(same) / 5  # Adam's steps scale with the rate: 20x smaller here
    assert RunConfig.load(tmp_path / "slower" / CONFIG_FILE).train.lr_g == 1e-5
    assert Trainer.from_run(tmp_path / "slower", dataset=dataset).optimizer_g.param_groups[0]["lr"] == 1e-5
    with pytest.raises(DcganError, match="cannot change batch_size"):
        Trainer.from_run(tmp_path / "slower", dataset=dataset, batch_size=8)
    with pytest.raises(DcganError, match="lr_d must be a learning rate"):
        Trainer.from_run(tmp_path / "slower", dataset=dataset, lr_d=2.0)


def test_pause_blocks_until_unpaused(tmp_path, dataset):
    trainer = Trainer(tiny_model(), tiny_train(steps=6), tmp_path / "run", dataset=dataset)
    seen = []
    for event in trainer.run():
        seen.append(event.kind)
        if event.kind == "step" and event.step == 2:
            trainer.pause()
            threading.Timer(0.2, trainer.unpause).start()
    assert seen.count("paused") == 1
    assert seen.index("paused") == seen.index("step") + 2  # right after step 2
    assert seen[-1] == "done" and seen.count("step") == 6


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, dataset):
    run = tmp_path / "run"
    run_all(Trainer(tiny_model(), tiny_train(steps=4, checkpoint_every=4), run, dataset=dataset))
    good_generator = (run / GENERATOR_FILE).read_bytes()
    good_state = (run / STATE_FILE).read_bytes()

    poisoned = ImageDataset(torch.full_like(dataset.images, float("nan")), None, None, "nan")
    events = run_all(Trainer.from_run(run, steps=8, dataset=poisoned))
    assert events[-1].kind == "diverged"
    assert "diverged at step 5" in events[-1].message and "last good checkpoint" in events[-1].message
    assert (run / GENERATOR_FILE).read_bytes() == good_generator
    assert (run / STATE_FILE).read_bytes() == good_state
    assert torch.isfinite(generate(load_generator(run), torch.randn(2, 8))).all()


def test_exploding_loss_counts_as_divergence(tmp_path, dataset):
    events = run_all(Trainer(tiny_model(), tiny_train(max_loss=1e-3), tmp_path / "run", dataset=dataset))
    assert events[-1].kind == "diverged" and "loss_" in events[-1].message


def test_dataset_smaller_than_a_batch_is_a_clear_error(tmp_path, dataset):
    from dcgan.errors import DcganError

    with pytest.raises(DcganError, match="fewer than one batch"):
        Trainer(tiny_model(), tiny_train(batch_size=128), tmp_path / "run", dataset=dataset)


def test_wrong_image_shape_is_a_clear_error(tmp_path, dataset):
    from dcgan.errors import DcganError

    with pytest.raises(DcganError, match="the model makes"):
        Trainer(tiny_model(image_size=64), tiny_train(), tmp_path / "run", dataset=dataset)


def test_trainer_loads_its_data_by_name(tmp_path, idx_folder):
    trainer = Trainer(tiny_model(), tiny_train(data=str(idx_folder), limit=100), tmp_path / "run")
    assert trainer.dataset.images.shape == (100, 1, 32, 32)
    assert load_dataset(str(idx_folder), 32).images.shape[0] == 256


def test_training_leaves_the_global_rng_alone(tmp_path, dataset):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    run_all(Trainer(tiny_model(d_dropout=0.5), tiny_train(steps=3), tmp_path / "run", dataset=dataset))
    assert torch.equal(before, torch.get_rng_state())


def test_cuda_device_turns_on_cudnn_autotuning_and_cpu_leaves_it():
    from dcgan.device import configure

    previous = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        configure(torch.device("cpu"))
        assert torch.backends.cudnn.benchmark is False
        configure(torch.device("cuda"))  # only sets a flag: safe without a GPU
        assert torch.backends.cudnn.benchmark is True
    finally:
        torch.backends.cudnn.benchmark = previous


def test_a_trainer_without_a_writer_trains_the_same_weights_and_writes_nothing(tmp_path, dataset):
    # Benches (and ranks other than 0) train with write=False: the same steps, no run directory.
    written = Trainer(tiny_model(), tiny_train(), tmp_path / "written", dataset=dataset)
    silent = Trainer(tiny_model(), tiny_train(), tmp_path / "silent", dataset=dataset, write=False)
    assert [e.kind for e in written.run()][-1] == [e.kind for e in silent.run()][-1] == "done"
    assert not (tmp_path / "silent").exists() and (tmp_path / "written" / "metrics.jsonl").is_file()
    for a, b in zip(written.generator.state_dict().values(), silent.generator.state_dict().values(), strict=True):
        assert torch.equal(a, b)
