"""The feature spaces our metrics are measured in: a judge classifier's penultimate layer, or a randomly
initialised but fixed (seeded) CNN; and extracting features a batch at a time (dcgan/quality/metrics.py
says which space to trust for which data)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from torch import nn
from tqdm import tqdm

from dcgan.data.registry import classifier_name, uses_judge
from dcgan.errors import DcganError
from dcgan.quality.classifier import CHECKPOINTS_DIR, JUDGE_DIR, WEIGHTS_FILE, judge_id, load_judge

# ----------------------------------------------------------------------------- feature spaces


@runtime_checkable
class FeatureExtractor(Protocol):
    """images (N, C, H, W) in [-1, 1] -> features (N, D), and class logits (N, K) or None."""

    name: str  # names the feature space in reports and cache keys (the judge's includes its weights' hash)
    class_names: list[str] | None  # the classes of the logits; None when the extractor is not a classifier

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]: ...


class JudgeFeatures:
    """The Fashion-MNIST judge: penultimate-layer features and its class logits."""

    def __init__(self, judge: nn.Module, name: str):
        self.judge, self.name = judge.eval(), name
        self.class_names = list(judge.config.class_names)
        self.data = judge.config.data  # class coverage is only meaningful on this dataset

    @classmethod
    def load(cls, path: str | Path | None = None) -> JudgeFeatures:
        path = Path(path or JUDGE_DIR)
        return cls(load_judge(path), judge_id(path))

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.judge.features_and_logits(images)


class RandomFeatures(nn.Module):
    """A randomly initialised, never trained CNN with fixed (seeded) weights: the "random network"
    feature space for data without a domain classifier.

    Images are made RGB (grey repeated) and resized to 64x64; four 3x3 stride-2 convs with
    LeakyReLU(0.2) (He-initialised, so activations neither vanish nor explode), then a global
    average pool: 256 features. Numbers in this space compare runs with each other only.
    """

    def __init__(self, seed: int = 0, width: int = 32, image_size: int = 64):
        super().__init__()
        self.name = f"random-cnn-w{width}-{image_size}px-seed{seed}"
        self.class_names, self.image_size = None, image_size
        widths = [3, width, width * 2, width * 4, width * 8]
        layers: list[nn.Module] = []
        for in_ch, out_ch in zip(widths, widths[1:], strict=False):
            layers += [nn.Conv2d(in_ch, out_ch, 3, 2, 1), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for module in self.net:
                if isinstance(module, nn.Conv2d):
                    fan_in = module.in_channels * 9
                    std = math.sqrt(2.0 / (1 + 0.2**2) / fan_in)
                    module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                    module.bias.zero_()
        self.requires_grad_(False).eval()

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        images = images.float()
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        size = (self.image_size, self.image_size)
        if images.shape[-2:] != size:
            images = nn.functional.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
        return self.net(images), None


def feature_extractor(
    kind: str = "auto", data: str = "fashion-mnist", judge_path: str | Path | None = None
) -> FeatureExtractor:
    """The judge (the dataset registry's classifier for `data` when it has one, else the Fashion-MNIST judge),
    random-network features, or ("auto") the judge where the registry says it applies (Fashion-MNIST) and
    random ones otherwise."""
    if kind == "auto":
        kind = "judge" if uses_judge(str(data)) else "random"
    if kind == "judge":
        # the data's own judge (faces: faces-judge), else the Fashion-MNIST one
        own = classifier_name(str(data))
        if judge_path is None and own and (CHECKPOINTS_DIR / own / WEIGHTS_FILE).is_file():
            judge_path = CHECKPOINTS_DIR / own
        return JudgeFeatures.load(judge_path)
    if kind == "random":
        return RandomFeatures()
    raise DcganError(f'features must be "auto", "judge" or "random", got {kind!r}')


def progress(batches: Iterable, what: str, items: int, batch_size: int) -> Iterable:
    """`batches` with a progress bar in a terminal (`dcgan eval` takes a minute or more); nothing in a log file,
    a test or the app (tqdm's disable=None: off when stderr is not a terminal). The bar goes when it is done."""
    return tqdm(batches, desc=what, total=-(-items // batch_size), unit="batch", leave=False, disable=None)


@torch.inference_mode()
def extract(
    extractor: FeatureExtractor, images: torch.Tensor, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(N, D) float32 features and (N,) int64 predicted classes (None without a classifier), on the CPU."""
    features, predictions = [], []
    for part in progress(images.split(batch_size), "features", len(images), batch_size):
        part_features, logits = extractor(part)
        features.append(part_features.float().cpu())
        if logits is not None:
            predictions.append(logits.argmax(1).cpu())
    dim = features[0].shape[1] if features else 0
    return (torch.cat(features) if features else torch.empty(0, dim)), (torch.cat(predictions) if predictions else None)
