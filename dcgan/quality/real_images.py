"""The real side of every metric: held-out and training images of a model's data, their features and the
real-vs-real floor, cached on disk (keyed by METRICS_VERSION, the feature space and the sizes), so that a
second `dcgan eval` of the same data costs only the generated side."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import torch
from safetensors import safe_open

from dcgan.data.dataset import cache_dir
from dcgan.data.loading import has_test_split, load_dataset
from dcgan.errors import DcganError
from dcgan.quality.distances import fid, kid, nearest_neighbours, precision_recall
from dcgan.quality.feature_spaces import FeatureExtractor, extract
from dcgan.store.model_files import load_tensors, save_tensors

METRICS_VERSION = 1  # part of every cache key: bump it when a computation changes


# ----------------------------------------------------------------------------- the real images and their statistics


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
