"""The latent space: noise, paths between points (lerp/slerp).

Noise is always drawn on the CPU from an explicit seed or torch.Generator and moved
afterwards, so a seed means the same z, and the same image, on any device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from dcgan.nets.config import ModelConfig
from dcgan.nets.workload import PROJECTION_RESTARTS, generator_batch


def cpu_generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed))


def sample_noise(
    n: int,
    nz: int,
    distribution: str = "normal",
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """z of shape (n, nz) on the CPU. Row 0 of seed S is the z of seed S alone.

    normal: N(0, 1) (the paper's recipe); uniform: U(-1, 1) (the paper's original code).
    """
    if generator is None:
        if seed is None:
            raise ValueError("sample_noise needs a seed or a torch.Generator")
        generator = cpu_generator(seed)
    # Row by row: torch draws a (n, nz) block in a different order than n rows of nz, and
    # a seed must mean the same z whether it is drawn alone or as the first of a batch.
    if distribution == "normal":
        rows = [torch.randn(nz, generator=generator) for _ in range(n)]
    elif distribution == "uniform":
        rows = [torch.rand(nz, generator=generator) * 2 - 1 for _ in range(n)]
    else:
        raise ValueError(f"unknown noise distribution {distribution!r}")
    return torch.stack(rows) if rows else torch.empty(0, nz)


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """(steps, nz): straight line from z0 to z1, both ends included."""
    t = torch.linspace(0, 1, steps, dtype=z0.dtype).unsqueeze(1)
    return (1 - t) * z0.reshape(1, -1) + t * z1.reshape(1, -1)


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """(steps, nz): along the great circle, with the norm interpolated linearly.

    Gaussian z lives near a sphere of radius sqrt(nz); a straight line cuts through its
    low-density inside (the midpoint's norm drops by ~1/sqrt(2)), slerp stays near the shell.
    """
    a, b = z0.reshape(-1).double(), z1.reshape(-1).double()
    norm_a, norm_b = a.norm(), b.norm()
    cos_omega = torch.clamp(torch.dot(a / norm_a, b / norm_b), -1.0, 1.0)
    omega = torch.arccos(cos_omega)
    t = torch.linspace(0, 1, steps, dtype=torch.float64).unsqueeze(1)
    if omega.abs() < 1e-6:  # (nearly) the same direction: slerp degenerates to lerp
        return lerp(z0, z1, steps)
    unit_path = (torch.sin((1 - t) * omega) * (a / norm_a) + torch.sin(t * omega) * (b / norm_b)) / torch.sin(omega)
    norms = (1 - t) * norm_a + t * norm_b
    path = unit_path / unit_path.norm(dim=1, keepdim=True) * norms
    return path.to(z0.dtype)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, method: str = "slerp") -> torch.Tensor:
    if method == "lerp":
        return lerp(z0, z1, steps)
    if method == "slerp":
        return slerp(z0, z1, steps)
    raise ValueError(f"method must be 'lerp' or 'slerp', got {method!r}")


def batch_for(generator: torch.nn.Module, largest: int = 256) -> int:
    """Images per forward of this G: its config's batch (dcgan/nets/workload.py: no step over STEP_BYTES however
    wide its layers), or `largest` for a bare module without a config."""
    config = getattr(generator, "config", None)
    return generator_batch(config, largest) if isinstance(config, ModelConfig) else largest


@torch.inference_mode()
def generate(generator: torch.nn.Module, z: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Images (N, nc, S, S) in [-1, 1] on the CPU for z (N, nz), with G in eval mode, a batch at a time."""
    generator.eval()
    batch_size = batch_size or batch_for(generator)
    device = next(generator.parameters()).device
    chunks = [generator(part.to(device)).float().cpu() for part in z.split(batch_size)]
    return torch.cat(chunks)


# ---- vector arithmetic (the paper's Figure 7) ---------------------------------------------------


def group_mean(zs: torch.Tensor) -> torch.Tensor:
    """(k, nz) exemplars -> (nz,): averaging several exemplars is what made the paper's arithmetic
    stable; a single exemplar carries its own quirks into the result."""
    if zs.dim() != 2 or zs.shape[0] == 0:
        raise ValueError(f"need a (k, nz) tensor with k >= 1 exemplars, got shape {tuple(zs.shape)}")
    return zs.mean(dim=0)


def arithmetic(z_a: torch.Tensor, z_b: torch.Tensor, z_c: torch.Tensor) -> torch.Tensor:
    """A - B + C on group means: each argument is (k, nz) exemplars (or one (nz,) vector)."""
    a, b, c = (group_mean(z.reshape(-1, z.shape[-1])) for z in (z_a, z_b, z_c))
    return a - b + c


def neighbourhood(z: torch.Tensor, n: int = 9, scale: float = 0.25, seed: int = 0) -> torch.Tensor:
    """(n, nz): z itself first, then z plus small Gaussian noise (the paper's 3x3 grids around a result)."""
    z = z.reshape(1, -1)
    noise = torch.randn(n - 1, z.shape[1], generator=cpu_generator(seed)) * scale
    return torch.cat([z, z + noise])


# ---- what a classifier says about the latent space (labels for directions, class vectors) ----------


@torch.inference_mode()
def class_mean_latents(
    generator: torch.nn.Module,
    classify: Callable[[torch.Tensor], torch.Tensor],
    n_classes: int,
    n: int = 2000,
    distribution: str = "normal",
    seed: int = 0,
    min_confidence: float = 0.8,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, nz) mean z of the samples a classifier confidently puts in each class, and (K,) counts.

    `classify` maps images to logits. The difference of two class means is a class vector
    ("sneaker -> ankle boot") in the spirit of the paper's averaged-exemplar arithmetic. A class
    no sample was confidently put in has count 0 and a zero mean.
    """
    z = sample_noise(n, generator.config.nz, distribution, seed=seed)
    # One batch of images at a time: 2,000 images of a 256 px model would be 1.5 GB at once.
    parts = z.split(batch_for(generator))
    probabilities = torch.cat([classify(generate(generator, part)).softmax(1) for part in parts])
    confidence, predicted = probabilities.max(1)
    keep = confidence >= min_confidence
    counts = torch.bincount(predicted[keep], minlength=n_classes)[:n_classes]
    sums = torch.zeros(n_classes, z.shape[1]).index_add_(0, predicted[keep], z[keep])
    return sums / counts.clamp_min(1)[:, None], counts


@torch.inference_mode()
def direction_class_effects(
    generator: torch.nn.Module,
    directions: torch.Tensor,
    classify: Callable[[torch.Tensor], torch.Tensor],
    amount: float = 2.0,
    n: int = 64,
    distribution: str = "normal",
    seed: int = 0,
) -> torch.Tensor:
    """(k, K): how the mean class probability changes between z - amount*d and z + amount*d, per direction.

    Positive entries are classes that moving along +d makes more likely; this is what labels a
    direction (e.g. "- Sandal / + Ankle boot").
    """
    z = sample_noise(n, generator.config.nz, distribution, seed=seed)
    effects = []
    for direction in directions:
        moved = torch.cat([z - amount * direction, z + amount * direction])
        probabilities = classify(generate(generator, moved)).softmax(1)
        effects.append(probabilities[n:].mean(0) - probabilities[:n].mean(0))
    return torch.stack(effects)


# ---- which latent dimensions and directions matter -------------------------------------------------


@torch.inference_mode()
def dimension_sensitivity(
    generator: torch.nn.Module, distribution: str = "normal", n: int = 16, step: float = 0.5, seed: int = 0
) -> torch.Tensor:
    """(nz,): mean absolute pixel change when one dimension of z moves by `step`, over n samples.

    A finite difference per dimension, batched: nz * n images, e.g. 1,600 for nz = 100, reduced a batch of
    dimensions at a time (all of them at once would be 3 GB for nz = 1,024 at 256 px).
    """
    nz = generator.config.nz
    base = sample_noise(n, nz, distribution, seed=seed)  # (n, nz)
    base_images = generate(generator, base)
    dims_per_batch = max(1, batch_for(generator) // n)
    changes = []
    for dims in torch.arange(nz).split(dims_per_batch):
        moved = base.unsqueeze(0).repeat(len(dims), 1, 1)  # (dims, n, nz)
        moved[torch.arange(len(dims)), :, dims] += step
        moved_images = generate(generator, moved.reshape(-1, nz)).reshape(len(dims), n, *base_images.shape[1:])
        changes.append((moved_images - base_images.unsqueeze(0)).abs().mean(dim=(1, 2, 3, 4)))
    return torch.cat(changes)


def principal_directions(
    generator: torch.nn.Module,
    k: int = 10,
    n: int = 2000,
    layer: int = 0,
    distribution: str = "normal",
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GANSpace (Härkönen et al. 2020) for a DCGAN: PCA of an early layer's activations,
    transferred to z by linear regression. Returns (directions (k, nz) orthonormal, ordered by
    importance; explained variance ratio (k,) of each component in that layer).

    Why regress instead of using PCA in z directly: z is isotropic, so its own PCA is noise; the
    early activations show which combinations of z the generator actually spreads out.
    """
    z = sample_noise(n, generator.config.nz, distribution, seed=seed)
    activations = layer_activations(generator, z, layer).flatten(1)  # (n, C*H*W)
    centred = activations - activations.mean(dim=0)
    # Randomised PCA: the top k of a (2000, 4096) matrix in ~1 s; a full SVD takes ~90 s here.
    with torch.random.fork_rng(devices=[]):  # pca_lowrank draws from the global RNG; keep it seeded and private
        torch.manual_seed(seed)
        _, singular, components = torch.pca_lowrank(centred, q=min(k + 10, *centred.shape), center=False, niter=6)
    ratio = singular[:k] ** 2 / (centred**2).sum()
    coordinates = (centred @ components[:, :k]).double()  # (n, k) PCA coordinates of each sample
    # Least squares: z ~ coordinates @ W, W (k, nz); row i of W is component i seen in z space.
    weights = torch.linalg.lstsq(coordinates, z.double()).solution
    # Gram-Schmidt in importance order, so each slider moves along something new.
    directions, _ = torch.linalg.qr(weights.T)  # (nz, k), orthonormal columns
    signs = torch.sign((directions * weights.T).sum(dim=0))  # keep each direction's original sense
    return (directions * signs).T.float(), ratio.float()


@torch.inference_mode()
def layer_activations(generator: torch.nn.Module, z: torch.Tensor, layer: int) -> torch.Tensor:
    """Output of generator block `layer` for z, (N, C, H, W), computed in batches on G's device."""
    generator.eval()
    device = next(generator.parameters()).device
    outputs = []
    for part in z.split(batch_for(generator, 500)):
        h = generator.stem(part.to(device))
        for block in generator.blocks[: layer + 1]:
            h = block(h)
        outputs.append(h.float().cpu())
    return torch.cat(outputs)


# ---- real images into the latent space ---------------------------------------------------------------


@dataclass
class ProjectionStep:
    step: int
    loss: float  # pixel MSE of the current best reconstruction
    z: torch.Tensor  # (nz,) current best z
    image: torch.Tensor  # (nc, S, S) its image in [-1, 1]


def project_image(
    generator: torch.nn.Module,
    target: torch.Tensor,
    steps: int = 300,
    lr: float = 0.05,
    prior_weight: float = 1e-3,
    restarts: int = PROJECTION_RESTARTS,
    seed: int = 0,
    report_every: int = 10,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[ProjectionStep]:
    """Find z with G(z) ~ target (1, nc, S, S) in [-1, 1]: Adam on z, yielding progress.

    Loss = pixel MSE + prior_weight * mean(z^2): the prior keeps z near where the generator was
    trained (a typical norm), so the found z walks and interpolates like a sampled one.
    `restarts` starting points are optimised together in one batch; the best one is reported.
    BatchNorm runs in eval mode, so the batch does not couple the restarts.
    """
    generator.eval()
    device = next(generator.parameters()).device
    nz = generator.config.nz
    target = target.to(device).reshape(1, *target.shape[-3:]).float()
    z = sample_noise(restarts, nz, generator.config.noise, seed=seed).to(device).requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    for step in range(1, steps + 1):
        images = generator(z)
        pixel_loss = ((images - target) ** 2).mean(dim=(1, 2, 3))  # (restarts,)
        loss = pixel_loss.sum() + prior_weight * (z**2).mean(dim=1).sum()
        stopping = should_stop is not None and should_stop()
        if step % report_every == 0 or step == steps or stopping:
            # Report before the update, so the z and the image shown belong together.
            best = int(pixel_loss.argmin())
            yield ProjectionStep(
                step,
                float(pixel_loss[best].detach()),
                z[best].detach().cpu().clone(),
                images[best].detach().float().cpu(),
            )
        if stopping:
            return
        # The gradient for z alone: G is shared (the app's visitors), its parameters' grads are not touched.
        (z.grad,) = torch.autograd.grad(loss, [z])
        optimizer.step()
