"""Ablation and forgetting (the paper's Figure 6): switching off a generator layer's channels, and removing the
filters that draw a class ("forgetting to draw windows"), shown before and after with what changed."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dcgan.errors import DcganError
from dcgan.explore.explorer import A_CLASSIFIER, Explorer
from dcgan.explore.features import ablation_images, g_layers, layer_features, linear_probe
from dcgan.nets.latent import sample_noise
from dcgan.nets.workload import ABLATION_SAMPLES, FORGET_SCORED, PROBE_SAMPLES, RANDOM_SETS

FORGET_SHOWN = 8  # samples of the class shown before and after


# ---- forgetting to draw (the paper's Figure 6) ----------------------------------------------------------------


@dataclass
class BeforeAfter:
    """The same noise drawn by G intact and with some filters of one layer zeroed."""

    intact: torch.Tensor  # (n, nc, S, S) in [-1, 1]
    ablated: torch.Tensor  # (n, nc, S, S)

    @property
    def mean_change(self) -> float:
        return float((self.intact - self.ablated).abs().mean())

    def intact_ablated_difference(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The three rows of the figure; the difference |intact - ablated| as grey images in [-1, 1], its mean
        over colour channels (black where nothing changed, white where a pixel went from one end of the range to
        the other): a colour difference map would need a legend, grey reads as "brighter = changed more"."""
        change = (self.intact - self.ablated).abs().mean(dim=1, keepdim=True).expand_as(self.intact)
        return self.intact, self.ablated, change - 1


@dataclass
class Ablation(BeforeAfter):
    """Filters named by number."""

    layer: int
    channels: list[int]
    seed: int


def generator_layer_widths(explorer: Explorer) -> list[int]:
    """Output channels of each G layer whose filters can be zeroed (every block but the one drawing pixels)."""
    return [_block_width(block) for block in g_layers(explorer.generator)]


def _block_width(block: torch.nn.Module) -> int:
    """Channels a block puts out: those of its last BatchNorm or convolution (0 when it has neither)."""
    for module in reversed(list(block.modules())):
        if isinstance(module, torch.nn.BatchNorm2d):
            return module.num_features
        if isinstance(module, (torch.nn.ConvTranspose2d, torch.nn.Conv2d)):
            return module.out_channels
    return 0


def ablate(explorer: Explorer, layer: int, channels: list[int], seed: int = 0) -> Ablation:
    """Zero `channels` of G layer `layer` and draw ABLATION_SAMPLES samples from `seed` before and after."""
    widths = generator_layer_widths(explorer)
    if not 0 <= layer < len(widths):
        raise DcganError(f"the generator has layers 0-{len(widths) - 1}, not {layer}")
    channels = sorted(set(channels))
    if not channels or not all(0 <= c < widths[layer] for c in channels):
        raise DcganError(f"layer {layer} has channels 0-{widths[layer] - 1}; got {channels or 'none'}")
    z = sample_noise(ABLATION_SAMPLES, explorer.nz, explorer.noise, seed=seed)
    intact, ablated = ablation_images(explorer.generator, z, layer, channels)
    return Ablation(layer=layer, channels=channels, seed=seed, intact=intact, ablated=ablated)


def describe_ablation(explorer: Explorer, ablation: Ablation) -> str:
    width = generator_layer_widths(explorer)[ablation.layer]
    return (
        f"Zeroed channels {', '.join(map(str, ablation.channels))} of layer {ablation.layer} ({width} channels). "
        f"Mean pixel change {ablation.mean_change:.3f}."
    )


def ablation_metadata(explorer: Explorer, ablation: Ablation) -> dict[str, object]:
    """What an exported ablation carries (PNG text chunks)."""
    return {
        "model": explorer.name,
        "layer": ablation.layer,
        "channels": ",".join(map(str, ablation.channels)),
        "seed": ablation.seed,
        "caption": describe_ablation(explorer, ablation),
    }


@dataclass
class Forgetting(BeforeAfter):
    """The paper's Figure 6 on a labelled model: a logistic regression on one G layer's feature maps predicts
    whether the judge sees a class; the filters with positive weight are zeroed; samples of that class are
    drawn again from the same noise. The number that says whether it worked: the share of the class's samples
    the judge still calls that class, beside the same for random filter sets of the same size."""

    class_name: str
    layer: int
    seed: int
    channels: list[int]  # the filters zeroed: positive probe weight
    class_samples: int  # of PROBE_SAMPLES samples, those the judge called the class (FORGET_SHOWN of them drawn)
    still_share: float  # of up to FORGET_SCORED class samples, the share still called the class after zeroing
    random_still_share: float  # the same after zeroing random filter sets of the same size (mean of RANDOM_SETS)


def forget_class(explorer: Explorer, class_name: str, layer: int | None = None, seed: int = 0) -> Forgetting:
    """Fit the probe on G layer `layer` (default: the last hidden one, the paper's "second highest"), zero the
    filters that go with `class_name`, and measure what is left of the class (see Forgetting)."""
    judge = explorer.judge()
    if judge is None:
        raise DcganError(f"forgetting a class needs {A_CLASSIFIER}")
    names = list(judge.config.class_names)
    if class_name not in names:
        raise DcganError(f"pick a class from the list ({', '.join(names)}), not {class_name!r}")
    widths = generator_layer_widths(explorer)
    layer = len(widths) - 1 if layer is None else layer
    if not 0 <= layer < len(widths):
        raise DcganError(f"the generator has layers 0-{len(widths) - 1}, not {layer}")
    z = sample_noise(PROBE_SAMPLES, explorer.nz, explorer.noise, seed=seed)
    images, features = layer_features(explorer.generator, layer, z)
    with torch.inference_mode():
        called = torch.cat([judge(part).argmax(1) for part in images.split(500)]) == names.index(class_name)
    if int(called.sum()) < 2 or int(called.sum()) > PROBE_SAMPLES - 2:
        raise DcganError(
            f"of {PROBE_SAMPLES} samples from seed {seed}, {int(called.sum())} are a {class_name}: "
            "the probe needs some with and some without it; pick another class"
        )
    channels = [int(c) for c in (linear_probe(features, called) > 0).nonzero().flatten()]
    class_z = z[called][:FORGET_SCORED]

    def still_called(zeroed: list[int]) -> tuple[torch.Tensor, float]:
        _, after = ablation_images(explorer.generator, class_z, layer, zeroed)
        with torch.inference_mode():
            share = float((judge(after).argmax(1) == names.index(class_name)).float().mean())
        return after, share

    ablated, still_share = still_called(channels)
    draw = torch.Generator().manual_seed(seed)
    random_sets = [torch.randperm(widths[layer], generator=draw)[: len(channels)].tolist() for _ in range(RANDOM_SETS)]
    random_share = sum(still_called(chosen)[1] for chosen in random_sets) / RANDOM_SETS
    return Forgetting(
        class_name=class_name,
        layer=layer,
        seed=seed,
        channels=channels,
        class_samples=int(called.sum()),
        intact=images[called][:FORGET_SHOWN],
        ablated=ablated[:FORGET_SHOWN],
        still_share=still_share,
        random_still_share=random_share,
    )


def describe_forgetting(explorer: Explorer, forgetting: Forgetting) -> str:
    """The result in words a class can read (markdown)."""
    width = generator_layer_widths(explorer)[forgetting.layer]
    scored = min(forgetting.class_samples, FORGET_SCORED)
    return (
        f"A linear probe on layer {forgetting.layer}'s {width} filters picked the **{len(forgetting.channels)}** "
        f"that go with *{forgetting.class_name}*; zeroing them, the judge still calls "
        f"**{100 * forgetting.still_share:.0f}%** of {scored} {forgetting.class_name} samples a "
        f"{forgetting.class_name}, against **{100 * forgetting.random_still_share:.0f}%** after zeroing "
        f"{len(forgetting.channels)} random filters ({RANDOM_SETS} random sets). The lower the first number is "
        "beside the second, the more those filters draw the class."
    )


def forgetting_metadata(explorer: Explorer, forgetting: Forgetting) -> dict[str, object]:
    """What an exported figure carries (PNG text chunks)."""
    return {
        "model": explorer.name,
        "class": forgetting.class_name,
        "layer": forgetting.layer,
        "seed": forgetting.seed,
        "channels": ",".join(map(str, forgetting.channels)),
        "still_share": f"{forgetting.still_share:.3f}",
        "random_still_share": f"{forgetting.random_still_share:.3f}",
        "caption": describe_forgetting(explorer, forgetting),
    }
