"""The judges: small CNN classifiers of a labelled dataset's classes. The Fashion-MNIST one's penultimate
layer is the feature space of our metrics; the emoji one reads the emoji sets' 7 coarse categories, so the
explorer's class-based views (direction labels, class vectors, forgetting a class) work on emoji models.

Inception-v3 (the network behind published FIDs) cannot be downloaded here, and it was never a
good judge of 28x28 grey clothing anyway. This classifier is trained on the Fashion-MNIST train
split and shipped in checkpoints/fashion-mnist-judge/ with its card. Its numbers compare our
runs with each other, not with FIDs in papers.

It accepts images in [-1, 1] of any size with 1 or 3 channels: RGB is averaged to grey and
every image is resized to 28x28 (bilinear, antialiased), so 32x32 generators and 28x28 data are
judged alike. A classifier with `channels=3` reads colour instead (emoji categories are told
apart largely by colour: yellow faces) and takes RGB images only. Train them again with

    python -m dcgan.quality.classifier --out checkpoints/fashion-mnist-judge
    python -m dcgan.quality.classifier --data emoji --out checkpoints/emoji-judge

Which classifier reads which dataset is the dataset registry's `classifier` field; `shared_classifier`
loads each folder once for the whole process.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dcgan.data.dataset import ImageDataset
from dcgan.data.faces import FACE_CLASS_ATTRIBUTES
from dcgan.data.idx import FASHION_MNIST_CLASSES
from dcgan.data.loading import augment, has_test_split, load_dataset
from dcgan.data.registry import classifier_name, require_dataset
from dcgan.device import set_threads
from dcgan.errors import DcganError
from dcgan.nets.config import _from_dict, read_json, write_json
from dcgan.nets.latent import cpu_generator
from dcgan.store.model_files import load_state_strict, load_tensors, save_tensors

CHECKPOINTS_DIR = Path(__file__).resolve().parents[2] / "checkpoints"
JUDGE_DIR = CHECKPOINTS_DIR / "fashion-mnist-judge"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class ClassifierConfig:
    """The judge's architecture, and how it was trained (so the run can be repeated)."""

    data: str = "fashion-mnist"
    class_names: list[str] = field(default_factory=lambda: list(FASHION_MNIST_CLASSES))
    image_size: int = 28  # every input is resized to this
    channels: int = 1  # 1: RGB is averaged to grey (any input works); 3: colour, RGB input only
    load_size: int | None = None  # data loaded at this size, then resized like a generator's images (None: image_size)
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
    balance: bool = False  # weight the loss by inverse class frequency (for skewed sets such as emoji)
    holdout: float = 0.2  # share held out to measure (seeded) when the data has no test split
    seed: int = 0
    # Binary attributes the judge reads besides its classes (faces: woman, glasses, smile, beard, hat).
    # An attribute in `attribute_classes` is read off the class probabilities (the summed probability of
    # the classes that have it); one in `head_attributes` has its own sigmoid output, trained on the
    # dataset's `attributes` (an attribute no class name carries, such as a beard).
    attribute_classes: dict[str, list[int]] = field(default_factory=dict)
    head_attributes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.widths) != 3 or min(self.widths) < 1:
            raise DcganError(f"widths must be three positive channel counts, got {self.widths}")
        if self.feature_dim < 1 or self.image_size < 8 or not self.class_names:
            raise DcganError("feature_dim must be positive, image_size at least 8, and class_names non-empty")
        if not 0.0 <= self.dropout < 1.0:
            raise DcganError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.channels not in (1, 3) or not 0.0 < self.holdout < 1.0:
            raise DcganError(f"channels must be 1 or 3 and holdout in (0, 1), got {self.channels}, {self.holdout}")
        classes = range(len(self.class_names))
        if any(not members or not set(members) <= set(classes) for members in self.attribute_classes.values()):
            raise DcganError(f"attribute_classes must name classes 0-{len(self.class_names) - 1}")
        if set(self.attribute_classes) & set(self.head_attributes):
            raise DcganError("an attribute is read either from the classes or from its own output, not both")

    @property
    def attributes(self) -> list[str]:
        """Every binary attribute the judge reads: the class-derived ones, then its own outputs'."""
        return [*self.attribute_classes, *self.head_attributes]

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
            *_conv_bn_relu(self.config.channels, w1),
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
        if self.config.head_attributes:  # absent otherwise: the judges shipped before it load unchanged
            self.attribute_head = nn.Linear(self.config.feature_dim, len(self.config.head_attributes))

    def accepts(self, channels: int) -> bool:
        """Whether images with `channels` channels can be read: a grey judge reads both, a colour one RGB only
        (colour cannot be made up from grey)."""
        return channels in ((1, 3) if self.config.channels == 1 else (3,))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 1 or 3, H, W) in [-1, 1] -> (N, channels, S, S): grey or RGB, at the judge's size S."""
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise DcganError(f"the judge takes (N, 1 or 3, H, W) images, got shape {tuple(images.shape)}")
        if not self.accepts(images.shape[1]):
            raise DcganError(f"this classifier reads RGB images (N, 3, H, W), got shape {tuple(images.shape)}")
        images = images.float()
        if images.shape[1] == 3 and self.config.channels == 1:
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


@torch.inference_mode()
def attribute_probabilities(judge: JudgeClassifier, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """(N, len(judge.config.attributes)) float: the probability of each binary attribute the judge reads
    (columns in `config.attributes`' order); (N, 0) for a judge that reads none."""
    judge.eval()
    config = judge.config
    device = next(judge.parameters()).device
    columns = []
    for part in images.split(batch_size):
        features, logits = judge.features_and_logits(part.to(device))
        probabilities = logits.softmax(1)
        read = [probabilities[:, members].sum(1) for members in config.attribute_classes.values()]
        if config.head_attributes:
            read += list(torch.sigmoid(judge.attribute_head(features)).unbind(1))
        columns.append(torch.stack(read, 1).cpu() if read else torch.zeros(len(part), 0))
    return torch.cat(columns) if columns else torch.zeros(0, len(config.attributes))


def load_judge(path: str | Path = JUDGE_DIR, device: str | torch.device = "cpu") -> JudgeClassifier:
    """The judge in eval mode, from a folder with config.json and model.safetensors."""
    folder = Path(path)
    if not folder.is_dir():
        raise DcganError(
            f"no judge classifier folder at {folder}; train one with python -m dcgan.quality.classifier --out DIR"
        )
    judge = JudgeClassifier(ClassifierConfig.load(folder / CONFIG_FILE))
    load_state_strict(judge, load_tensors(folder / WEIGHTS_FILE), folder / WEIGHTS_FILE)
    return judge.to(device).eval()


_shared: dict[str, JudgeClassifier | None] = {}  # folder name under checkpoints/ -> loaded (None: absent)
_shared_lock = threading.Lock()


def shared_classifier(name: str) -> JudgeClassifier | None:
    """The classifier in checkpoints/<name>/, loaded once per process (the app shares it between visitors);
    None when the folder is missing or does not load."""
    with _shared_lock:  # one load per folder even when several visitors ask at once
        if name not in _shared:
            folder = CHECKPOINTS_DIR / name
            try:
                _shared[name] = load_judge(folder) if (folder / WEIGHTS_FILE).is_file() else None
            except DcganError:
                _shared[name] = None
        return _shared[name]


def classifier_for(data: str) -> JudgeClassifier | None:
    """The shipped classifier the dataset registry names for `data` (a dataset name; paths have none)."""
    name = classifier_name(data)
    return shared_classifier(name) if name else None


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


def accuracy_report(
    judge: JudgeClassifier, images: torch.Tensor, labels: torch.Tensor, attributes: torch.Tensor | None = None
) -> dict[str, Any]:
    """Overall and per-class accuracy of `judge` on labelled images; with `attributes` ((N, k) 0/1 in
    `config.attributes`' order), each attribute's accuracy and share of positives too."""
    predicted = predict(judge, images)
    names = judge.config.class_names
    per_class = {name: float((predicted[labels == index] == index).float().mean()) for index, name in enumerate(names)}
    report = {"accuracy": float((predicted == labels).float().mean()), "per_class": per_class, "n": len(labels)}
    if attributes is not None and judge.config.attributes:
        read = attribute_probabilities(judge, images) > 0.5
        report["per_attribute"] = {
            name: {"accuracy": float((read[:, k] == attributes[:, k].bool()).float().mean()),
                   "positive_share": float(attributes[:, k].float().mean())}
            for k, name in enumerate(judge.config.attributes)
        }  # fmt: skip
    return report


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


def _group_key(text: str) -> str:
    """An emoji without its skin-tone modifiers: the five toned copies of a glyph are one group."""
    return "".join(char for char in text if not 0x1F3FB <= ord(char) <= 0x1F3FF)


def holdout_mask(dataset: ImageDataset, fraction: float, seed: int) -> torch.Tensor:
    """(N,) bool: a seeded `fraction` of the images to hold out, for data without a test split.

    Emoji are split by glyph without skin tones: a random split would put one toned copy in train and its
    near-twin in the held-out set and measure recall of a colour swap, not reading a category."""
    texts = getattr(dataset, "texts", None)
    keys = [_group_key(text) for text in texts] if texts and len(texts) == len(dataset) else list(range(len(dataset)))
    groups = sorted(set(keys), key=str)
    order = torch.randperm(len(groups), generator=cpu_generator(seed)).tolist()
    held_groups = {groups[i] for i in order[: round(fraction * len(groups))]}
    return torch.tensor([key in held_groups for key in keys])


def holdout_split(dataset: ImageDataset, fraction: float, seed: int) -> tuple[ImageDataset, ImageDataset]:
    """(train, held out), split by `holdout_mask`."""
    held = holdout_mask(dataset, fraction, seed)
    return _subset(dataset, ~held), _subset(dataset, held)


def _subset(dataset: ImageDataset, chosen: torch.Tensor) -> ImageDataset:
    """The images `chosen` (a bool mask) selects, with their labels and per-image attributes (faces)."""
    picked = {"images": dataset.images[chosen], "labels": dataset.labels[chosen]}
    if isinstance(getattr(dataset, "attributes", None), dict):
        picked["attributes"] = {name: values[chosen.numpy()] for name, values in dataset.attributes.items()}
    return dataclasses.replace(dataset, **picked)


def attribute_targets(config: ClassifierConfig, dataset: ImageDataset) -> torch.Tensor | None:
    """(N, len(config.attributes)) float 0/1: each image's attributes in the judge's order (the class-derived
    ones from its label), or None for a judge that reads none."""
    if not config.attributes:
        return None
    stored = getattr(dataset, "attributes", None) or {}
    missing = [name for name in config.head_attributes if name not in stored]
    if missing:
        raise DcganError(f"{dataset.name} has no per-image attribute {missing[0]!r} for the judge to learn")
    columns = [torch.isin(dataset.labels, torch.tensor(members)) for members in config.attribute_classes.values()]
    columns += [torch.as_tensor(stored[name]).bool() for name in config.head_attributes]
    return torch.stack(columns, 1).float()


def _train_and_test(
    config: ClassifierConfig, data_path: str | Path | None, limit: int | None
) -> tuple[ImageDataset, ImageDataset]:
    """The train and measuring sets: the test split when the data has one, else a seeded held-out share."""
    size = config.load_size or config.image_size
    if has_test_split(config.data):
        train = load_dataset(config.data, size, channels=config.channels, split="train", path=data_path, limit=limit)
        test = load_dataset(config.data, size, channels=config.channels, split="test", path=data_path)
    else:
        everything = load_dataset(config.data, size, channels=config.channels, path=data_path, limit=limit)
        if everything.labels is None:
            raise DcganError(f"{config.data} has no labels; the judge needs a labelled dataset")
        train, test = holdout_split(everything, config.holdout, config.seed)
    if train.labels is None or test.labels is None:
        raise DcganError(f"{config.data} has no labels; the judge needs a labelled dataset")
    return train, test


def train_judge(
    out: str | Path,
    config: ClassifierConfig | None = None,
    data_path: str | Path | None = None,
    limit: int | None = None,
    log=print,
) -> dict[str, Any]:
    """Train the judge on the train split, test it on the test split (or a held-out share), write
    config.json + model.safetensors.

    Seeded and deterministic: init, data order, augmentation and dropout all come from `config.seed`,
    so the same machine and thread count give the same weights. Returns the test report.
    """
    config = config or ClassifierConfig()
    threads = set_threads()
    train, test = _train_and_test(config, data_path, limit)
    torch.manual_seed(config.seed)  # init and dropout: this is an entry point, so it may seed
    judge = JudgeClassifier(config).to(memory_format=torch.channels_last)
    train_images = train.images
    if config.load_size is not None:
        # resized once as `prepare` resizes a generator's images (at load_size) on every call
        train_images = judge.prepare(train_images)
    # the head's targets (the class-derived attributes follow from the labels); None without a head
    head_targets = None
    if config.head_attributes:
        head_targets = attribute_targets(config, train)[:, len(config.attribute_classes) :]
    class_weight = None
    if config.balance:
        counts = torch.bincount(train.labels, minlength=len(config.class_names)).clamp(min=1).float()
        class_weight = counts.sum() / (len(counts) * counts)
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
            images, labels = train_images[index], train.labels[index]
            if config.augment:
                images = augment(images, augment_rng)
            if config.resize_augment:
                images = _resize_round_trip(images, augment_rng)
            features, logits = judge.features_and_logits(images.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits, labels, weight=class_weight)
            if head_targets is not None:
                loss = loss + F.binary_cross_entropy_with_logits(judge.attribute_head(features), head_targets[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            running_loss += float(loss.detach())
            correct += int((logits.argmax(1) == labels).sum())
        judge.eval()
        report = accuracy_report(judge, test.images, test.labels, attribute_targets(config, test))
        seen = steps_per_epoch * config.batch_size
        log(
            f"epoch {epoch + 1}/{config.epochs}: loss {running_loss / steps_per_epoch:.4f} "
            f"train acc {correct / seen:.4f} test acc {report['accuracy']:.4f} "
            f"({time.perf_counter() - started:.0f} s)"
        )
    report["seconds"] = round(time.perf_counter() - started, 1)
    if has_test_split(config.data):
        # As a 32x32 generator's images reach it: 28 -> 32 px on loading, 32 -> 28 px in `prepare`.
        test_32 = load_dataset(config.data, 32, channels=config.channels, split="test", path=data_path)
        report["accuracy_at_32px"] = accuracy_report(judge, test_32.images, test_32.labels)["accuracy"]
    report["threads"] = threads
    _save_judge(Path(out), config, judge, report)
    return report


def _save_judge(out: Path, config: ClassifierConfig, judge: JudgeClassifier, report: dict[str, Any]) -> None:
    """config.json + model.safetensors (its test accuracy in the metadata); the report gets the sizes."""
    out.mkdir(parents=True, exist_ok=True)
    config.save(out / CONFIG_FILE)
    judge = judge.to(memory_format=torch.contiguous_format)
    state = {name: tensor.contiguous() for name, tensor in judge.state_dict().items()}
    save_tensors(out / WEIGHTS_FILE, state, metadata={"test_accuracy": f"{report['accuracy']:.4f}"})
    report["parameters"] = sum(p.numel() for p in judge.parameters())
    report["file_bytes"] = (out / WEIGHTS_FILE).stat().st_size


# What differs from ClassifierConfig's defaults (the Fashion-MNIST judge) for other datasets.
PRESETS: dict[str, dict[str, Any]] = {
    # 3,880 glyphs, 59% of them people/hands: colour, loaded at the emoji GAN's 64 px and read at 32
    # (as a 64 px generator's images are), more epochs for the small set, a balanced loss.
    "emoji": dict(channels=3, image_size=32, load_size=64, epochs=40, batch_size=64, balance=True),
    # 60,000 rendered faces in 8 balanced classes (gender x glasses x smiling): colour, read at 32 px like emoji;
    # no flips or shifts needed (a big set), a few epochs
    # It also reads the attributes: woman, glasses, smile from its classes, beard and hat from its own outputs.
    "faces": dict(
        channels=3,
        image_size=32,
        load_size=64,
        epochs=6,
        batch_size=128,
        augment=False,
        attribute_classes=FACE_CLASS_ATTRIBUTES,
        head_attributes=["facial_hair", "hat"],
    ),
}


def preset_config(data: str, **overrides: Any) -> ClassifierConfig:
    """The config `python -m dcgan.quality.classifier --data DATA` trains: the preset, the registry's class names."""
    spec = require_dataset(data)
    if not spec.class_names:
        raise DcganError(f"{spec.name} has no class names; a classifier needs a labelled dataset")
    values: dict[str, Any] = {"data": spec.name, "class_names": list(spec.class_names)}
    for name, preset in PRESETS.items():
        if name == spec.name or require_dataset(name).class_names == spec.class_names:
            values.update(preset)  # emoji-no-skin-tones has emoji's classes and takes its preset
            break
    return ClassifierConfig(**{**values, **overrides})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dcgan.quality.classifier", description="Train a judge classifier.")
    parser.add_argument("--data", default="fashion-mnist", help="a labelled registered dataset (fashion-mnist, emoji)")
    parser.add_argument(
        "--out",
        type=Path,
        help="folder to write config.json + model.safetensors "
        "(default: checkpoints/<the classifier the dataset registry names>)",
    )
    parser.add_argument("--epochs", type=int, help="passes over the train split (default: the data's preset)")
    parser.add_argument("--seed", type=int, default=0, help="seeds init, data order, augmentation and dropout")
    parser.add_argument("--data-path", type=Path, help="where the data's files are (Fashion-MNIST: its IDX folder)")
    parser.add_argument("--limit", type=int, help="train on the first N images only (quick checks)")
    args = parser.parse_args(argv)
    try:
        overrides = {"seed": args.seed, **({"epochs": args.epochs} if args.epochs is not None else {})}
        config = preset_config(args.data, **overrides)
        out = args.out or CHECKPOINTS_DIR / (classifier_name(config.data) or f"{config.data}-judge")
        report = train_judge(out, config, data_path=args.data_path, limit=args.limit)
    except DcganError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
