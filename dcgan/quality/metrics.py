"""Quality numbers for a generator: FID, KID, precision/recall, class coverage, memorisation.

Every number is measured in a feature space, and which one matters:

- Fashion-MNIST: the judge (dcgan/quality/classifier.py), a small CNN trained on the Fashion-MNIST train
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

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dcgan.errors import DcganError
from dcgan.nets.latent import generate, sample_noise
from dcgan.quality.classifier import attribute_probabilities, classifier_for
from dcgan.quality.distances import (
    MEMORISATION_PERCENTILE,
    class_coverage,
    fid,
    kid,
    memorisation_flags,
    nearest_neighbours,
    precision_recall,
)
from dcgan.quality.feature_spaces import FeatureExtractor, extract, feature_extractor
from dcgan.quality.real_images import MIN_REAL, RealImages, RealStatistics, load_real_images, real_statistics
from dcgan.store.checkpoints import load_generator


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

    n samples come from dcgan.latent.sample_noise(seed=seed) through dcgan.nets.latent.generate. The
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
