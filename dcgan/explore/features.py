"""Inside the networks (the paper's section 6): what the discriminator's channels respond to, and
what the generator's filters draw. Library code only: forward hooks and autograd, no UI.

- D: its verdict and per-layer activation maps, the most active channels, gradient saliency and
  guided backpropagation (Springenberg et al. 2014, as the paper used), the samples that excite a
  channel most, and an input optimised to excite it.
- G: zeroing chosen channels of a layer ("forgetting to draw"), and finding the channels that go
  with a class the paper's way: a logistic-regression probe on the layer's feature maps (the paper's
  found the filters that draw windows in bedrooms).

Every hook is removed when the call returns, also when it raises, and acts only on forwards run by the
thread that set it: the app shares one model between visitors, and one visitor's ablation or captured
activations must not reach another's request running at the same time.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from dcgan.nets.config import ModelConfig
from dcgan.nets.latent import batch_for, generate
from dcgan.nets.workload import MAXIMISE_STEPS, discriminator_batch

SMOOTH_SIGMA = 0.1  # SmoothGrad's noise, in the image's [-1, 1] units (5% of the range)

# ---- hooks ---------------------------------------------------------------------------------------------------


@contextmanager
def captured_outputs(modules: Sequence[nn.Module]) -> Iterator[list[torch.Tensor | None]]:
    """Inside the block, the list holds each module's latest forward output (None before a forward)."""
    outputs: list[torch.Tensor | None] = [None] * len(modules)
    owner = threading.get_ident()

    def keeper(index: int):
        def hook(module, inputs, output):
            if threading.get_ident() == owner:  # not another thread's forward through the shared model
                outputs[index] = output

        return hook

    handles = [module.register_forward_hook(keeper(i)) for i, module in enumerate(modules)]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def channels_zeroed(module: nn.Module, channels: Sequence[int]) -> Iterator[None]:
    """Inside the block, `module`'s output has `channels` set to zero (a forward hook, removed after)."""
    index = torch.as_tensor(list(channels), dtype=torch.long)
    owner = threading.get_ident()

    def hook(mod, inputs, output):
        if threading.get_ident() != owner:  # another thread's forward through the shared model: left intact
            return None
        output = output.clone()
        output[:, index] = 0
        return output

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


# ---- the discriminator ---------------------------------------------------------------------------------------


@torch.inference_mode()
def d_verdict_and_maps(discriminator: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(N,) probability that each image is real, and each D layer's activations (N, C_i, H_i, W_i)."""
    discriminator.eval()
    with captured_outputs(list(discriminator.blocks)) as maps:
        logits = discriminator(images)
    return torch.sigmoid(logits.float()), [m.float() for m in maps]


def most_active_channels(layer_map: torch.Tensor, k: int = 16) -> list[int]:
    """The k channels of one image's layer activations (C, H, W) with the largest mean activation."""
    scores = layer_map.float().mean(dim=(1, 2))
    return [int(c) for c in torch.argsort(scores, descending=True)[:k]]


class _GuidedLeakyReLU(torch.autograd.Function):
    """LeakyReLU forward; backward passes only positive gradients where the input was positive."""

    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        return nn.functional.leaky_relu(x, slope)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * (x > 0), None


class _GuidedActivation(nn.Module):
    def __init__(self, slope: float):
        super().__init__()
        self.slope = slope

    def forward(self, x):
        return _GuidedLeakyReLU.apply(x, self.slope)


def _guided_copy(discriminator: nn.Module) -> nn.Module:
    """A copy of D whose ReLU/LeakyReLU layers backpropagate the guided way (the original is untouched)."""
    guided = copy.deepcopy(discriminator)
    for parent in guided.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.LeakyReLU):
                setattr(parent, name, _GuidedActivation(child.negative_slope))
            elif isinstance(child, nn.ReLU):
                setattr(parent, name, _GuidedActivation(0.0))
    return guided


def saliency(
    discriminator: nn.Module,
    image: torch.Tensor,
    layer: int | None = None,
    channel: int | None = None,
    guided: bool = False,
    smooth: int = 0,
    seed: int = 0,
) -> torch.Tensor:
    """d(target)/d(image) for one image (nc, S, S): the target is D's logit, or the mean activation of
    `channel` in `layer`. guided=True: guided backpropagation (sharper, shows what the unit looks for).
    smooth=n: SmoothGrad (Smilkov et al. 2017), the mean gradient over n copies of the image with seeded
    noise of SMOOTH_SIGMA added: at 32-64 px a single gradient is speckle, the mean shows its shape."""
    model = _guided_copy(discriminator) if guided else discriminator
    model.eval()
    x = image[None].detach().float()
    if smooth:
        noise = torch.randn((smooth, *image.shape), generator=torch.Generator().manual_seed(seed))
        x = x + SMOOTH_SIGMA * noise
    x = x.clone().requires_grad_(True)
    with torch.enable_grad():
        if layer is None:
            target = model(x).sum()
        else:
            with captured_outputs([model.blocks[layer]]) as outputs:
                model(x)
            target = outputs[0][:, channel].mean(dim=(1, 2)).sum()  # copies are independent (BN in eval mode)
        (gradient,) = torch.autograd.grad(target, x)
    return gradient.mean(0).detach()


@torch.inference_mode()
def channel_scores(discriminator: nn.Module, images: torch.Tensor, batch_size: int = 250) -> list[torch.Tensor]:
    """For each D layer, (N, C): each image's mean activation of each channel (rank images per channel).
    Batches are at most `batch_size`, fewer for a wide D (dcgan/nets/workload.py)."""
    per_layer: list[list[torch.Tensor]] = [[] for _ in discriminator.blocks]
    config = getattr(discriminator, "config", None)
    if isinstance(config, ModelConfig):
        batch_size = discriminator_batch(config, batch_size)
    for part in images.split(batch_size):
        _, maps = d_verdict_and_maps(discriminator, part)
        for store, layer_map in zip(per_layer, maps, strict=True):
            store.append(layer_map.mean(dim=(2, 3)))
    return [torch.cat(store) for store in per_layer]


def maximise_channel(
    discriminator: nn.Module,
    layer: int,
    channel: int,
    steps: int = MAXIMISE_STEPS,
    lr: float = 0.05,
    seed: int = 0,
    l2: float = 1e-3,
) -> torch.Tensor:
    """An image (nc, S, S) in [-1, 1] that excites one channel: gradient ascent on a tanh-parameterised
    input from small noise, with a small L2 penalty and 1-pixel jitter so it does not turn to static."""
    config = discriminator.config
    generator = torch.Generator().manual_seed(seed)
    raw = (0.1 * torch.randn(1, config.nc, config.image_size, config.image_size, generator=generator)).requires_grad_()
    optimiser = torch.optim.Adam([raw], lr=lr)
    discriminator.eval()
    with torch.enable_grad(), captured_outputs([discriminator.blocks[layer]]) as outputs:
        for _ in range(steps):
            shift = [int(s) for s in torch.randint(-1, 2, (2,), generator=generator)]
            image = torch.roll(torch.tanh(raw), shifts=shift, dims=(2, 3))
            discriminator(image)
            loss = -outputs[0][0, channel].mean() + l2 * (image**2).mean()
            (raw.grad,) = torch.autograd.grad(loss, [raw])  # raw's alone: D is shared, its grads stay untouched
            optimiser.step()
    return torch.tanh(raw.detach())[0]


def heatmap_overlay(image: torch.Tensor, activation: torch.Tensor, alpha: float = 0.6) -> np.ndarray:
    """(S, S, 3) uint8: the image in grey with one activation map (H, W) upsampled over it, black -> red -> yellow."""
    size = image.shape[-1]
    grey = image.float().mean(0).add(1).div(2).clamp(0, 1)  # [-1, 1] -> [0, 1]
    heat = activation.float()[None, None]
    heat = nn.functional.interpolate(heat, size=(size, size), mode="bilinear", align_corners=False)[0, 0]
    heat = (heat - heat.min()) / (heat.max() - heat.min()).clamp_min(1e-8)
    colour = torch.stack([(heat * 2).clamp(0, 1), (heat * 2 - 1).clamp(0, 1), torch.zeros_like(heat)], dim=-1)
    blended = (1 - alpha) * grey[..., None] + alpha * colour
    return (blended * 255).round().clamp(0, 255).byte().numpy()


# ---- the generator -------------------------------------------------------------------------------------------


def g_layers(generator: nn.Module) -> list[nn.Module]:
    """The generator layers whose channels can be ablated: every block but the last (which draws pixels)."""
    return list(generator.blocks[:-1])


@torch.inference_mode()
def ablation_images(
    generator: nn.Module, z: torch.Tensor, layer: int, channels: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images for z with G intact, and with `channels` of layer `layer` zeroed (same noise)."""
    before = generate(generator, z)
    with channels_zeroed(g_layers(generator)[layer], channels):
        after = generate(generator, z)
    return before, after


@torch.inference_mode()
def layer_features(
    generator: nn.Module, layer: int, z: torch.Tensor, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (n, nc, S, S) for z (n, nz), and (n, C): each sample's mean activation of every filter of G layer
    `layer` (its feature maps averaged over space)."""
    generator.eval()
    images, features = [], []
    with captured_outputs([g_layers(generator)[layer]]) as outputs:
        for part in z.split(batch_for(generator, batch_size)):
            images.append(generator(part).float().cpu())
            features.append(outputs[0].float().mean(dim=(2, 3)).cpu())
    return torch.cat(images), torch.cat(features)


def linear_probe(features: torch.Tensor, labels: torch.Tensor, l2: float = 1e-2) -> torch.Tensor:
    """(C,) weights of a logistic regression predicting `labels` (n,) in {0, 1} from features (n, C),
    standardised so weights compare across filters; L2-regularised so that a filter no sample needs stays
    near 0. A positive weight: the filter is more active when the class is there (the paper's probe)."""
    scaled = (features - features.mean(0)) / features.std(0).clamp_min(1e-6)
    targets = labels.float()
    weights = torch.zeros(scaled.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.LBFGS([weights, bias], max_iter=200, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        value = nn.functional.binary_cross_entropy_with_logits(scaled @ weights + bias, targets)
        value = value + l2 * (weights**2).sum()
        value.backward()
        return value

    with torch.enable_grad():
        optimiser.step(loss)
    return weights.detach()
