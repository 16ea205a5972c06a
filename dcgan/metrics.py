"""Quality numbers for a generator: FID, KID, precision/recall, class coverage, memorisation.

Every number is measured in a feature space, and which one matters:

- Fashion-MNIST: the judge (dcgan/classifier.py), a small CNN trained on the Fashion-MNIST train
  split; its 128-d penultimate layer replaces Inception-v3, which cannot be downloaded here and
  was never meant for 28x28 grey clothing. Its predictions give the class coverage.
- Anything else (MNIST, image folders, emoji): a randomly initialised but fixed (seeded) CNN,
  the "random network" features of the literature (e.g. Naeem et al. 2020). It has no notion
  of what the images show, so these numbers compare runs with each other, on the same data,
  never with numbers in papers. No classifier, so no class coverage.

Both kinds of FID here are on a different scale from Inception FIDs: compare our numbers only with
our numbers, and always beside the real-vs-real floor (a train subset against the test split, with
the same n), which is what a perfect generator would score.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from safetensors import safe_open
from torch import nn
from tqdm import tqdm

from .checkpoints import load_generator, load_tensors, save_tensors
from .classifier import (
    CHECKPOINTS_DIR,
    JUDGE_DIR,
    WEIGHTS_FILE,
    attribute_probabilities,
    classifier_for,
    judge_id,
    load_judge,
)
from .data import cache_dir, classifier_name, has_test_split, load_dataset, uses_judge
from .errors import DcganError
from .latent import generate, sample_noise

METRICS_VERSION = 1  # part of every cache key: bump it when a computation changes
MEMORISATION_PERCENTILE = 1.0


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


# ----------------------------------------------------------------------------- FID and KID


def _float64(values: torch.Tensor | np.ndarray) -> torch.Tensor:
    # All linear algebra runs in torch: numpy's OpenBLAS threads and torch's OpenMP threads
    # spin against each other in one process, which made a 256x256 eigh 40x slower here.
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


def gaussian_fit(features: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and covariance (D, D) in float64."""
    values = _float64(features)
    if values.dim() != 2 or len(values) < 2:
        raise ValueError(f"need at least two (N, D) feature rows, got shape {tuple(values.shape)}")
    return values.mean(0), torch.cov(values.T)


def frechet_distance(
    mu1: torch.Tensor | np.ndarray,
    sigma1: torch.Tensor | np.ndarray,
    mu2: torch.Tensor | np.ndarray,
    sigma2: torch.Tensor | np.ndarray,
) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), in float64.

    tr((S1 S2)^(1/2)) = tr((A S2 A)^(1/2)) with A = S1^(1/2): A S2 A is symmetric positive
    semi-definite, so both roots come from `eigh` (real eigenvalues, clipped at 0), which is
    exact and stable where a general sqrtm of the non-symmetric S1 S2 can return complex noise.
    """
    mu1, mu2 = _float64(mu1).reshape(-1), _float64(mu2).reshape(-1)
    sigma1, sigma2 = _float64(sigma1).reshape(len(mu1), -1), _float64(sigma2).reshape(len(mu2), -1)
    values, vectors = torch.linalg.eigh((sigma1 + sigma1.T) / 2)
    root1 = (vectors * values.clamp_min(0).sqrt()) @ vectors.T
    middle = root1 @ sigma2 @ root1
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    diff = mu1 - mu2
    distance = diff @ diff + sigma1.trace() + sigma2.trace() - 2 * trace_root
    return max(float(distance), 0.0)  # rounding can leave -1e-12 for identical fits


def fid(features_a: torch.Tensor | np.ndarray, features_b: torch.Tensor | np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of two (N, D) feature sets."""
    return frechet_distance(*gaussian_fit(features_a), *gaussian_fit(features_b))


def kid(
    features_a: torch.Tensor | np.ndarray,
    features_b: torch.Tensor | np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018): mean and std over random subsets of the
    unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3.

    Unbiased: the mean is ~0 for two samples of one distribution (single subsets may be negative).
    """
    a = torch.as_tensor(np.asarray(features_a, np.float64))
    b = torch.as_tensor(np.asarray(features_b, np.float64))
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError("KID needs at least two samples on each side")
    rng = np.random.default_rng(seed)
    dim = a.shape[1]

    def kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        base = x @ y.T / dim + 1
        return base * base * base  # (x.y / D + 1)^3; a product is faster than pow

    estimates = np.empty(subsets)
    for index in range(subsets):
        x = a[torch.from_numpy(rng.choice(len(a), size, replace=False))]
        y = b[torch.from_numpy(rng.choice(len(b), size, replace=False))]
        k_xx, k_yy = kernel(x, x), kernel(y, y)
        within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (size * (size - 1))
        estimates[index] = float(within - 2 * kernel(x, y).mean())
    return float(estimates.mean()), float(estimates.std())


# ----------------------------------------------------------------------------- nearest neighbours


def _squared_distances(queries: torch.Tensor, references: torch.Tensor, reference_norms: torch.Tensor) -> torch.Tensor:
    """(Q, R) squared Euclidean distances via one matmul (clamped: rounding can go below 0)."""
    query_norms = (queries * queries).sum(1, keepdim=True)
    return (query_norms + reference_norms - 2 * queries @ references.T).clamp_min_(0)


def nearest_neighbours(
    queries: torch.Tensor,
    references: torch.Tensor,
    k: int = 1,
    batch_size: int = 512,
    self_indices: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k nearest reference rows of each query row: distances (Q, k) and indices (Q, k), nearest first.

    Rows are flattened, so images (N, C, H, W) work too. `self_indices[i]` names a reference to skip
    for query i (leave-one-out when queries are references). Batched: memory is batch_size x R.
    For k=1 the distance is recomputed directly from the pair, so an exact copy is exactly 0.
    """
    queries, references = queries.flatten(1).float(), references.flatten(1).float()
    reference_norms = (references * references).sum(1)[None]
    all_distances, all_indices = [], []
    for start in progress(range(0, len(queries), batch_size), "nearest neighbours", len(queries), batch_size):
        block = _squared_distances(queries[start : start + batch_size], references, reference_norms)
        if self_indices is not None:
            rows = torch.arange(len(block))
            block[rows, self_indices[start : start + batch_size]] = float("inf")
        distances, indices = block.topk(k, dim=1, largest=False)
        all_distances.append(distances.sqrt())
        all_indices.append(indices)
    distances, indices = torch.cat(all_distances), torch.cat(all_indices)
    if k == 1 and len(queries):
        exact = (queries.double() - references[indices[:, 0]].double()).norm(dim=1)
        distances = exact[:, None].float()
    return distances, indices


def precision_recall(
    real: torch.Tensor | np.ndarray, fake: torch.Tensor | np.ndarray, k: int = 3, batch_size: int = 1000
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) on k-NN manifolds.

    Each sample gets a ball reaching its k-th nearest neighbour in its own set. Precision: the
    fraction of fake samples inside some real ball (are fakes realistic?). Recall: the fraction of
    real samples inside some fake ball (is all of the data covered?). A collapsed generator keeps
    precision and loses recall.
    """
    real, fake = torch.as_tensor(real).float(), torch.as_tensor(fake).float()
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    real_radii = _kth_neighbour_distance(real, k, batch_size)
    fake_radii = _kth_neighbour_distance(fake, k, batch_size)
    precision = _inside_any_ball(fake, real, real_radii, batch_size).float().mean()
    recall = _inside_any_ball(real, fake, fake_radii, batch_size).float().mean()
    return float(precision), float(recall)


def _kth_neighbour_distance(points: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    distances, _ = nearest_neighbours(points, points, k, batch_size, self_indices=torch.arange(len(points)))
    return distances[:, -1]


def _inside_any_ball(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, batch_size: int) -> torch.Tensor:
    centre_norms = (centres * centres).sum(1)[None]
    squared_radii = (radii * radii)[None]
    inside = [
        (_squared_distances(points[start : start + batch_size], centres, centre_norms) <= squared_radii).any(1)
        for start in range(0, len(points), batch_size)
    ]
    return torch.cat(inside)


# ----------------------------------------------------------------------------- coverage and memorisation


def class_coverage(predictions: torch.Tensor, class_names: list[str]) -> dict[str, Any]:
    """Histogram of predicted classes and its KL divergence to uniform, in nats.

    KL(p || uniform) = sum p log(p K) = log K - H(p): 0 when every class is equally common,
    log K (2.30 for ten classes) when every sample is one class.
    """
    classes = len(class_names)
    counts = torch.bincount(torch.as_tensor(predictions).long(), minlength=classes)[:classes].double()
    fractions = counts / counts.sum().clamp_min(1)
    nonzero = fractions[fractions > 0]
    kl = float((nonzero * torch.log(nonzero * classes)).sum())
    return {
        "classes": list(class_names),
        "counts": [int(count) for count in counts],
        "fractions": [round(float(fraction), 5) for fraction in fractions],
        "kl_to_uniform": kl,
        "missing": [name for name, count in zip(class_names, counts, strict=True) if count == 0],
    }


def memorisation_flags(
    sample_distances: torch.Tensor, heldout_distances: torch.Tensor, percentile: float = MEMORISATION_PERCENTILE
) -> tuple[torch.Tensor, float]:
    """Which samples sit closer to their nearest training image than held-out real images do.

    The rule: `heldout_distances` are the distances from real images the generator never saw (the
    test split) to their nearest training image. Only `percentile`% of them fall below the threshold
    (the `percentile`-th percentile), so a generator that draws fresh images from the data
    distribution has about that fraction flagged; copies of training images (distance ~0) are always
    flagged. A flagged fraction well above `percentile`% means memorisation. Returns the (N,) bool
    flags and the threshold.
    """
    threshold = float(np.percentile(heldout_distances.double().numpy(), percentile))
    return sample_distances.reshape(-1) < threshold, threshold


# ----------------------------------------------------------------------------- evaluate


@dataclass
class RealImages:
    """The real side of an evaluation, at the model's size and channels."""

    pool: torch.Tensor  # (N, C, H, W) every training image: where nearest neighbours are searched
    test: torch.Tensor  # (M, C, H, W) held-out images: the model and the floor are compared with these
    floor_index: torch.Tensor  # (<= n,) pool rows for the floor's real sample (never in `test`)
    test_in_pool: torch.Tensor | None  # (M,) pool row of each test image, when the test images are in the pool
    name: str
    note: str


def load_real_images(data: str, nc: int, image_size: int, n: int, seed: int = 0) -> RealImages:
    """IDX data: the train split is the pool, up to n test images are held out, n train images make the floor.

    An image folder has one split and the generator saw all of it: a seeded random half (at most n)
    is held out as the "test" side, the floor takes its real sample from the other half, and the
    neighbour pool is the whole folder (held-out images then skip themselves).
    """
    pool = load_dataset(data, image_size, channels=None, split="train")
    channels = pool.images.shape[1]
    if channels != nc:
        kinds = {1: "grayscale", 3: "RGB"}
        raise DcganError(
            f"the model makes {nc}-channel ({kinds[nc]}) images but {data} is {channels}-channel "
            f"({kinds[channels]}): evaluate a model against the data it was trained on"
        )
    rng = torch.Generator().manual_seed(seed)
    if has_test_split(str(data)):
        test = load_dataset(data, image_size, channels=None, split="test").images
        test = test[torch.randperm(len(test), generator=rng)[:n].sort().values] if n < len(test) else test
        floor_index = torch.randperm(len(pool), generator=rng)[:n].sort().values
        return RealImages(pool.images, test, floor_index, None, pool.name, "train split vs test split")
    if len(pool) < 2 * (MIN_REAL + 1):
        raise DcganError(f"{data} holds {len(pool)} images; evaluating needs at least {2 * (MIN_REAL + 1)}")
    order = torch.randperm(len(pool), generator=rng)
    half = len(pool) // 2
    test_in_pool = order[: min(n, half)].sort().values
    floor_index = order[half:][:n].sort().values
    note = "one folder: a random half held out (the generator saw it too)"
    return RealImages(pool.images, pool.images[test_in_pool], floor_index, test_in_pool, pool.name, note)


MIN_REAL = 4  # precision/recall with k=3 need more than 3 points per set


@dataclass
class RealStatistics:
    """Everything about the real side that does not depend on the generator (cached)."""

    pool_features: torch.Tensor  # (N, D): the feature-space neighbour pool
    test_features: torch.Tensor  # (M, D)
    test_predictions: torch.Tensor | None  # (M,) the extractor's classes, when it is a classifier
    heldout_pixel: torch.Tensor  # (M,) distance from each test image to its nearest training image
    heldout_feature: torch.Tensor  # (M,) the same in feature space
    floor: dict[str, float]  # fid, kid, kid_std, precision, recall of floor images vs test images


def real_statistics(
    extractor: FeatureExtractor,
    real: RealImages,
    k: int = 3,
    kid_subsets: int = 100,
    seed: int = 0,
    batch_size: int = 500,
    cache: bool = True,
    log: Callable[[str], None] = lambda message: None,
) -> RealStatistics:
    """Features of the real images, the real-vs-real floor and the held-out neighbour distances."""
    key = _cache_key(extractor.name, real, k, kid_subsets, seed)
    path = cache_dir() / "metrics" / f"{key}.safetensors"
    if cache and path.is_file():
        try:
            tensors = load_tensors(path)
            with safe_open(str(path), "pt") as handle:
                floor = json.loads(handle.metadata()["floor"])
            log(f"real-side statistics from the cache: {path}")
            return RealStatistics(
                tensors["pool_features"],
                tensors["test_features"],
                tensors.get("test_predictions"),
                tensors["heldout_pixel"],
                tensors["heldout_feature"],
                floor,
            )
        except (DcganError, KeyError, json.JSONDecodeError):
            log(f"ignoring an unreadable cache file {path}")
    log(f"features of {len(real.pool)} training and {len(real.test)} held-out images")
    pool_features, _ = extract(extractor, real.pool, batch_size)
    test_features, test_predictions = extract(extractor, real.test, batch_size)
    log("held-out nearest training neighbours (the memorisation baseline)")
    heldout_pixel = nearest_neighbours(real.test, real.pool, self_indices=real.test_in_pool)[0][:, 0]
    heldout_feature = nearest_neighbours(test_features, pool_features, self_indices=real.test_in_pool)[0][:, 0]
    log("the real-vs-real floor")
    floor_features = pool_features[real.floor_index]
    kid_mean, kid_std = kid(test_features, floor_features, kid_subsets, seed=seed)
    precision, recall = precision_recall(test_features, floor_features, k)
    floor = {
        "n_real": len(floor_features),
        "fid": fid(test_features, floor_features),
        "kid": kid_mean,
        "kid_std": kid_std,
        "precision": precision,
        "recall": recall,
    }
    statistics = RealStatistics(pool_features, test_features, test_predictions, heldout_pixel, heldout_feature, floor)
    if cache:
        tensors = {
            "pool_features": pool_features,
            "test_features": test_features,
            "heldout_pixel": heldout_pixel,
            "heldout_feature": heldout_feature,
        }
        if test_predictions is not None:
            tensors["test_predictions"] = test_predictions
        try:
            save_tensors(path, tensors, metadata={"floor": json.dumps(floor)})
        except OSError as error:
            log(f"could not write the cache {path}: {error}")
    return statistics


def _cache_key(extractor_name: str, real: RealImages, k: int, kid_subsets: int, seed: int) -> str:
    """A hash of everything the real-side statistics depend on, the images' bytes included."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps([METRICS_VERSION, extractor_name, k, kid_subsets, seed]).encode())
    for tensor in (real.pool, real.test, real.floor_index):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().data)
    if real.test_in_pool is not None:
        digest.update(real.test_in_pool.numpy().data)
    return digest.hexdigest()


def evaluate(
    generator: nn.Module | str | Path,
    data: str = "fashion-mnist",
    n: int = 10000,
    seed: int = 0,
    features: str | FeatureExtractor = "auto",
    k: int = 3,
    percentile: float = MEMORISATION_PERCENTILE,
    kid_subsets: int = 100,
    batch_size: int = 500,
    cache: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every metric in METRICS for `generator` (a Generator, or a model folder / Hub id) against `data`'s
    held-out images.

    n samples come from dcgan.latent.sample_noise(seed=seed) through dcgan.latent.generate. The
    real-vs-real floor compares n training images with the same held-out images; it is what a
    generator that reproduced the data distribution exactly would score at this n. The real side is
    cached in dcgan.data.cache_dir() / "metrics", keyed by the images' bytes, the feature space, n and seed.
    """
    log = log or (lambda message: None)
    started = time.perf_counter()
    if n <= MIN_REAL:
        raise DcganError(f"n must be more than {MIN_REAL} (precision/recall use k={k} neighbours), got {n}")
    model_name = str(generator) if isinstance(generator, (str, Path)) else type(generator).__name__
    if isinstance(generator, (str, Path)):
        generator = load_generator(generator, device="cpu")
    config = generator.config
    extractor = feature_extractor(features, data) if isinstance(features, str) else features
    real = load_real_images(data, config.nc, config.image_size, n, seed)
    log(f"{real.name}: {len(real.pool)} training images, {len(real.test)} held out; features: {extractor.name}")
    stats = real_statistics(extractor, real, k, kid_subsets, seed, batch_size, cache, log)

    log(f"generating {n} samples")
    fake = generate(generator, sample_noise(n, config.nz, config.noise, seed=seed), batch_size=batch_size)
    fake_features, fake_predictions = extract(extractor, fake, batch_size)
    measured = Measured(extractor, real, stats, fake, fake_features, fake_predictions, k, percentile, kid_subsets, seed)
    result: dict[str, Any] = {
        "model": model_name,
        "data": real.name,
        "split": real.note,
        "n": n,
        "n_real_test": len(real.test),
        "seed": seed,
        "features": extractor.name,
    }
    floor = dict(stats.floor)
    for metric in METRICS:
        if metric.announce:
            log(metric.announce)
        result.update(metric.compute(measured))
        if metric.floor is not None:
            floor.update(metric.floor(measured))
    result["floor"] = floor
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def table_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(metric, model, real-vs-real floor) rows of an evaluate() result, as formatted text.

    Rows of a metric the result lacks (an older result file, or no classifier) are left out."""
    rows = []
    for metric in METRICS:
        for row in metric.rows:
            try:
                model = row.model(result)
            except KeyError:
                continue
            if model is not None:
                rows.append((row.title(result), row.show(model), row.show(row.floor(result))))
    return rows


def format_table(result: dict[str, Any]) -> str:
    """The model's numbers beside the real-vs-real floor, as plain text."""
    floor, coverage = result["floor"], result["class_coverage"]
    rows = table_rows(result)
    header = ("metric", f"model (n={result['n']})", f"real vs real (n={floor['n_real']})")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    lines = [
        f"{result['model']} on {result['data']} ({result['split']}; {result['n_real_test']} held-out images)",
        f"features: {result['features']}; seed {result['seed']}",
        "",
    ]
    for index, row in enumerate([header, *rows]):
        lines.append(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}")
        if index == 0:
            lines.append("-" * (sum(widths) + 4))
    if coverage is not None:
        shares = ", ".join(
            f"{name} {share:.1%}" for name, share in zip(coverage["classes"], coverage["fractions"], strict=True)
        )
        lines += ["", f"class shares of the samples: {shares}"]
        if coverage["missing"]:
            lines.append(f"classes never generated: {', '.join(coverage['missing'])}")
    if result.get("attribute_shares"):
        lines += [
            "",
            "attributes the data's judge reads (probability > 0.5):",
            *attribute_table(result["attribute_shares"]),
        ]
    if not result["features"].startswith("judge"):
        lines += ["", "random-network features: compare these numbers with other runs on this data, not with papers"]
    lines.append(f"\n{result['seconds']:.0f} s")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the metrics, declared once
#
# evaluate() writes each metric's entries into its result (in METRICS order: the JSON files keep their
# key order), table_rows() and format_table() show each metric's rows, and model cards read those rows.
# A new metric is one entry here. The JSON keys are a format: shipped eval.json files and model
# cards use them, so a metric's keys never change.


class Measured:
    """What evaluate() has when the metrics are computed; shared work (KID subsets, neighbour searches)
    is done once, on first use, whichever metric asks first."""

    def __init__(
        self,
        extractor: FeatureExtractor,
        real: RealImages,
        stats: RealStatistics,
        fake: torch.Tensor,
        fake_features: torch.Tensor,
        fake_predictions: torch.Tensor | None,
        k: int,
        percentile: float,
        kid_subsets: int,
        seed: int,
    ):
        self.extractor, self.real, self.stats = extractor, real, stats
        self.fake = fake  # (n, C, H, W) the generated samples
        self.fake_features, self.fake_predictions = fake_features, fake_predictions  # (n, D), (n,) or None
        self.k, self.percentile, self.kid_subsets, self.seed = k, percentile, kid_subsets, seed

    @cached_property
    def kid(self) -> tuple[float, float]:
        return kid(self.stats.test_features, self.fake_features, self.kid_subsets, seed=self.seed)

    @cached_property
    def precision_recall(self) -> tuple[float, float]:
        return precision_recall(self.stats.test_features, self.fake_features, self.k)

    @cached_property
    def pixel_neighbours(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, 1) distances and indices of each sample's nearest training image, in pixels."""
        return nearest_neighbours(self.fake, self.real.pool)

    @cached_property
    def feature_neighbours(self) -> tuple[torch.Tensor, torch.Tensor]:
        return nearest_neighbours(self.fake_features, self.stats.pool_features)

    @property
    def classifies_this_data(self) -> bool:
        """Class coverage needs a classifier trained on the data being evaluated."""
        return self.fake_predictions is not None and getattr(self.extractor, "data", None) == self.real.name


@dataclass(frozen=True)
class Row:
    """One line of the table: a label, and where the model's and the floor's values sit in a result."""

    label: str  # may name {k} and {percentile}, filled from the result
    model: Callable[[dict[str, Any]], Any]  # the value from an evaluate() result; None leaves the row out
    floor: Callable[[dict[str, Any]], Any]  # the real-vs-real value from the same result
    show: Callable[[Any], str]  # value -> text
    better: str | None = None  # "lower", "higher", or None (no direction: e.g. a distance to compare with the floor)

    def title(self, result: dict[str, Any]) -> str:
        memorisation = result.get("memorisation") or {}
        return self.label.format(k=result.get("k"), percentile=memorisation.get("percentile", MEMORISATION_PERCENTILE))


@dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[[Measured], dict[str, Any]]  # -> its entries of evaluate()'s result
    rows: tuple[Row, ...]
    floor: Callable[[Measured], dict[str, Any]] | None = None  # -> its entries of result["floor"], if any
    announce: str | None = None  # logged before it is computed (slow ones say what the wait is for)


def number(spec: str, scale: float = 1.0) -> Callable[[Any], str]:
    """A value formatter: number(".3f") or number(".2%")."""
    return lambda value: f"{value * scale:{spec}}"


def scalar_metric(
    key: str,
    compute: Callable[[Measured], float],
    label: str,
    spec: str = ".3f",
    better: str | None = None,
    floor: Callable[[Measured], float] | None = None,
) -> Metric:
    """The common case: one number under `key`, one row (the floor column is blank without `floor`)."""
    return Metric(
        key,
        lambda measured: {key: compute(measured)},
        (Row(label, itemgetter(key), lambda result: result["floor"].get(key), _or_blank(number(spec)), better),),
        (lambda measured: {key: floor(measured)}) if floor else None,
    )


def _or_blank(show: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda value: "" if value is None else show(value)


def _kid_text(pair: tuple[float, float]) -> str:
    return f"{pair[0] * 1000:.3f} ± {pair[1] * 1000:.3f}"


def _coverage(measured: Measured) -> dict[str, Any]:
    if not measured.classifies_this_data:
        return {"class_coverage": None}
    return {"class_coverage": class_coverage(measured.fake_predictions, measured.extractor.class_names)}


def _coverage_floor(measured: Measured) -> dict[str, Any]:
    if not measured.classifies_this_data:
        return {}
    floor = class_coverage(measured.stats.test_predictions, measured.extractor.class_names)
    return {"class_kl_to_uniform": floor["kl_to_uniform"]}


def attribute_shares(judge: nn.Module, samples: torch.Tensor, data: torch.Tensor) -> dict[str, Any]:
    """Each binary attribute the judge reads (faces: woman, glasses, smile, beard, hat): the share of the
    samples it reads as having it beside the same share of real images. Does the model draw glasses as
    often as the data has them?"""
    with torch.inference_mode():
        shares = [(attribute_probabilities(judge, images) > 0.5).float().mean(0).tolist() for images in (samples, data)]
    return {
        "attributes": list(judge.config.attributes),
        "samples": shares[0],
        "data": shares[1],
        "rule": "the data's judge reads the attribute with probability > 0.5",
    }


def _attribute_shares(measured: Measured) -> dict[str, Any]:
    """Whatever the feature space, the attributes are read by the data's own judge, when it reads any."""
    judge = classifier_for(measured.real.name)
    if judge is None or not judge.config.attributes or not judge.accepts(measured.fake.shape[1]):
        return {"attribute_shares": None}
    return {"attribute_shares": attribute_shares(judge, measured.fake, measured.real.test)}


def attribute_table(shares: dict[str, Any], markdown: bool = False) -> list[str]:
    """Lines of a table: attribute, its share in the samples, its share in the held-out data."""
    rows = list(zip(shares["attributes"], shares["samples"], shares["data"], strict=True))
    if markdown:
        lines = ["| attribute | share of samples | share of held-out data |", "|---|---|---|"]
        return lines + [f"| {name} | {model:.1%} | {data:.1%} |" for name, model, data in rows]
    width = max(len("attribute"), *(len(name) for name, _, _ in rows))
    lines = [f"{'attribute':<{width}}  {'samples':>8}  {'data':>8}", "-" * (width + 20)]
    return lines + [f"{name:<{width}}  {model:>8.1%}  {data:>8.1%}" for name, model, data in rows]


def _memorisation(measured: Measured) -> dict[str, Any]:
    stats, percentile = measured.stats, measured.percentile
    pixel_distance, pixel_index = measured.pixel_neighbours
    feature_distance, feature_index = measured.feature_neighbours
    pixel_flags, pixel_threshold = memorisation_flags(pixel_distance, stats.heldout_pixel, percentile)
    feature_flags, feature_threshold = memorisation_flags(feature_distance, stats.heldout_feature, percentile)
    either = pixel_flags | feature_flags
    closest = torch.argsort(pixel_distance[:, 0] / max(pixel_threshold, 1e-12))[:8]
    memorisation = {
        "rule": f"a sample is flagged when it is closer to its nearest training image than "
        f"{100 - percentile:g}% of held-out real images are to theirs (pixel or feature space)",
        "percentile": percentile,
        "threshold_pixel": pixel_threshold,
        "threshold_feature": feature_threshold,
        "fraction_pixel": float(pixel_flags.float().mean()),
        "fraction_feature": float(feature_flags.float().mean()),
        "fraction_either": float(either.float().mean()),
        "median_nn_pixel": float(pixel_distance.median()),
        "median_nn_feature": float(feature_distance.median()),
        "closest_samples": [
            {
                "sample": int(i),
                "pixel_distance": float(pixel_distance[i, 0]),
                "train_index_pixel": int(pixel_index[i, 0]),
                "feature_distance": float(feature_distance[i, 0]),
                "train_index_feature": int(feature_index[i, 0]),
                "flagged": bool(either[i]),
            }
            for i in closest
        ],
    }
    return {"memorisation": memorisation}


def _memorisation_floor(measured: Measured) -> dict[str, Any]:
    return {
        "memorised_fraction": measured.percentile / 100,  # true of held-out images by the rule's construction
        "median_nn_pixel": float(measured.stats.heldout_pixel.median()),
        "median_nn_feature": float(measured.stats.heldout_feature.median()),
    }


def _floor(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda result: result["floor"][key]


def _memo(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda result: result["memorisation"][key]


METRICS: list[Metric] = [
    Metric(
        "FID",
        lambda measured: {"fid": fid(measured.stats.test_features, measured.fake_features)},
        (Row("FID (lower is better)", itemgetter("fid"), _floor("fid"), number(".3f"), "lower"),),
        announce="FID, KID, precision and recall",
    ),
    Metric(
        "KID",
        lambda measured: dict(zip(("kid", "kid_std"), measured.kid, strict=True)),
        (
            Row(
                "KID x 1000",
                itemgetter("kid", "kid_std"),
                lambda r: (r["floor"]["kid"], r["floor"]["kid_std"]),
                _kid_text,
                "lower",
            ),
        ),
    ),
    Metric(
        "precision and recall",
        lambda measured: {
            **dict(zip(("precision", "recall"), measured.precision_recall, strict=True)),
            "k": measured.k,
        },
        (
            Row("precision (k={k})", itemgetter("precision"), _floor("precision"), number(".3f"), "higher"),
            Row("recall (k={k})", itemgetter("recall"), _floor("recall"), number(".3f"), "higher"),
        ),
    ),
    Metric(
        "class coverage",
        _coverage,
        (
            Row(
                "class KL to uniform (nats)",
                lambda result: (result["class_coverage"] or {}).get("kl_to_uniform"),
                _floor("class_kl_to_uniform"),
                number(".4f"),
                "lower",
            ),
        ),
        _coverage_floor,
    ),
    Metric(
        "nearest training neighbours (memorisation)",
        _memorisation,
        (
            Row(
                "memorised, pixel (<{percentile:g}th pct)",
                _memo("fraction_pixel"),
                _floor("memorised_fraction"),
                number(".2%"),
                "lower",
            ),
            Row("memorised, feature", _memo("fraction_feature"), _floor("memorised_fraction"), number(".2%"), "lower"),
            Row("median NN distance, pixel", _memo("median_nn_pixel"), _floor("median_nn_pixel"), number(".3f")),
            Row("median NN distance, feature", _memo("median_nn_feature"), _floor("median_nn_feature"), number(".3f")),
        ),
        _memorisation_floor,
        announce="nearest training neighbours",
    ),
    Metric("attribute shares", _attribute_shares, (), announce="attribute shares (the data's judge)"),
]
