"""The metrics' arithmetic on feature vectors: Fréchet distance (FID), KID, k-NN precision/recall, class coverage
and nearest-neighbour memorisation flags. Plain tensors in, numbers out."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dcgan.quality.feature_spaces import progress

MEMORISATION_PERCENTILE = 1.0


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
