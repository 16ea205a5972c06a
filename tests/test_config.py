import json

import pytest

from dcgan.errors import DcganError
from dcgan.nets.config import ModelConfig, RunConfig, TrainConfig


def test_round_trip(tmp_path):
    config = RunConfig(
        ModelConfig(family="tutorial", image_size=28, nc=1, ngf=32, d_dropout=0.3, noise="uniform"),
        TrainConfig(data="mnist", steps=10, label_smoothing=0.1, g_loss="minimax"),
    )
    config.save(tmp_path / "config.json")
    assert RunConfig.load(tmp_path / "config.json") == config


def test_published_model_has_no_train_section(tmp_path):
    RunConfig(ModelConfig()).save(tmp_path / "config.json")
    assert RunConfig.load(tmp_path / "config.json").train is None


@pytest.mark.parametrize("section", ["model", "train"])
def test_unknown_keys_are_rejected(tmp_path, section):
    values = RunConfig(ModelConfig(), TrainConfig(steps=1)).to_dict()
    values[section]["ngf_typo"] = 3
    (tmp_path / "config.json").write_text(json.dumps(values))
    with pytest.raises(DcganError, match="ngf_typo"):
        RunConfig.load(tmp_path / "config.json")


def test_unknown_top_level_key_is_rejected():
    with pytest.raises(DcganError, match="extra"):
        RunConfig.from_dict({"model": {}, "extra": 1})


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"model": 5}'])
def test_broken_files_are_clear_errors(tmp_path, text):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(DcganError):
        RunConfig.load(tmp_path / "config.json")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DcganError, match="no config.json"):
        RunConfig.load(tmp_path / "config.json")


@pytest.mark.parametrize(
    "overrides",
    [
        dict(g_loss="wgan"),
        dict(d_augment="rotation"),
        dict(label_smoothing=0.7),
        dict(batch_size=0),
        dict(r1=-1.0),
        dict(r1=float("nan")),
    ],
)
def test_bad_train_configs(overrides):
    with pytest.raises(DcganError):
        TrainConfig(**overrides)
