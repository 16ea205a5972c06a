"""A judge that reads binary attributes besides its classes (the faces judge: woman, glasses, smile from its
classes, beard and hat from its own outputs), and the shipped faces judge's reading of held-out faces."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from dcgan.data import faces
from dcgan.data.faces import FACE_CLASS_ATTRIBUTES, FACE_CLASSES, FacesDataset
from dcgan.errors import DcganError
from dcgan.quality import classifier
from dcgan.quality.classifier import (
    CHECKPOINTS_DIR,
    ClassifierConfig,
    JudgeClassifier,
    attribute_probabilities,
    attribute_targets,
    holdout_mask,
    holdout_split,
    load_judge,
    preset_config,
    train_judge,
)

SIDE = 16
HEAD = ["facial_hair", "hat"]


def marked_faces(count: int, seed: int = 0) -> FacesDataset:
    """Noise pictures whose attributes are drawn as marks a small CNN sees: female a bright left half,
    glasses a dark band across the middle, a smile a bright bottom-right patch, a beard a bright bottom
    band, a hat a bright top band (the last two independent of the class)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 8
    beard, hat = rng.random(count) < 0.3, rng.random(count) < 0.3
    images = rng.normal(0, 0.25, (count, 3, SIDE, SIDE)).astype(np.float32)
    images[labels & 4 > 0, 0, :, : SIDE // 2] += 1.0
    images[labels & 2 > 0, :, 6:9, :] -= 1.0
    images[labels & 1 > 0, 1, 10:14, 10:14] += 1.0
    images[beard, 2, 13:, :] += 1.0
    images[hat, 1, :3, :] += 1.0
    attributes = {
        "female": labels & 4 > 0, "glasses": labels & 2 > 0, "smiling": labels & 1 > 0,
        "facial_hair": beard, "hat": hat,
    }  # fmt: skip
    tensor = torch.from_numpy(images).clamp(-1, 1)
    return FacesDataset(tensor, torch.from_numpy(labels).long(), list(FACE_CLASSES), "faces", attributes=attributes)


def small_config(**overrides) -> ClassifierConfig:
    values = dict(
        data="faces", class_names=list(FACE_CLASSES), channels=3, image_size=SIDE, widths=[8, 16, 16],
        feature_dim=32, epochs=4, batch_size=32, augment=False, resize_augment=False,
        attribute_classes=FACE_CLASS_ATTRIBUTES, head_attributes=HEAD,
    )  # fmt: skip
    return ClassifierConfig(**{**values, **overrides})


def test_the_faces_preset_reads_five_attributes_three_of_them_from_its_classes():
    config = preset_config("faces")
    assert config.attributes == ["female", "glasses", "smiling", "facial_hair", "hat"]
    assert [FACE_CLASSES[k] for k in config.attribute_classes["glasses"]] == [
        "man, glasses", "man, glasses, smiling", "woman, glasses", "woman, glasses, smiling",
    ]  # fmt: skip
    assert preset_config("fashion-mnist").attributes == []


def test_bad_attribute_configs_are_refused():
    with pytest.raises(DcganError, match="attribute_classes"):
        small_config(attribute_classes={"female": [8]})
    with pytest.raises(DcganError, match="not both"):
        small_config(head_attributes=["female"])


def test_targets_come_from_labels_and_stored_attributes_and_missing_ones_are_named():
    data = marked_faces(64)
    targets = attribute_targets(small_config(), data)
    assert targets.shape == (64, 5)
    for k, name in enumerate(small_config().attributes):
        assert targets[:, k].bool().tolist() == data.attributes[name].tolist(), name
    data.attributes.pop("hat")
    with pytest.raises(DcganError, match="'hat'"):
        attribute_targets(small_config(), data)
    assert attribute_targets(ClassifierConfig(), data) is None


def test_holding_out_keeps_each_faces_attributes_with_it():
    data = marked_faces(200)
    train, held = holdout_split(data, 0.25, seed=3)
    mask = holdout_mask(data, 0.25, seed=3).numpy()
    assert len(held) == mask.sum() and len(train) == (~mask).sum()
    assert held.attributes["hat"].tolist() == data.attributes["hat"][mask].tolist()
    assert torch.equal(held.labels, data.labels[torch.from_numpy(mask)])


def test_a_judge_without_attributes_has_the_old_weights_and_reads_none():
    plain = JudgeClassifier(small_config(attribute_classes={}, head_attributes=[]))
    assert not hasattr(plain, "attribute_head")
    assert not any(key.startswith("attribute_head") for key in plain.state_dict())  # old judges load strictly
    assert attribute_probabilities(plain, torch.zeros(3, 3, SIDE, SIDE)).shape == (3, 0)


def test_class_attributes_are_the_summed_class_probabilities():
    judge = JudgeClassifier(small_config()).eval()
    images = marked_faces(10).images
    read = attribute_probabilities(judge, images, batch_size=4)
    with torch.inference_mode():
        probabilities = judge(images).softmax(1)
    assert read.shape == (10, 5) and bool(((read >= 0) & (read <= 1)).all())
    assert torch.allclose(read[:, 1], probabilities[:, [2, 3, 6, 7]].sum(1), atol=1e-6)


@pytest.mark.slow
def test_training_learns_the_classes_and_the_head_attributes(tmp_path, monkeypatch):
    data = marked_faces(1600)
    monkeypatch.setattr(classifier, "has_test_split", lambda name: False)
    monkeypatch.setattr(classifier, "load_dataset", lambda *args, **kwargs: data)
    # the head learns after the classes (4 epochs: classes 100%, beard and hat at chance; 12: all > 99%)
    report = train_judge(tmp_path / "judge", small_config(epochs=12), log=lambda line: None)
    assert report["accuracy"] > 0.9, report
    for name in ("female", "glasses", "smiling", "facial_hair", "hat"):
        assert report["per_attribute"][name]["accuracy"] > 0.9, (name, report["per_attribute"])
    assert abs(report["per_attribute"]["hat"]["positive_share"] - 0.3) < 0.1
    # saved and loaded back, it reads the same
    judge = load_judge(tmp_path / "judge")
    assert judge.config.head_attributes == HEAD
    trained_read = attribute_probabilities(judge, data.images[:50])
    assert torch.equal(trained_read, attribute_probabilities(load_judge(tmp_path / "judge"), data.images[:50]))


FACES_JUDGE = CHECKPOINTS_DIR / "faces-judge"
HAVE_NODE = shutil.which("node") is not None and (faces.RENDERER_DIR / "node_modules" / "facesjs").is_dir()


@pytest.mark.slow
@pytest.mark.skipif(not (FACES_JUDGE / "model.safetensors").is_file(), reason="no shipped faces judge")
@pytest.mark.skipif(not HAVE_NODE, reason="the faces renderer is not installed (npm ci --prefix scripts/faces)")
def test_the_shipped_faces_judge_reads_held_out_faces_and_their_attributes(tmp_path, monkeypatch):
    if not faces.faces_cache_path(faces.FACES_COUNT, 64).is_file():  # render the first faces only into a scratch cache
        monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    first = faces.load_faces(64, limit=1500)
    judge = load_judge(FACES_JUDGE)
    # the faces the judge never saw: its held-out mask is drawn over the whole set, so the first 1,500
    # faces' share of it is the same as in training
    everything = FacesDataset(torch.empty(faces.FACES_COUNT, 0), torch.zeros(faces.FACES_COUNT), [], "faces")
    held = holdout_mask(everything, judge.config.holdout, judge.config.seed)[: len(first)]
    assert held.sum() > 200
    read = attribute_probabilities(judge, first.images[held]) > 0.5
    targets = attribute_targets(judge.config, first)[held].bool()
    for k, name in enumerate(judge.config.attributes):
        assert (read[:, k] == targets[:, k]).float().mean() >= 0.95, name
    # eval's attribute table: samples that all wear glasses beside the held-out faces, half of which do
    from dcgan.quality.metrics import attribute_shares, attribute_table

    k = judge.config.attributes.index("glasses")
    shares = attribute_shares(judge, first.images[held][targets[:, k]], first.images[held])
    assert shares["samples"][k] >= 0.95 and abs(shares["data"][k] - float(targets[:, k].float().mean())) < 0.05
    assert f"| glasses | {shares['samples'][k]:.1%} | {shares['data'][k]:.1%} |" in attribute_table(shares, True)


@pytest.mark.skipif(not (FACES_JUDGE / "model.safetensors").is_file(), reason="no shipped faces judge")
def test_judge_features_for_faces_are_the_faces_judges():
    from dcgan.quality.classifier import JUDGE_DIR, judge_id
    from dcgan.quality.feature_spaces import feature_extractor

    assert feature_extractor("judge", "faces").name == judge_id(FACES_JUDGE)
    assert feature_extractor("judge", "fashion-mnist").name == judge_id(JUDGE_DIR)
    assert feature_extractor("auto", "faces").name.startswith("random-cnn")  # auto stays: judge for fashion only
