"""Inside the discriminator (the paper's section 6): what D's channels respond to on an image, the channel that
differs most from an untrained D's (fair comparisons only), and the samples that excite it most."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dcgan.data.folders import load_image
from dcgan.errors import DcganError
from dcgan.explore.explorer import Explorer
from dcgan.explore.features import d_verdict_and_maps, heatmap_overlay, maximise_channel, most_active_channels, saliency
from dcgan.nets.latent import generate, sample_noise
from dcgan.nets.workload import INSIDE_CHANNELS, SMOOTHING

INSIDE_LAYERS = 4  # D layers an inside look reports (the paper's D has 4 blocks)
TOP_SAMPLES = 9  # probe samples that excite a channel most (a 3x3 grid)


# ---- inside the discriminator (the paper's Figure 5) ----------------------------------------------------------


@dataclass
class InsideLook:
    """What D makes of one image: its verdict, where its score comes from, and what its layers fire on."""

    image: torch.Tensor  # (nc, S, S) in [-1, 1]: what D saw
    caption: str  # where the image came from ("generated, seed 3", "your image")
    real_probability: float  # D's verdict
    saliency: torch.Tensor  # (nc, S, S): d(D's logit)/d(image), SmoothGrad over SMOOTHING noisy copies
    guided: torch.Tensor  # the same by guided backpropagation
    layers: list[list[tuple[int, np.ndarray]]]  # per D layer: (channel, (S, S, 3) uint8 heat overlay), strongest first


@dataclass
class ChannelLook:
    """One D channel on one image, and what it looks for in general."""

    layer: int
    channel: int
    mean_activation: float  # on this image
    best_probe_score: float  # the highest mean activation over the probe batch
    overlay: np.ndarray  # (S, S, 3) uint8: its activation map over the image
    guided: torch.Tensor  # (nc, S, S): guided backprop of its mean activation (SmoothGrad)
    guided_untrained: torch.Tensor  # the same channel of an untrained D of the same architecture, the same image
    plain: torch.Tensor  # (nc, S, S): the plain gradient (SmoothGrad)
    top_samples: torch.Tensor  # (TOP_SAMPLES, nc, S, S): the probe samples that excite it most, strongest first
    maximised: torch.Tensor  # (nc, S, S): an input optimised to excite it


def model_image(explorer: Explorer, path: str | Path, invert: bool = False) -> torch.Tensor:
    """(1, nc, S, S) in [-1, 1]: an image file as the model sees it (centre-cropped, resized, maybe inverted);
    DcganError for a file that is not a readable image."""
    image = load_image(path, explorer.image_size, channels=explorer.generator.config.nc)
    return -image if invert else image


def inside_image(
    explorer: Explorer, source: str, seed: int, path: str | Path | None = None
) -> tuple[torch.Tensor, str]:
    """(nc, S, S) in [-1, 1] and a caption: the seed's generated sample (source "generated"), or an image file."""
    if source == "generated":
        return generate(explorer.generator, sample_noise(1, explorer.nz, explorer.noise, seed=seed))[0], (
            f"generated, seed {seed}"
        )
    if not path:
        raise DcganError("upload an image (or take one from the dataset) first")
    return model_image(explorer, path)[0], "your image"


def look_inside(explorer: Explorer, image: torch.Tensor, caption: str = "") -> InsideLook:
    """D's verdict on one image (nc, S, S), its saliency both ways, and per layer its most active channels."""
    discriminator = explorer.discriminator()
    probability, maps = d_verdict_and_maps(discriminator, image[None])
    layers = [
        [(c, heatmap_overlay(image, layer_map[0, c])) for c in most_active_channels(layer_map[0], INSIDE_CHANNELS)]
        for layer_map in maps[:INSIDE_LAYERS]
    ]
    return InsideLook(
        image=image,
        caption=caption,
        real_probability=float(probability[0]),
        saliency=saliency(discriminator, image, smooth=SMOOTHING),
        guided=saliency(discriminator, image, guided=True, smooth=SMOOTHING),
        layers=layers,
    )


def look_at_channel(explorer: Explorer, image: torch.Tensor, layer: int, channel: int) -> ChannelLook:
    """One D channel on one image (nc, S, S): its map, its gradients, the probe samples it likes best and
    an input optimised for it."""
    discriminator = explorer.discriminator()
    _, maps = d_verdict_and_maps(discriminator, image[None])
    if not 0 <= layer < min(len(maps), INSIDE_LAYERS):
        raise DcganError(f"D's layers are 0-{min(len(maps), INSIDE_LAYERS) - 1}, not {layer}")
    if not 0 <= channel < maps[layer].shape[1]:
        raise DcganError(f"layer {layer} of D has channels 0-{maps[layer].shape[1] - 1}, not {channel}")
    probe_pixels, probe_scores = explorer.probe()
    top = torch.argsort(probe_scores[layer][:, channel], descending=True)[:TOP_SAMPLES]
    return ChannelLook(
        layer=layer,
        channel=channel,
        mean_activation=float(maps[layer][0, channel].mean()),
        best_probe_score=float(probe_scores[layer][top[0], channel]),
        overlay=heatmap_overlay(image, maps[layer][0, channel]),
        guided=saliency(discriminator, image, layer, channel, guided=True, smooth=SMOOTHING),
        guided_untrained=saliency(
            explorer.untrained_discriminator(), image, layer, channel, guided=True, smooth=SMOOTHING
        ),
        plain=saliency(discriminator, image, layer, channel, smooth=SMOOTHING),
        top_samples=probe_pixels[top].float() / 127.5 - 1,
        maximised=maximise_channel(discriminator, layer, channel),
    )


FAIR_ACTIVITY = 0.5  # the untrained channel must fire on at least this share of the positions the trained one does


@dataclass(frozen=True)
class ChannelContrast:
    """One D channel on one image: how unlike its trained and untrained guided-backprop maps are, and where each
    fires (the share of the layer's positions with a positive activation)."""

    channel: int
    distinctness: float  # 1 − |cos| of the two maps, flattened with their means removed (0 when one is flat)
    trained_active: float
    untrained_active: float

    @property
    def fair(self) -> bool:
        """Whether the untrained channel fires enough on the image for its map to be a baseline: one that barely
        fires shows a scrap of the image, unlike anything, and says nothing about what training added."""
        return self.untrained_active >= FAIR_ACTIVITY * self.trained_active


def channel_contrasts(
    explorer: Explorer, image: torch.Tensor, layer: int, candidates: list[int]
) -> list[ChannelContrast]:
    """For each candidate channel of D layer `layer` on one image (nc, S, S), in the candidates' order: the trained
    D's guided-backprop map (SmoothGrad, as look_at_channel draws it) against the untrained D's map of the same
    channel (Explorer.untrained_discriminator). Guided backprop of an untrained network already shows the
    image's edges (Adebayo et al. 2018); what differs from that is what training added. Two saliencies per
    candidate: ~1-1.5 s for 16 on the shipped models (2 cores)."""
    discriminator, untrained = explorer.discriminator(), explorer.untrained_discriminator()
    _, trained_maps = d_verdict_and_maps(discriminator, image[None])
    _, untrained_maps = d_verdict_and_maps(untrained, image[None])
    layers = min(len(trained_maps), INSIDE_LAYERS)
    if not 0 <= layer < layers:
        raise DcganError(f"D's layers are 0-{layers - 1}, not {layer}")
    width = trained_maps[layer].shape[1]
    if not candidates or not all(0 <= c < width for c in candidates):
        raise DcganError(f"layer {layer} of D has channels 0-{width - 1}; got {list(candidates) or 'none'}")
    contrasts = []
    for channel in candidates:
        maps = [
            saliency(network, image, layer, channel, guided=True, smooth=SMOOTHING).flatten().double()
            for network in (discriminator, untrained)
        ]
        trained, baseline = (m - m.mean() for m in maps)
        norms = float(trained.norm() * baseline.norm())
        cosine = float(trained @ baseline) / norms if norms > 0 else 1.0
        active = [
            float((layer_maps[layer][0, channel] > 0).float().mean()) for layer_maps in (trained_maps, untrained_maps)
        ]
        contrasts.append(ChannelContrast(int(channel), 1.0 - abs(cosine), *active))
    return contrasts


def most_distinct_channel(
    explorer: Explorer, image: torch.Tensor, layer: int, candidates: list[int]
) -> tuple[int, float]:
    """Of the candidate channels (e.g. the look's most active ones, `look.layers[layer]`), the one whose trained
    guided-backprop map differs most from the untrained D's map of the same channel (channel_contrasts), and
    that distinctness: the paper's Figure 5 point, trained features beside random ones, by a measured rule.
    Only channels whose untrained twin fires fairly on the image compete (ChannelContrast.fair; all of them
    when none does). Ties: the earlier candidate."""
    contrasts = channel_contrasts(explorer, image, layer, candidates)
    fair = [contrast for contrast in contrasts if contrast.fair] or contrasts
    best = max(fair, key=lambda contrast: contrast.distinctness)
    return best.channel, best.distinctness


def inside_metadata(explorer: Explorer, look: InsideLook) -> dict[str, object]:
    """What an exported inside look carries (PNG text chunks)."""
    return {
        "model": explorer.name,
        "image": look.caption,
        "verdict": f"{100 * look.real_probability:.1f}% real",
        "channels": "; ".join(
            f"layer {layer}: " + ",".join(str(channel) for channel, _ in channels)
            for layer, channels in enumerate(look.layers)
        ),
    }
