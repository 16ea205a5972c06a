"""The judge classifier: the shipped weights still score >= 91%, any image shape goes in, training repeats."""

import json
from pathlib import Path

import pytest
import torch

from dcgan.data.idx import find_idx_dataset
from dcgan.data.loading import load_dataset
from dcgan.errors import DcganError
from dcgan.quality.classifier import (
    CONFIG_FILE,
    JUDGE_DIR,
    WEIGHTS_FILE,
    ClassifierConfig,
    JudgeClassifier,
    accuracy_report,
    load_judge,
    train_judge,
)

TINY = dict(widths=[4, 8, 8], feature_dim=16, epochs=1, batch_size=32)


def fashion_mnist_or_skip() -> Path:
    try:
        return find_idx_dataset("fashion-mnist", download=False)
    except DcganError:
        pytest.skip("Fashion-MNIST is not installed (apt install dataset-fashion-mnist)")


@pytest.fixture(scope="module")
def judge():
    return load_judge()


def test_the_shipped_judge_scores_at_least_91_percent_on_the_test_split(judge):
    fashion_mnist_or_skip()
    test = load_dataset("fashion-mnist", 28, split="test")
    report = accuracy_report(judge, test.images, test.labels)
    assert report["n"] == 10000 and report["accuracy"] >= 0.91, report
    # The card states the same figure the weights carry.
    card = (JUDGE_DIR / "README.md").read_text()
    assert f"{report['accuracy']:.2%}" in card


def test_the_judge_reads_32x32_and_rgb_images_as_a_generator_makes_them(judge):
    fashion_mnist_or_skip()
    test = load_dataset("fashion-mnist", 32, split="test", limit=2000)  # 32x32, as the paper-family G makes
    assert test.images.shape[-2:] == (32, 32)
    assert accuracy_report(judge, test.images, test.labels)["accuracy"] >= 0.89
    rgb = test.images[:8].expand(-1, 3, -1, -1)
    with torch.inference_mode():
        assert judge(rgb).shape == (8, 10) and judge.features(rgb).shape == (8, judge.config.feature_dim)
        assert torch.allclose(judge(rgb), judge(test.images[:8]), atol=1e-5)  # RGB of grey = the grey image


def test_any_size_and_channel_count_goes_in_but_not_other_shapes():
    model = JudgeClassifier(ClassifierConfig(**TINY)).eval()
    with torch.inference_mode():
        for shape in [(2, 1, 28, 28), (2, 3, 32, 32), (2, 1, 64, 64), (2, 3, 20, 20)]:
            assert model(torch.rand(shape) * 2 - 1).shape == (2, 10)
    with pytest.raises(DcganError, match="1 or 3"):
        model(torch.zeros(2, 4, 28, 28))


def test_config_round_trips_and_rejects_unknown_keys(tmp_path):
    config = ClassifierConfig(**TINY)
    config.save(tmp_path / CONFIG_FILE)
    assert ClassifierConfig.load(tmp_path / CONFIG_FILE) == config
    (tmp_path / "bad.json").write_text(json.dumps({**config.to_dict(), "widht": 3}))
    with pytest.raises(DcganError, match="unknown keys"):
        ClassifierConfig.load(tmp_path / "bad.json")
    with pytest.raises(DcganError, match="no judge"):
        load_judge(tmp_path / "missing")


def test_training_is_deterministic_and_the_folder_loads(idx_folder, tmp_path):
    reports = [
        train_judge(tmp_path / name, ClassifierConfig(**TINY), data_path=idx_folder, limit=96, log=lambda message: None)
        for name in ("a", "b")
    ]
    assert (tmp_path / "a" / WEIGHTS_FILE).read_bytes() == (tmp_path / "b" / WEIGHTS_FILE).read_bytes()
    assert reports[0]["accuracy"] == reports[1]["accuracy"]
    loaded = load_judge(tmp_path / "a")
    assert loaded.config == ClassifierConfig(**TINY) and not loaded.training
    # Weights that do not fit the config are a clear error.
    (tmp_path / "a" / CONFIG_FILE).write_text(json.dumps({**ClassifierConfig(**TINY).to_dict(), "feature_dim": 32}))
    with pytest.raises(DcganError, match="does not match"):
        load_judge(tmp_path / "a")
