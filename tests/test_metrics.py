"""Metrics: each test checks a number against what it must be, so a broken formula fails."""

import json
import math

import numpy as np
import pytest
import torch
from helpers import blob_images
from torch import nn

from dcgan.cli.main import main
from dcgan.errors import DcganError
from dcgan.nets.config import ModelConfig, RunConfig
from dcgan.nets.models import Generator
from dcgan.quality.distances import (
    class_coverage,
    fid,
    frechet_distance,
    kid,
    memorisation_flags,
    nearest_neighbours,
    precision_recall,
)
from dcgan.quality.feature_spaces import RandomFeatures
from dcgan.quality.metrics import evaluate
from dcgan.store.checkpoints import save_model_folder


def gaussian(n: int, dim: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)) + shift


# ----------------------------------------------------------------------------- FID


def test_fid_of_a_set_with_itself_is_zero():
    features = gaussian(500, 16, seed=0)
    assert fid(features, features) < 1e-8


def test_fid_of_a_shifted_copy_is_the_squared_shift():
    # Same covariance, so FID is exactly ||mean shift||^2: it grows monotonically with the shift.
    features = gaussian(400, 8, seed=1)
    values = [fid(features, features + shift) for shift in (0.0, 0.25, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and len(set(values)) == 5
    for shift, value in zip((0.25, 0.5, 1.0, 2.0), values[1:], strict=True):
        assert value == pytest.approx(8 * shift**2, rel=1e-6)


def test_frechet_distance_matches_the_closed_form_for_two_gaussians():
    # Non-commuting 2x2 covariances: tr((S1 S2)^(1/2)) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)).
    s1, s2 = np.array([[2.0, 0.6], [0.6, 1.0]]), np.array([[1.0, -0.4], [-0.4, 3.0]])
    m1, m2 = np.array([0.0, 1.0]), np.array([1.0, -1.0])
    trace_root = math.sqrt(np.trace(s1 @ s2) + 2 * math.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    analytic = float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_root)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(analytic, rel=1e-12)
    # And estimated from samples of those Gaussians.
    rng = np.random.default_rng(0)
    samples1, samples2 = rng.multivariate_normal(m1, s1, 20000), rng.multivariate_normal(m2, s2, 20000)
    assert fid(samples1, samples2) == pytest.approx(analytic, rel=0.02)


def test_frechet_distance_in_many_dimensions_matches_an_eigendecomposition_of_s1_s2():
    # tr((S1 S2)^(1/2)) = sum of sqrt of the (real, positive) eigenvalues of S1 S2.
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 30)), rng.normal(size=(30, 30))
    s1, s2 = a @ a.T, b @ b.T / 3
    trace_root = np.sqrt(np.linalg.eigvals(s1 @ s2).real.clip(0)).sum()
    expected = np.trace(s1) + np.trace(s2) - 2 * trace_root
    assert frechet_distance(np.zeros(30), s1, np.ones(30), s2) == pytest.approx(expected + 30, rel=1e-9)


# ----------------------------------------------------------------------------- KID


def test_kid_is_zero_within_its_spread_for_one_distribution_and_positive_for_shifted_ones():
    real, same = gaussian(2000, 16, seed=2), gaussian(2000, 16, seed=3)
    mean, std = kid(real, same, subsets=30, subset_size=500)
    assert abs(mean) < std and std > 0
    shifted_mean, shifted_std = kid(real, gaussian(2000, 16, seed=3, shift=0.5), subsets=30, subset_size=500)
    assert shifted_mean > 10 * shifted_std and shifted_mean > 20 * abs(mean)


# ----------------------------------------------------------------------------- precision and recall


def test_precision_and_recall_of_the_same_distribution_are_high():
    precision, recall = precision_recall(gaussian(1500, 4, seed=4), gaussian(1500, 4, seed=5))
    assert precision > 0.9 and recall > 0.9


def test_a_collapsed_sample_keeps_precision_and_loses_recall():
    real = gaussian(1500, 4, seed=6)
    collapsed = 0.1 * gaussian(1500, 4, seed=7) + real[0]  # every sample near one real point
    precision, recall = precision_recall(real, collapsed)
    assert precision > 0.95 and recall < 0.05
    far = gaussian(1500, 4, seed=8, shift=10.0)  # nowhere near the data: neither
    assert precision_recall(real, far) == (0.0, 0.0)


def test_nearest_neighbours_match_brute_force():
    queries, references = gaussian(70, 5, seed=9), gaussian(300, 5, seed=10)
    distances, indices = nearest_neighbours(queries, references, k=3, batch_size=16)
    brute = torch.cdist(queries.double(), references.double())
    expected_distances, expected_indices = brute.topk(3, dim=1, largest=False)
    assert torch.equal(indices, expected_indices)
    assert torch.allclose(distances.double(), expected_distances, atol=1e-4)
    # Leave-one-out: a set against itself skips each point's own row.
    loo, loo_index = nearest_neighbours(references, references, self_indices=torch.arange(300), batch_size=64)
    brute_self = torch.cdist(references.double(), references.double()).fill_diagonal_(float("inf"))
    assert torch.equal(loo_index[:, 0], brute_self.argmin(1))


# ----------------------------------------------------------------------------- coverage and memorisation


def test_class_coverage_on_crafted_predictions():
    names = [f"c{i}" for i in range(10)]
    balanced = class_coverage(torch.arange(100) % 10, names)
    assert balanced["counts"] == [10] * 10 and balanced["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    collapsed = class_coverage(torch.full((50,), 3), names)
    assert collapsed["kl_to_uniform"] == pytest.approx(math.log(10))
    assert collapsed["missing"] == [name for name in names if name != "c3"]
    halves = class_coverage(torch.tensor([0, 1] * 40), names)
    assert halves["kl_to_uniform"] == pytest.approx(math.log(5)) and halves["fractions"][:3] == [0.5, 0.5, 0.0]


def test_memorisation_flags_copies_of_training_images_and_not_fresh_ones():
    train = torch.from_numpy(blob_images(400, seed=11)).float().div(127.5).sub(1)[:, None]
    held_out = torch.from_numpy(blob_images(200, seed=12)).float().div(127.5).sub(1)[:, None]
    fresh = torch.from_numpy(blob_images(200, seed=13)).float().div(127.5).sub(1)[:, None]
    copies = train[torch.arange(0, 400, 10)]
    heldout_distances = nearest_neighbours(held_out, train)[0]
    copy_flags, threshold = memorisation_flags(nearest_neighbours(copies, train)[0], heldout_distances, 1.0)
    fresh_flags, _ = memorisation_flags(nearest_neighbours(fresh, train)[0], heldout_distances, 1.0)
    assert threshold > 0 and copy_flags.all()
    assert fresh_flags.float().mean() < 0.05


# ----------------------------------------------------------------------------- random features and evaluate


def test_random_features_are_fixed_by_their_seed_and_take_any_image():
    images = torch.rand(4, 3, 40, 40) * 2 - 1
    first, second, other = RandomFeatures(seed=0), RandomFeatures(seed=0), RandomFeatures(seed=1)
    features, logits = first(images)
    assert features.shape == (4, 256) and logits is None
    assert torch.equal(features, second(images)[0]) and not torch.allclose(features, other(images)[0])
    grey = images[:, :1]
    assert torch.allclose(first(grey)[0], first(grey.expand(-1, 3, -1, -1))[0])
    assert features.std() > 1e-3  # activations neither vanish nor blow up through the random layers
    assert first(torch.zeros(2, 1, 28, 28))[0].shape == (2, 256)


class ImageListGenerator(nn.Module):
    """A stand-in generator that returns given images, cycling: sample i is images[i % len(images)]."""

    def __init__(self, images: torch.Tensor):
        super().__init__()
        self.register_buffer("images", images)
        self.anchor = nn.Parameter(torch.zeros(()))  # generate() asks a parameter for the device
        self.config = ModelConfig(image_size=images.shape[-1], nc=images.shape[1], nz=4)
        self.calls = 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        index = (torch.arange(len(z)) + self.calls) % len(self.images)
        self.calls += len(z)
        return self.images[index]


def test_evaluate_flags_a_generator_that_copies_its_training_images(idx_folder, tmp_path, monkeypatch):
    from dcgan.data.loading import load_dataset

    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    train = load_dataset(str(idx_folder), 32, split="train").images
    copier = evaluate(ImageListGenerator(train[:64]), str(idx_folder), n=64, features="random", kid_subsets=5)
    assert copier["memorisation"]["fraction_pixel"] == 1.0 and copier["memorisation"]["median_nn_pixel"] == 0.0
    fresh_images = torch.from_numpy(blob_images(64, seed=99)).float().div(127.5).sub(1)[:, None]
    fresh_images = nn.functional.interpolate(fresh_images, size=(32, 32), mode="bilinear", antialias=True)
    fresh = evaluate(ImageListGenerator(fresh_images), str(idx_folder), n=64, features="random", kid_subsets=5)
    assert fresh["memorisation"]["fraction_pixel"] <= 0.05
    assert fresh["floor"] == copier["floor"]  # the real side does not depend on the generator
    assert fresh["class_coverage"] is None  # random features are no classifier


def test_evaluate_cached_and_uncached_agree_and_errors_are_clear(idx_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    generator = Generator(ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8))
    kwargs = dict(data=str(idx_folder), n=48, features="random", kid_subsets=5)
    computed = evaluate(generator, **kwargs)  # computes the real side and writes the cache
    assert len(list((tmp_path / "cache" / "metrics").glob("*.safetensors"))) == 1
    messages = []
    cached = evaluate(generator, log=messages.append, **kwargs)
    assert any("from the cache" in message for message in messages)
    for key in ("fid", "kid", "precision", "recall", "floor", "memorisation"):
        assert cached[key] == computed[key], key
    rgb = Generator(ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8))
    with pytest.raises(DcganError, match="3-channel"):
        evaluate(rgb, **kwargs)
    with pytest.raises(DcganError, match="no such folder"):
        evaluate(generator, data=str(tmp_path / "nowhere"), n=48, features="random")
    with pytest.raises(DcganError, match="features must be"):
        evaluate(generator, data=str(idx_folder), n=48, features="inception")


def test_eval_cli_prints_the_table_and_writes_json(idx_folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    config = ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8)
    torch.manual_seed(0)
    model = save_model_folder(tmp_path / "model", Generator(config), RunConfig(config))
    out = tmp_path / "metrics.json"
    args = ["eval", "--model", str(model), "--data", str(idx_folder), "--n", "40", "--features", "random"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    expected = {"model", "data", "n", "seed", "features", "fid", "kid", "kid_std", "precision", "recall"}
    assert expected | {"class_coverage", "memorisation", "floor", "seconds"} <= set(result)
    assert {"fid", "kid", "kid_std", "precision", "recall", "n_real"} <= set(result["floor"])
    assert result["n"] == 40 and result["features"].startswith("random")
    assert "real vs real" in printed and "FID" in printed and "not with papers" in printed
    fid_row = next(line for line in printed.splitlines() if line.startswith("FID"))
    assert f"{result['fid']:.3f}" in fid_row and f"{result['floor']['fid']:.3f}" in fid_row
    assert main(["eval", "--model", str(model), "--data", str(tmp_path / "nowhere"), "--n", "40"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_long_steps_show_a_progress_bar_in_a_terminal_only(capsys):
    """`dcgan eval` runs a minute or more: its feature and neighbour loops draw a bar in a terminal (here a
    pseudo-terminal 100 columns wide), and nothing when stderr is a file or a pipe (logs, tests, the app)."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios
    import time

    from dcgan.quality.feature_spaces import progress

    assert list(progress(range(3), "features", 30, 10)) == [0, 1, 2]
    assert capsys.readouterr().err == ""  # not a terminal: no bar
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    code = "from dcgan.quality.feature_spaces import progress\nfor _ in progress(range(4), 'features', 40, 10): pass"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=follower, stderr=follower)
    output, started = b"", time.monotonic()
    while child.poll() is None or select.select([leader], [], [], 0.2)[0]:
        if select.select([leader], [], [], 0.2)[0]:
            output += os.read(leader, 65536)
        assert time.monotonic() - started < 60
    os.close(follower)
    os.close(leader)
    assert "features:   0%|" in output.decode(errors="replace")  # the bar, drawn (and cleared when done)
