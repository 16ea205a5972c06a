"""Extension points are registries: a new metric, tab or dataset is one declaration, no other edit."""

from __future__ import annotations

import torch

from dcgan import metrics
from dcgan.config import ModelConfig
from dcgan.metrics import evaluate, format_table, scalar_metric, table_rows
from dcgan.models import Generator

# ----------------------------------------------------------------------------- metrics


def test_a_registered_metric_is_computed_and_shown_with_no_other_edit(idx_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    mean_pixel = scalar_metric(
        "mean_pixel",
        lambda measured: float(measured.fake.mean()),
        "mean pixel (higher is brighter)",
        spec=".4f",
        floor=lambda measured: float(measured.real.test.mean()),
    )
    monkeypatch.setattr(metrics, "METRICS", [*metrics.METRICS, mean_pixel])
    torch.manual_seed(0)
    generator = Generator(ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8))
    result = evaluate(generator, data=str(idx_folder), n=24, features="random", kid_subsets=3, cache=False)

    assert isinstance(result["mean_pixel"], float) and isinstance(result["floor"]["mean_pixel"], float)
    assert list(result)[-3:] == ["mean_pixel", "floor", "seconds"]  # the shipped keys keep their order
    row = table_rows(result)[-1]
    assert row == (
        "mean pixel (higher is brighter)",
        f"{result['mean_pixel']:.4f}",
        f"{result['floor']['mean_pixel']:.4f}",
    )
    assert "mean pixel (higher is brighter)" in format_table(result)


def test_results_without_a_registered_metric_still_make_a_table(monkeypatch):
    """Old eval.json files lack a newer metric's keys: its rows are left out, nothing fails."""
    monkeypatch.setattr(metrics, "METRICS", [*metrics.METRICS, scalar_metric("new", lambda measured: 1.0, "new")])
    old = {"fid": 1.0, "kid": 0.001, "kid_std": 0.0001, "precision": 0.5, "recall": 0.5, "k": 3, "class_coverage": None}
    old["memorisation"] = {"percentile": 1.0, "fraction_pixel": 0.0, "fraction_feature": 0.0}
    old["memorisation"] |= {"median_nn_pixel": 1.0, "median_nn_feature": 1.0}
    old["floor"] = {"fid": 0.5, "kid": 0.0, "kid_std": 0.0, "precision": 0.6, "recall": 0.6}
    old["floor"] |= {"memorised_fraction": 0.01, "median_nn_pixel": 1.0, "median_nn_feature": 1.0}
    labels = [row[0] for row in table_rows(old)]
    assert labels[0] == "FID (lower is better)" and "new" not in labels and len(labels) == 8
