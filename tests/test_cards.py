import json

import torch
from helpers import blob_images
from PIL import Image

from dcgan.cli.main import build_parser
from dcgan.data.dataset import ImageDataset
from dcgan.nets.config import ModelConfig, RunConfig, TrainConfig
from dcgan.quality.metrics import evaluate
from dcgan.training.cards import features_flag, publish, train_command
from dcgan.training.trainer import Trainer


def configs_from_command(command: str, monkeypatch) -> tuple[ModelConfig, TrainConfig]:
    """Parse a printed command back with the real CLI parser, with data loading stubbed out."""
    import dcgan.data.loading
    from dcgan.cli.main import _configs_from_args

    def no_data(data, image_size, channels=None, limit=None):
        return ImageDataset(torch.zeros(1, channels or 1, image_size, image_size), None, None, data)

    monkeypatch.setattr(dcgan.data.loading, "load_dataset", no_data)
    model, train, _ = _configs_from_args(build_parser().parse_args(command.split()[3:]))
    return model, train


def test_train_command_reproduces_the_configs(monkeypatch):
    model = ModelConfig(
        family="paper",
        image_size=64,
        nc=3,
        ngf=32,
        ndf=48,
        upsample="resize",
        noise="uniform",
        d_batchnorm=False,
        d_dropout=0.2,
    )
    train = TrainConfig(
        data="emoji",
        epochs=40,
        batch_size=64,
        lr_d=4e-4,
        label_smoothing=0.1,
        augment=True,
        g_loss="minimax",
        seed=3,
        sample_every=100,
        checkpoint_every=300,
        channels_last=False,
    )
    command = train_command(RunConfig(model, train))
    assert command.startswith("python -m dcgan train --image-size 64 --channels 3")
    assert configs_from_command(command, monkeypatch) == (model, train)


def test_tutorial_without_dropout_round_trips(monkeypatch):
    model = ModelConfig(family="tutorial", image_size=28, nc=1, d_dropout=0.0)
    train = TrainConfig(steps=100)
    assert configs_from_command(train_command(RunConfig(model, train)), monkeypatch) == (model, train)


def test_default_run_command_is_short():
    command = train_command(RunConfig(ModelConfig(image_size=32, nc=1), TrainConfig(epochs=5)))
    assert command == "python -m dcgan train --image-size 32 --channels 1 --data fashion-mnist --epochs 5"


def test_publish_writes_folder_assets_and_card(tmp_path, idx_folder, monkeypatch):
    pixels = torch.from_numpy(blob_images(64, size=32)).float()
    data = ImageDataset(pixels[:, None] / 127.5 - 1, None, None, "blobs")
    config = ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8)
    list(
        Trainer(
            config, TrainConfig(data="blobs", steps=6, batch_size=16, sample_every=3), tmp_path / "run", dataset=data
        ).run()
    )
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    result = evaluate(str(tmp_path / "run"), str(idx_folder), n=40, features="random", kid_subsets=5)
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps(result))
    out = publish(
        tmp_path / "run", tmp_path / "checkpoints" / "tiny", "Tiny blobs", evaluation, assets_dir=tmp_path / "assets"
    )
    assert {p.name for p in out.iterdir()} == {
        "config.json",
        "model.safetensors",
        "discriminator.safetensors",
        "README.md",
    }
    assert (tmp_path / "assets" / "tiny" / "samples.png").is_file()
    assert (tmp_path / "assets" / "tiny" / "progress.gif").is_file()
    card = (out / "README.md").read_text()
    assert "# Tiny blobs" in card and "steps: 6" in card
    assert f"| FID (lower is better) | {result['fid']:.3f} | {result['floor']['fid']:.3f} |" in card
    assert "compare runs on this data with each other, not with papers" in card  # random features say what they are
    assert "python -m dcgan train --image-size 32 --channels 1 --nz 8" in card


def test_publishing_a_kept_snapshot_takes_its_weights_and_its_runs_record_to_its_step(tmp_path):
    """`--keep-every` leaves RUN/snapshots/step-N: publishing it gives that step's model, the run's losses and
    fixed-noise grids up to step N, not the run's later (perhaps collapsed) state."""
    pixels = torch.from_numpy(blob_images(64, size=32)).float()
    data = ImageDataset(pixels[:, None] / 127.5 - 1, None, None, "blobs")
    config = ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8)
    train = TrainConfig(data="blobs", steps=8, batch_size=16, sample_every=2, checkpoint_every=4, keep_every=4)
    list(Trainer(config, train, tmp_path / "run", dataset=data).run())
    out = publish(tmp_path / "run" / "snapshots" / "step-4", tmp_path / "kept", "Kept", assets_dir=tmp_path / "assets")
    snapshot = tmp_path / "run" / "snapshots" / "step-4" / "model.safetensors"
    assert (out / "model.safetensors").read_bytes() == snapshot.read_bytes()
    assert "steps: 4 " in (out / "README.md").read_text()
    assert Image.open(tmp_path / "assets" / "kept" / "progress.gif").n_frames == 2  # the grids of steps 2 and 4


def test_the_cards_eval_command_names_the_feature_space_when_auto_would_not_choose_it():
    # faces' numbers are in its judge's space, which "auto" does not pick for faces: the command must say so
    faces = {"data": "faces", "features": "judge-e52d2bf98c2a", "model": "checkpoints/faces-64", "n": 10, "seed": 0}
    assert features_flag(faces) == " --features judge"
    assert features_flag({**faces, "data": "fashion-mnist"}) == ""  # auto is the judge there
    assert features_flag({**faces, "features": "random-1234"}) == ""  # auto is random there
