"""The emoji-category classifier: the explorer's class-based views read emoji models through it."""

from pathlib import Path

import pytest
import torch

from dcgan.data.emoji import CATEGORIES
from dcgan.errors import DcganError
from dcgan.explore.explorer import Explorer
from dcgan.nets.config import ModelConfig, RunConfig, TrainConfig
from dcgan.nets.models import Discriminator, Generator
from dcgan.quality.classifier import (
    CHECKPOINTS_DIR,
    WEIGHTS_FILE,
    accuracy_report,
    holdout_mask,
    holdout_split,
    load_judge,
)
from dcgan.store.checkpoints import save_model_folder

EMOJI_JUDGE = CHECKPOINTS_DIR / "emoji-judge"
# Measured on the shipped weights (see its card), minus a margin for another machine's float rounding.
HELD_OUT_FLOOR = 0.82  # 85.0% measured


def emoji_judge_or_skip() -> Path:
    if not (EMOJI_JUDGE / WEIGHTS_FILE).is_file():
        pytest.skip("checkpoints/emoji-judge is not there (python -m dcgan.quality.classifier --data emoji)")
    return EMOJI_JUDGE


def tiny_model(folder: Path, data: str, nc: int, image_size: int = 32) -> Path:
    """An untrained, seeded generator whose config says it was trained on `data`."""
    config = ModelConfig(image_size=image_size, nc=nc, nz=16, ngf=8, ndf=8)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        generator, discriminator = Generator(config), Discriminator(config)
    return save_model_folder(folder, generator, RunConfig(config, TrainConfig(data=data, steps=20)), discriminator)


def test_an_emoji_model_is_read_by_the_7_category_classifier(tmp_path):
    emoji_judge_or_skip()
    explorer = Explorer.load(tiny_model(tmp_path / "tiny-emoji", "emoji", nc=3))
    judge = explorer.judge()
    assert judge is not None and list(judge.config.class_names) == CATEGORIES and judge.config.channels == 3
    assert Explorer.load(tiny_model(tmp_path / "tiny-emoji-64", "emoji", nc=3, image_size=64)).judge() is judge
    assert explorer.direction_labels()[0].startswith("direction 0: − ")  # named by the categories it trades
    names, means, counts = explorer.class_means()
    assert names == CATEGORIES and means.shape == (7, 16) and 0 < int(counts.sum()) <= 2000  # the confident ones
    # a grey model of emoji data: colour cannot be made up, so no classifier (and the views say so)
    assert Explorer.load(tiny_model(tmp_path / "grey-emoji", "emoji", nc=1)).judge() is None
    assert Explorer.load(tiny_model(tmp_path / "noise", "/some/folder", nc=3)).judge() is None


def test_a_fashion_model_still_gets_the_fashion_mnist_judge(tmp_path):
    if not (CHECKPOINTS_DIR / "fashion-mnist-judge" / WEIGHTS_FILE).is_file():
        pytest.skip("checkpoints/fashion-mnist-judge is not there")
    judge = Explorer.load(tiny_model(tmp_path / "tiny-fashion", "fashion-mnist", nc=1)).judge()
    assert judge is not None and judge.config.data == "fashion-mnist" and len(judge.config.class_names) == 10


def test_the_shipped_emoji_judge_reads_the_held_out_emoji(tmp_path):
    folder = emoji_judge_or_skip()
    from dcgan.data.loading import load_dataset

    judge = load_judge(folder)
    config = judge.config
    try:
        everything = load_dataset(config.data, config.load_size)
    except DcganError as error:  # the font is missing
        pytest.skip(str(error))
    train, held_out = holdout_split(everything, config.holdout, config.seed)
    assert len(held_out) + len(train) == len(everything) and 0.15 < len(held_out) / len(everything) < 0.25
    report = accuracy_report(judge, held_out.images, held_out.labels)
    assert report["accuracy"] >= HELD_OUT_FLOOR, report
    assert min(report["per_class"].values()) >= 0.4, report  # no category is ignored ("object": 48.1%)
    assert f"{report['accuracy']:.1%}" in (folder / "README.md").read_text()  # the card states it
    # toned copies of one glyph never straddle the split (else it measures a colour swap)
    held = holdout_mask(everything, config.holdout, config.seed)
    held_of = dict(zip(everything.texts, held.tolist(), strict=True))
    thumbs = "\N{THUMBS UP SIGN}"
    assert held_of[thumbs] == held_of[thumbs + "\N{EMOJI MODIFIER FITZPATRICK TYPE-3}"]
