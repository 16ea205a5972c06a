"""The judge: a small Fashion-MNIST CNN whose penultimate layer is the feature space of our metrics.

Inception-v3 (the network behind published FIDs) cannot be downloaded here, and it was never a
good judge of 28x28 grey clothing anyway. This classifier is trained on the Fashion-MNIST train
split and shipped in checkpoints/fashion-mnist-judge/ with its card. Its numbers compare our
runs with each other, not with FIDs in papers.

It accepts images in [-1, 1] of any size with 1 or 3 channels: RGB is averaged to grey and
every image is resized to 28x28 (bilinear, antialiased), so 32x32 generators and 28x28 data are
judged alike. Train it again with

    python -m dcgan.classifier --out checkpoints/fashion-mnist-judge
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import load_state_strict, load_tensors, save_tensors
from .config import _from_dict, read_json, write_json
from .data import FASHION_MNIST_CLASSES, augment, load_dataset
from .device import set_threads
from .errors import DcganError
from .latent import cpu_generator

JUDGE_DIR = Path(__file__).resolve().parents[1] / "checkpoints" / "fashion-mnist-judge"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class ClassifierConfig:
    """The judge's architecture, and how it was trained (so the run can be repeated)."""

    data: str = "fashion-mnist"
    class_names: list[str] = field(default_factory=lambda: list(FASHION_MNIST_CLASSES))
    image_size: int = 28  # every input is resized to this
    widths: list[int] = field(default_factory=lambda: [32, 64, 128])  # channels of the three conv stages
    feature_dim: int = 128  # the penultimate layer: the metrics' feature space
    dropout: float = 0.3
    # training
    epochs: int = 8
    batch_size: int = 128
    lr: float = 2e-3  # Adam, cosine-decayed to 0 over the run
    weight_decay: float = 5e-4  # AdamW
    augment: bool = True  # random horizontal flips and 2-pixel shifts
    resize_augment: bool = True  # half of each batch goes to 24, 32 or 64 px and back (see _resize_round_trip)
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.widths) != 3 or min(self.widths) < 1:
            raise DcganError(f"widths must be three positive channel counts, got {self.widths}")
        if self.feature_dim < 1 or self.image_size < 8 or not self.class_names:
            raise DcganError("feature_dim must be positive, image_size at least 8, and class_names non-empty")
        if not 0.0 <= self.dropout < 1.0:
            raise DcganError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Any, where: str = CONFIG_FILE) -> ClassifierConfig:
        return _from_dict(cls, values, where)

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> ClassifierConfig:
        return cls.from_dict(read_json(path), where=str(path))


def _conv_bn_relu(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]


class JudgeClassifier(nn.Module):
    """images (N, 1 or 3, H, W) in [-1, 1] -> logits (N, classes); `features` gives (N, feature_dim)."""

    def __init__(self, config: ClassifierConfig | None = None):
        super().__init__()
        self.config = config or ClassifierConfig()
        w1, w2, w3 = self.config.widths
        drop = self.config.dropout
        # 28 -> 14 -> 7 -> 3: one conv at 28 (the costliest size), two at 14, one at 7, max-pool after each.
        self.body = nn.Sequential(
            *_conv_bn_relu(1, w1),
            nn.MaxPool2d(2),
            *_conv_bn_relu(w1, w2),
            *_conv_bn_relu(w2, w2),
            nn.MaxPool2d(2),
            *_conv_bn_relu(w2, w3),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(drop),
        )
        side = self.config.image_size // 8
        self.embed = nn.Sequential(
            nn.Linear(w3 * side * side, self.config.feature_dim, bias=False),
            nn.BatchNorm1d(self.config.feature_dim),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(drop), nn.Linear(self.config.feature_dim, len(self.config.class_names)))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 1 or 3, H, W) in [-1, 1] -> (N, 1, 28, 28): grey, at the judge's size."""
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise DcganError(f"the judge takes (N, 1 or 3, H, W) images, got shape {tuple(images.shape)}")
        images = images.float()
        if images.shape[1] == 3:
            images = images.mean(dim=1, keepdim=True)
        size = (self.config.image_size, self.config.image_size)
        if images.shape[-2:] != size:
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
        return images.clamp(-1.0, 1.0)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, feature_dim): the penultimate layer (after BN and ReLU), the metrics' feature space."""
        return self.embed(self.body(self.prepare(images)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(images)
        return features, self.head(features)


def load_judge(path: str | Path = JUDGE_DIR, device: str | torch.device = "cpu") -> JudgeClassifier:
    """The judge in eval mode, from a folder with config.json and model.safetensors."""
    folder = Path(path)
    if not folder.is_dir():
        raise DcganError(f"no judge classifier folder at {folder}; train one with python -m dcgan.classifier --out DIR")
    judge = JudgeClassifier(ClassifierConfig.load(folder / CONFIG_FILE))
    load_state_strict(judge, load_tensors(folder / WEIGHTS_FILE), folder / WEIGHTS_FILE)
    return judge.to(device).eval()


def judge_id(path: str | Path = JUDGE_DIR) -> str:
    """A short hash of the judge's weights file: metric caches and reports name the judge by it."""
    digest = hashlib.sha256(Path(path, WEIGHTS_FILE).read_bytes()).hexdigest()
    return f"judge-{digest[:12]}"


@torch.inference_mode()
def predict(judge: JudgeClassifier, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """(N,) int64 predicted classes, in batches, with the judge in eval mode."""
    judge.eval()
    device = next(judge.parameters()).device
    return torch.cat([judge(part.to(device)).argmax(1).cpu() for part in images.split(batch_size)])


def accuracy_report(judge: JudgeClassifier, images: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """Overall and per-class accuracy of `judge` on labelled images."""
    predicted = predict(judge, images)
    names = judge.config.class_names
    per_class = {name: float((predicted[labels == index] == index).float().mean()) for index, name in enumerate(names)}
    return {"accuracy": float((predicted == labels).float().mean()), "per_class": per_class, "n": len(labels)}


ROUND_TRIP_SIZES = (24, 32, 64)


def _resize_round_trip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Send a random half of the batch to 24, 32 or 64 px and back to 28 px, the way dcgan.data and
    `prepare` resize. A 32x32 generator learns from 28 -> 32 upsampled images, and the judge then
    resizes them back: trained only on sharp 28 px images, it lost 6.5 points of accuracy on that
    round trip's slight blur."""
    size = ROUND_TRIP_SIZES[int(torch.randint(len(ROUND_TRIP_SIZES), (1,), generator=generator))]
    chosen = torch.rand(len(images), generator=generator) < 0.5
    side = images.shape[-1]
    there = F.interpolate(images[chosen], size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    back = F.interpolate(there.clamp(-1, 1), size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    images = images.clone()
    images[chosen] = back.clamp(-1, 1)
    return images


def train_judge(
    out: str | Path,
    config: ClassifierConfig | None = None,
    data_path: str | Path | None = None,
    limit: int | None = None,
    log=print,
) -> dict[str, Any]:
    """Train the judge on the train split, test it on the test split, write config.json + model.safetensors.

    Seeded and deterministic: init, data order, augmentation and dropout all come from `config.seed`,
    so the same machine and thread count give the same weights. Returns the test report.
    """
    config = config or ClassifierConfig()
    threads = set_threads()
    train = load_dataset(config.data, config.image_size, channels=1, split="train", path=data_path, limit=limit)
    test = load_dataset(config.data, config.image_size, channels=1, split="test", path=data_path)
    if train.labels is None or test.labels is None:
        raise DcganError(f"{config.data} has no labels; the judge needs a labelled dataset")
    torch.manual_seed(config.seed)  # init and dropout: this is an entry point, so it may seed
    judge = JudgeClassifier(config).to(memory_format=torch.channels_last)
    order_rng, augment_rng = cpu_generator(config.seed), cpu_generator(config.seed + 1)
    steps_per_epoch = len(train) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW(judge.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
    )
    log(f"judge: {len(train)} train / {len(test)} test images, {config.epochs} epochs, {threads} threads")
    started = time.perf_counter()
    for epoch in range(config.epochs):
        judge.train()
        permutation = torch.randperm(len(train), generator=order_rng)
        running_loss, correct = 0.0, 0
        for step in range(steps_per_epoch):
            index = permutation[step * config.batch_size : (step + 1) * config.batch_size]
            images, labels = train.images[index], train.labels[index]
            if config.augment:
                images = augment(images, augment_rng)
            if config.resize_augment:
                images = _resize_round_trip(images, augment_rng)
            logits = judge(images.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            running_loss += float(loss.detach())
            correct += int((logits.argmax(1) == labels).sum())
        judge.eval()
        report = accuracy_report(judge, test.images, test.labels)
        seen = steps_per_epoch * config.batch_size
        log(
            f"epoch {epoch + 1}/{config.epochs}: loss {running_loss / steps_per_epoch:.4f} "
            f"train acc {correct / seen:.4f} test acc {report['accuracy']:.4f} "
            f"({time.perf_counter() - started:.0f} s)"
        )
    report["seconds"] = round(time.perf_counter() - started, 1)
    # As a 32x32 generator's images reach it: 28 -> 32 px on loading, 32 -> 28 px in `prepare`.
    test_32 = load_dataset(config.data, 32, channels=1, split="test", path=data_path)
    report["accuracy_at_32px"] = accuracy_report(judge, test_32.images, test_32.labels)["accuracy"]
    report["threads"] = threads
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config.save(out / CONFIG_FILE)
    judge = judge.to(memory_format=torch.contiguous_format)
    state = {name: tensor.contiguous() for name, tensor in judge.state_dict().items()}
    save_tensors(out / WEIGHTS_FILE, state, metadata={"test_accuracy": f"{report['accuracy']:.4f}"})
    report["parameters"] = sum(p.numel() for p in judge.parameters())
    report["file_bytes"] = (out / WEIGHTS_FILE).stat().st_size
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dcgan.classifier", description="Train the Fashion-MNIST judge.")
    parser.add_argument("--out", type=Path, default=JUDGE_DIR, help="folder to write config.json + model.safetensors")
    parser.add_argument("--epochs", type=int, default=ClassifierConfig.epochs, help="passes over the train split")
    parser.add_argument("--seed", type=int, default=0, help="seeds init, data order, augmentation and dropout")
    parser.add_argument("--data-path", type=Path, help="a folder with the four Fashion-MNIST IDX files")
    parser.add_argument("--limit", type=int, help="train on the first N images only (quick checks)")
    args = parser.parse_args(argv)
    try:
        report = train_judge(
            args.out, ClassifierConfig(epochs=args.epochs, seed=args.seed), data_path=args.data_path, limit=args.limit
        )
    except DcganError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
