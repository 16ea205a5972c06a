"""What every view asks of a loaded model, as plain data: the explorer's math, without a UI.

An `Explorer` is a generator plus what the views derive from it (the sensitivity ranking of z's
dimensions, GANSpace directions and their class-named labels, the judge, class means, the
discriminator and its probe batch), each computed at most once and safe to share between threads.
The walk functions below take an Explorer and a `WalkState` (plain data: a seed, slider values,
what the strip walks along) and return tensors and strings; the app, the CLI and a notebook call
the same ones, so the same seed gives the same pixels everywhere.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from .attribute_directions import AttributeDirections, attribute_label, entanglement, find_attribute_directions
from .checkpoints import load_discriminator, load_generator
from .classifier import JudgeClassifier, classifier_for, shared_classifier
from .data import load_image
from .errors import DcganError
from .features import (
    ablation_images,
    channel_scores,
    d_verdict_and_maps,
    g_layers,
    heatmap_overlay,
    layer_features,
    linear_probe,
    maximise_channel,
    most_active_channels,
    saliency,
)
from .images import to_uint8
from .latent import (
    arithmetic,
    class_mean_latents,
    dimension_sensitivity,
    direction_class_effects,
    generate,
    group_mean,
    lerp,
    neighbourhood,
    principal_directions,
    sample_noise,
    slerp,
)
from .models import Discriminator, Generator, init_weights
from .registry import model_facts
from .workload import (
    ABLATION_SAMPLES,
    ATTRIBUTE_SAMPLES,
    CLASS_MEAN_SAMPLES,
    DEFAULT_SEED_POOL,
    DIRECTION_SAMPLES,
    ENTANGLEMENT_SAMPLES,
    EXAMPLE_BATCHES,
    FORGET_SCORED,
    GALLERY_SIZE,
    INSIDE_CHANNELS,
    LABEL_SAMPLES,
    N_DIRECTIONS,
    PROBE_SAMPLES,
    PROBE_SIZE,
    RANDOM_SETS,
    SMOOTHING,
    TRIPLE_CLASSES,
    generator_batch,
    sensitivity_samples,
)

T = TypeVar("T")
WALK_DIMS = 8  # z dimensions a walk drives (the app's dimension sliders)
WALK_DIRECTIONS = 6  # directions a walk can move along (the app's direction sliders)
STRIP_LENGTH = 9  # images in the paper's "walking in the latent space" strip
INTERPOLATION_METHODS = ("lerp", "slerp")
ARITHMETIC_GROUPS = ("A", "B", "C")  # A - B + C
NEIGHBOURHOOD_SCALE = 0.25  # the paper's 3x3 grids: the result plus small noise (times z's spread)
A_CLASSIFIER = "a classifier for this model's data (Fashion-MNIST and the emoji sets have one)"
CLASS_STEPS = 5  # images from the start to start + class vector
INSIDE_LAYERS = 4  # D layers an inside look reports (the paper's D has 4 blocks)
TOP_SAMPLES = 9  # probe samples that excite a channel most (a 3x3 grid)
FORGET_SHOWN = 8  # samples of the class shown before and after
# The sizes of the bulk work (2,000 probe samples, ...) live in dcgan/workload.py, beside the estimate of
# what they cost that decides whether a visitor's model may be shown at all.


@dataclass
class WalkState:
    """One walk through z: where it starts and what has been moved. Plain data (the app keeps it per visitor)."""

    seed: int = 0
    base: list[float] | None = None  # a projected image's z, used instead of the seed's
    base_label: str = ""
    dims: list[int] = field(default_factory=list)  # the z dimensions the sliders drive
    custom_dims: bool = False  # True when the visitor chose them (else: the most sensitive)
    edits: dict[int, float] = field(default_factory=dict)  # z[dim] = value, set by the dimension sliders
    offsets: dict[int, float] = field(default_factory=dict)  # direction k -> amount moved along it
    attributes: dict[str, float] = field(default_factory=dict)  # attribute ("glasses") -> amount along its direction
    keep_others: bool = False  # attribute directions with the other attributes' projected out
    strip: str = "direction 0"  # what the 9-image strip walks along: "direction k", "z[d]" or "attribute NAME"


@dataclass
class Interpolation:
    """Seed pairs joined by lerp and slerp (the paper's Figure 4): row i joins seed_a+i to seed_b+i; row 0's
    ends may be projected images' z (start_z/end_z, named start/end) instead. Plain data."""

    seed_a: int = 1
    seed_b: int = 2
    steps: int = 9
    rows: int = 4
    start: str = "seed"  # "seed" or the name of the projected image start_z came from
    end: str = "seed"
    start_z: list[float] | None = None
    end_z: list[float] | None = None


@dataclass
class Explorer:
    """A generator and what the views derive from it, each computed at most once."""

    name: str
    key: str
    generator: Generator
    facts: dict[str, object]
    card: str  # the model card (README.md) text, "" when the folder has none
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sensitivity: torch.Tensor | None = field(default=None, repr=False)
    _directions: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)
    _direction_labels: list[str] | None = field(default=None, repr=False)
    _class_means: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)
    _attributes: AttributeDirections | None = field(default=None, repr=False)
    _discriminator: torch.nn.Module | None = field(default=None, repr=False)
    _untrained: torch.nn.Module | None = field(default=None, repr=False)
    _probe: tuple[torch.Tensor, list[torch.Tensor]] | None = field(default=None, repr=False)
    _examples: dict[str, object] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, key: str | Path, name: str | None = None) -> Explorer:
        """A model folder, run directory or Hub id -> an Explorer on the CPU (DcganError if it can't)."""
        key = str(key)
        generator = load_generator(key, device="cpu")
        generator.to(memory_format=torch.channels_last)  # ~10% faster forwards on the CPU (bench/ui_latency.py)
        facts = model_facts(key)
        card = str(facts.pop("card", ""))  # shown on its own, below the facts
        return cls(name=name or key, key=key, generator=generator, facts=facts, card=card)

    @property
    def nz(self) -> int:
        return self.generator.config.nz

    @property
    def noise(self) -> str:
        return self.generator.config.noise

    @property
    def image_size(self) -> int:
        return self.generator.config.image_size

    @property
    def noise_std(self) -> float:
        """Per-dimension spread of z: 1 for N(0, 1), 1/sqrt(3) for U(-1, 1)."""
        return 1.0 if self.noise == "normal" else 3**-0.5

    @property
    def display_scale(self) -> int:
        """Nearest-neighbour upscale factor that shows the image at ~256 px."""
        return max(1, 256 // self.image_size)

    def sensitivity(self) -> torch.Tensor:
        """(nz,) mean pixel change per unit move of each z dimension."""
        with self._lock:
            if self._sensitivity is None:
                samples = sensitivity_samples(self.image_size)
                self._sensitivity = dimension_sensitivity(self.generator, self.noise, n=samples)
            return self._sensitivity

    def walk_ready(self) -> bool:
        """Whether a walk can be drawn without preparing anything: the ranking and directions are computed (and
        the attribute directions, when the judge reads attributes)."""
        judge = self.judge()
        attributes_needed = judge is not None and bool(judge.config.attributes)
        with self._lock:
            ready = self._sensitivity is not None and self._directions is not None
            return ready and (self._attributes is not None or not attributes_needed)

    def ranked_dimensions(self) -> list[int]:
        """Every z dimension, most image-changing first."""
        return [int(d) for d in torch.argsort(self.sensitivity(), descending=True, stable=True)]

    def directions(self) -> tuple[torch.Tensor, torch.Tensor]:
        """((k, nz) orthonormal GANSpace directions, (k,) share of layer variance of each)."""
        with self._lock:
            if self._directions is None:
                k = min(N_DIRECTIONS, self.nz)
                self._directions = principal_directions(
                    self.generator, k=k, n=DIRECTION_SAMPLES, distribution=self.noise
                )
            return self._directions

    def judge(self) -> JudgeClassifier | None:
        """The classifier the dataset registry names for this model's data (Fashion-MNIST's judge, the emoji
        categories' one), loaded once per process; None when there is none or it cannot read this model's
        images (a colour classifier and a grey model)."""
        classifier = classifier_for(str(self.facts.get("data") or ""))
        if classifier is None or not classifier.accepts(self.generator.config.nc):
            return None
        return classifier

    def direction_labels(self) -> list[str]:
        """ "direction k (x% of layer variance)", plus what it turns which class into when a judge exists."""
        with self._lock:
            if self._direction_labels is not None:
                return self._direction_labels
        directions, ratios = self.directions()
        labels = [f"direction {k} ({100 * float(ratio):.1f}% of layer variance)" for k, ratio in enumerate(ratios)]
        judge = self.judge()
        if judge is not None:
            effects = direction_class_effects(
                self.generator, directions, judge, amount=2.0 * self.noise_std, n=LABEL_SAMPLES, distribution=self.noise
            )
            names = judge.config.class_names
            labels = [
                f"direction {k}: − {names[int(effect.argmin())]} / + {names[int(effect.argmax())]}"
                for k, effect in enumerate(effects)
            ]
        with self._lock:
            self._direction_labels = labels
        return labels

    def class_means(self) -> tuple[list[str], torch.Tensor, torch.Tensor] | None:
        """(class names, (K, nz) mean z per class the judge recognises, (K,) sample counts), or None
        without a judge: the arithmetic tab's second way in ("Sneaker -> Ankle boot")."""
        judge = self.judge()
        if judge is None:
            return None
        with self._lock:
            if self._class_means is None:
                self._class_means = class_mean_latents(
                    self.generator, judge, len(judge.config.class_names), n=CLASS_MEAN_SAMPLES, distribution=self.noise
                )
            means, counts = self._class_means
        return list(judge.config.class_names), means, counts

    def attribute_directions(self) -> AttributeDirections | None:
        """The directions in z of the attributes the judge reads (faces: woman, glasses, smile, beard, hat), or
        None when its judge reads none (dcgan/attribute_directions.py)."""
        judge = self.judge()
        if judge is None or not judge.config.attributes:
            return None
        with self._lock:
            if self._attributes is None:
                self._attributes = find_attribute_directions(
                    self.generator, judge, n=ATTRIBUTE_SAMPLES, distribution=self.noise
                )
            return self._attributes

    def entanglement(self, keep_others: bool) -> torch.Tensor | None:
        """(directions, 3, attributes): the judge's mean reading of each attribute at -2 / 0 / +2 along each
        attribute direction (computed once per model and setting), or None without attribute directions."""
        found = self.attribute_directions()
        if found is None:
            return None
        judge = self.judge()
        return self.example(
            f"entanglement keep_others={keep_others}",
            lambda: entanglement(
                self.generator, judge, found, keep_others, n=ENTANGLEMENT_SAMPLES, distribution=self.noise
            ),
        )

    def discriminator(self) -> torch.nn.Module:
        """The discriminator saved beside the generator (DcganError when the folder has none)."""
        with self._lock:
            if self._discriminator is None:
                self._discriminator = load_discriminator(self.key, device="cpu")
            return self._discriminator

    def untrained_discriminator(self) -> torch.nn.Module:
        """A discriminator of the same architecture with the paper's random init (seed 0), never trained: the
        paper's baseline for what D's features show (Figure 5: trained filters beside random ones)."""
        config = self.discriminator().config
        with self._lock:
            if self._untrained is None:
                with torch.random.fork_rng(devices=[]):  # the global RNG is not ours to move
                    torch.manual_seed(0)
                    untrained = Discriminator(config)
                    init_weights(untrained)
                self._untrained = untrained.eval()
            return self._untrained

    def probe(self) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """A fixed batch of PROBE_SIZE generated images (seed 0), as uint8 pixels (N, C, H, W), and D's
        per-layer (N, C) channel scores on them: which samples excite which channel is looked up here, not
        recomputed per click. Kept as uint8, what they are shown as: a quarter of the memory of floats
        (98 MB -> 25 MB at 64 px), for every model the app holds."""
        discriminator = self.discriminator()
        with self._lock:
            if self._probe is None:
                z = sample_noise(PROBE_SIZE, self.nz, self.noise, seed=0)
                pixels, scores = [], []
                for part in z.split(generator_batch(self.generator.config)):  # the floats a batch at a time
                    images = generate(self.generator, part)
                    pixels.append(torch.from_numpy(to_uint8(images)).permute(0, 3, 1, 2).contiguous())
                    scores.append(channel_scores(discriminator, images))
                per_layer = [torch.cat(layer) for layer in zip(*scores, strict=True)]
                self._probe = torch.cat(pixels), per_layer
            return self._probe

    def example(self, name: str, compute: Callable[[], T]) -> T:
        """A worked example's result (the app's first open of a tab), computed once per model and shared by
        every visitor: opening a page costs no model work after the first. Two first visitors at once may
        both compute it; the results are equal."""
        with self._lock:
            if name in self._examples:
                return self._examples[name]
        result = compute()
        with self._lock:
            return self._examples.setdefault(name, result)

    def computed_example(self, name: str) -> object | None:
        """example(name)'s result if it was computed already, else None (costs nothing)."""
        with self._lock:
            return self._examples.get(name)


def default_seed(explorer: Explorer) -> tuple[int, str]:
    """The seed the app opens a model at, by a stated rule rather than by hand: among seeds 0-99, the one whose
    sample the dataset's classifier is surest about (its top class probability); without a classifier, the one
    the model's own D scores most real; seed 0 when it has neither. Returns (seed, the rule in words)."""

    def choose() -> tuple[int, str]:
        z = torch.cat([sample_noise(1, explorer.nz, explorer.noise, seed=s) for s in range(DEFAULT_SEED_POOL)])
        judge = explorer.judge()
        try:
            scorer = judge or explorer.discriminator()
        except DcganError:
            return 0, "seed 0 (this model has no classifier and no discriminator to choose by)"
        with torch.inference_mode():
            images = generate(explorer.generator, z)
            scores = judge(images).softmax(1).amax(1) if judge else d_verdict_and_maps(scorer, images)[0]
        rule = "its classifier is surest about" if judge else "its discriminator scores most real"
        return int(scores.argmax()), f"the seed among 0-{DEFAULT_SEED_POOL - 1} whose sample {rule}"

    return explorer.example("default seed", choose)


def shared_judge() -> JudgeClassifier | None:
    """The shipped Fashion-MNIST judge classifier, loaded once; None when checkpoints/ does not hold it."""
    return shared_classifier("fashion-mnist-judge")


# ---- the walk ------------------------------------------------------------------------------------------------


def seed_z(explorer: Explorer, walk: WalkState) -> torch.Tensor:
    """(nz,) the walk's starting point: a projected image's z, or the seed's."""
    if walk.base is not None and len(walk.base) == explorer.nz:
        return torch.tensor(walk.base, dtype=torch.float32)
    return sample_noise(1, explorer.nz, explorer.noise, seed=walk.seed)[0]


def edited_z(explorer: Explorer, walk: WalkState) -> torch.Tensor:
    """(nz,) the start with the dimension sliders' values set (what those sliders show)."""
    z = seed_z(explorer, walk)
    for dim, value in walk.edits.items():
        if 0 <= dim < explorer.nz:
            z[dim] = value
    return z


def walk_z(explorer: Explorer, walk: WalkState) -> torch.Tensor:
    """(nz,) the z on screen: the start, with the dimension sliders' values, moved along the directions."""
    z = edited_z(explorer, walk)
    directions, _ = explorer.directions()
    for k, amount in walk.offsets.items():
        if 0 <= k < len(directions):
            z = z + amount * directions[k]
    found = explorer.attribute_directions() if walk.attributes else None
    for name, amount in walk.attributes.items():
        if found is not None and name in found.names:
            z = z + amount * found.direction(name, walk.keep_others)
    return z


def dim_limit(explorer: Explorer) -> float:
    """Range of one z dimension in a walk: +-3 sigma for N(0, 1), the whole of U(-1, 1)."""
    return 3.0 if explorer.noise == "normal" else 1.0


def direction_limit(explorer: Explorer) -> float:
    """Directions are unit vectors, so z's coordinate along one has the noise's per-dimension spread."""
    return round(3.0 * explorer.noise_std, 2)


def clamp(value: float, limit: float) -> float:
    return max(-limit, min(limit, value))


def valid_dims(explorer: Explorer, walk: WalkState) -> None:
    """Keep the walk's dimensions when they fit this model, else the WALK_DIMS most sensitive; clamp the
    edits and offsets to their ranges (in place)."""
    wanted = [d for d in walk.dims if 0 <= d < explorer.nz][:WALK_DIMS] if walk.custom_dims else []
    walk.custom_dims = bool(wanted)
    walk.dims = wanted or explorer.ranked_dimensions()[:WALK_DIMS]
    walk.edits = {d: clamp(v, dim_limit(explorer)) for d, v in walk.edits.items() if d in walk.dims}
    n_directions = min(WALK_DIRECTIONS, len(explorer.directions()[0]))
    walk.offsets = {k: clamp(v, direction_limit(explorer)) for k, v in walk.offsets.items() if 0 <= k < n_directions}
    names = attribute_names(explorer) if walk.attributes else []
    walk.attributes = {a: clamp(v, direction_limit(explorer)) for a, v in walk.attributes.items() if a in names and v}


def attribute_names(explorer: Explorer) -> list[str]:
    """The attributes this model's walk has a slider for (none without an attribute-reading judge)."""
    found = explorer.attribute_directions()
    return list(found.names) if found is not None else []


def strip_choices(explorer: Explorer, walk: WalkState) -> list[str]:
    """What the strip can walk along: every direction, then the attributes', then the walk's dimensions."""
    directions = [f"direction {k}" for k in range(len(explorer.directions()[0]))]
    attributes = [f"attribute {name}" for name in attribute_names(explorer)]
    return directions + attributes + [f"z[{d}]" for d in walk.dims]


def strip_images(explorer: Explorer, walk: WalkState) -> tuple[torch.Tensor, str]:
    """(9, nc, S, S) along walk.strip, and a caption. One generator forward for the whole strip.

    A direction: the current z moved from -3 sigma to +3 sigma along it. A dimension z[d]: z[d]
    swept over its slider range with the rest of z fixed.
    """
    z = walk_z(explorer, walk)
    choice = walk.strip if walk.strip in strip_choices(explorer, walk) else "direction 0"
    if choice.startswith("direction"):
        k = int(choice.split()[1])
        limit = direction_limit(explorer)
        amounts = torch.linspace(-limit, limit, STRIP_LENGTH)
        path = z + amounts[:, None] * explorer.directions()[0][k]
        caption = f"{explorer.direction_labels()[k]}: z moved from {-limit:+.2f} to {limit:+.2f} along it"
    elif choice.startswith("attribute "):
        name = choice.removeprefix("attribute ")
        limit = direction_limit(explorer)
        amounts = torch.linspace(-limit, limit, STRIP_LENGTH)
        path = z + amounts[:, None] * explorer.attribute_directions().direction(name, walk.keep_others)
        kept = ", the other attributes kept" if walk.keep_others else ""
        caption = f"{attribute_label(name)}: z moved from {-limit:+.2f} to {limit:+.2f} along its direction{kept}"
    else:
        dim = int(choice[2:-1])
        limit = dim_limit(explorer)
        path = z.repeat(STRIP_LENGTH, 1)
        path[:, dim] = torch.linspace(-limit, limit, STRIP_LENGTH)
        caption = f"z[{dim}] swept from {-limit:+.1f} to {limit:+.1f}, the rest of z fixed"
    return generate(explorer.generator, path), caption


def strip_metadata(explorer: Explorer, walk: WalkState, caption: str) -> dict[str, object]:
    """What an exported strip carries (PNG text chunks, GIF comment): enough to draw it again."""
    return {
        "model": explorer.name,
        "seed": walk.seed if walk.base is None else walk.base_label,
        "along": walk.strip,
        "caption": caption,
        "edits": walk.edits,
        "offsets": walk.offsets,
        "attributes": walk.attributes,
        "keep_others": walk.keep_others,
    }


def move_slider(explorer: Explorer, walk: WalkState, kind: str, slot: int, value: float) -> bool:
    """Apply one slider's value to the walk: dimension slider `slot` sets z[walk.dims[slot]], direction
    slider `slot` sets the amount along direction `slot`, attribute slider `slot` the amount along the
    `slot`th attribute's direction, clamped to the slider's range. False when that
    slider is unused; DcganError for NaN or inf (a request can send what no slider can)."""
    value = float(value)
    if not math.isfinite(value):
        raise DcganError(f"a slider value must be a finite number, not {value}")
    if kind == "dim":
        if not 0 <= slot < len(walk.dims):
            return False
        walk.edits[walk.dims[slot]] = clamp(value, dim_limit(explorer))
    elif kind == "attribute":
        names = attribute_names(explorer)
        if not 0 <= slot < len(names):
            return False
        walk.attributes[names[slot]] = clamp(value, direction_limit(explorer))
        walk.attributes = {name: v for name, v in walk.attributes.items() if v != 0}
    else:
        if not 0 <= slot < min(WALK_DIRECTIONS, len(explorer.directions()[0])):
            return False
        walk.offsets[slot] = clamp(value, direction_limit(explorer))
        walk.offsets = {k: v for k, v in walk.offsets.items() if v != 0}
    return True


def walk_along(explorer: Explorer, seed: int, along: str = "direction 0") -> WalkState:
    """A fresh walk from `seed` whose strip goes along `along` ("direction k", "attribute NAME" or "z[d]", any
    d < nz); DcganError naming the choices when it is none of them."""
    walk = WalkState(seed=seed, strip=along)
    if along.startswith("z[") and along.endswith("]") and along[2:-1].isdigit():
        walk.dims, walk.custom_dims = [int(along[2:-1])], True
    valid_dims(explorer, walk)
    n_directions = len(explorer.directions()[0])
    if along not in strip_choices(explorer, walk):
        attributes = "".join(f", 'attribute {name}'" for name in attribute_names(explorer))
        raise DcganError(
            f"cannot walk along {along!r}: use 'direction K' (K from 0 to {n_directions - 1}){attributes} "
            f"or 'z[D]' (D from 0 to {explorer.nz - 1})"
        )
    return walk


# ---- interpolation -------------------------------------------------------------------------------------------


def interpolation_endpoints(explorer: Explorer, interpolation: Interpolation) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, nz) start and end points: row i joins seed a+i to seed b+i; row 0's ends may be projected images."""
    rows = interpolation.rows
    starts = torch.stack(
        [sample_noise(1, explorer.nz, explorer.noise, seed=interpolation.seed_a + row)[0] for row in range(rows)]
    )
    ends = torch.stack(
        [sample_noise(1, explorer.nz, explorer.noise, seed=interpolation.seed_b + row)[0] for row in range(rows)]
    )
    for z, points in ((interpolation.start_z, starts), (interpolation.end_z, ends)):
        if z is not None and len(z) == explorer.nz:
            points[0] = torch.tensor(z)
    return starts, ends


def interpolation_paths(explorer: Explorer, interpolation: Interpolation) -> dict[str, torch.Tensor]:
    """{method: (rows, steps, nz)} for lerp and slerp."""
    starts, ends = interpolation_endpoints(explorer, interpolation)
    steps = interpolation.steps
    return {
        method: torch.stack([function(a, b, steps) for a, b in zip(starts, ends, strict=True)])
        for method, function in (("lerp", lerp), ("slerp", slerp))
    }


def interpolation_images(explorer: Explorer, method_paths: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{method: (rows, steps, nc, S, S)}, from one generator forward for both methods and every row."""
    rows, steps, nz = method_paths["lerp"].shape
    every_z = torch.cat([method_paths[method].reshape(-1, nz) for method in INTERPOLATION_METHODS])
    config = explorer.generator.config
    image_shape = (config.nc, config.image_size, config.image_size)
    images = generate(explorer.generator, every_z).reshape(len(INTERPOLATION_METHODS), rows, steps, *image_shape)
    return dict(zip(INTERPOLATION_METHODS, images, strict=True))


def path_norms(method_paths: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{method: (rows, steps) ||z||}: lerp's dips in the middle (through the low-density inside of the shell
    where Gaussian z lives), slerp's stays on it."""
    return {method: method_paths[method].norm(dim=2) for method in INTERPOLATION_METHODS}


def path_contrast(method_images: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{method: (steps,)} each frame's contrast, the standard deviation of its pixels, averaged over the rows:
    what "lerp's middle images are washed out" means, as a number per frame."""
    return {method: images.flatten(2).std(dim=2).mean(dim=0) for method, images in method_images.items()}


def describe_contrast(contrast: dict[str, torch.Tensor]) -> str:
    """A markdown table: the contrast of every frame for lerp and slerp, and the middle frame's against the ends'."""
    steps = len(contrast["lerp"])
    header = "| contrast (pixel std) | " + " | ".join(f"t={t:.2f}" for t in torch.linspace(0, 1, steps).tolist())
    lines = [header + " |", "|---" * (steps + 1) + "|"]
    for method in INTERPOLATION_METHODS:
        lines.append(f"| {method} | " + " | ".join(f"{value:.2f}" for value in contrast[method].tolist()) + " |")
    middle = steps // 2
    changes = {
        method: 100 * (float(values[middle]) / float((values[0] + values[-1]) / 2) - 1)
        for method, values in contrast.items()
    }
    summary = ", ".join(f"{method} {change:+.0f}%" for method, change in changes.items())
    return "\n".join(lines) + f"\n\nThe middle frame's contrast against the ends': {summary}."


def typical_norm(explorer: Explorer) -> float:
    """||z|| of a typical sample: sqrt(nz) for N(0, 1), sqrt(nz / 3) for U(-1, 1)."""
    return math.sqrt(explorer.nz if explorer.noise == "normal" else explorer.nz / 3)


def describe_interpolation(interpolation: Interpolation) -> str:
    """What the rows join (markdown): the app's caption, and the exports' "top_row"."""
    start = interpolation.start if interpolation.start_z is not None else f"seed {interpolation.seed_a}"
    end = interpolation.end if interpolation.end_z is not None else f"seed {interpolation.seed_b}"
    seeds = f"{interpolation.seed_a}+i -> {interpolation.seed_b}+i"
    more = f"; rows below: seeds {seeds}" if interpolation.rows > 1 else ""
    return f"Top row: **{start} -> {end}**{more}. Same endpoints, different paths: look at the middle columns."


def interpolation_export_scale(explorer: Explorer) -> int:
    """Exported strips are upscaled so a 32 px model's are not postage stamps."""
    return max(1, 64 // explorer.image_size)


def interpolation_metadata(explorer: Explorer, interpolation: Interpolation, method: str) -> dict[str, object]:
    """What an exported strip carries (PNG text chunks, GIF comment)."""
    return {
        "model": explorer.name,
        "method": method,
        "seeds": f"{interpolation.seed_a}+i -> {interpolation.seed_b}+i for i < {interpolation.rows}",
        "top_row": describe_interpolation(interpolation),
        "steps": interpolation.steps,
        "rows": interpolation.rows,
    }


# ---- vector arithmetic ---------------------------------------------------------------------------------------


def seeds_z(explorer: Explorer, seeds: list[int]) -> torch.Tensor:
    """(len(seeds), nz): each seed's z (a group of exemplars named by seeds, as the CLI takes them)."""
    return torch.cat([sample_noise(1, explorer.nz, explorer.noise, seed=seed) for seed in seeds])


def arithmetic_latents(explorer: Explorer, groups: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{name: (n, nz)} for the groups holding exemplars ((k, nz) each, keyed "A", "B", "C").

    Names: "<G> picks" (the exemplars) and "<G> mean" (their average) for each such group; and, when
    every group has one, "neighbourhood" (A - B + C on the averages first, then 8 small moves around it:
    the 3x3 grid) and "single" (A - B + C on the first exemplar of each group).
    """
    groups = {group: groups[group] for group in ARITHMETIC_GROUPS if group in groups and len(groups[group])}
    latents = {}
    for group, zs in groups.items():
        if zs.dim() != 2 or zs.shape[1] != explorer.nz:
            raise DcganError(f"group {group}'s z's have shape {tuple(zs.shape)}; this model's z has {explorer.nz}")
        latents[f"{group} picks"] = zs
        latents[f"{group} mean"] = group_mean(zs)[None]
    if len(groups) == len(ARITHMETIC_GROUPS):
        averaged = arithmetic(groups["A"], groups["B"], groups["C"])
        latents["neighbourhood"] = neighbourhood(averaged, n=9, scale=NEIGHBOURHOOD_SCALE * explorer.noise_std)
        latents["single"] = (groups["A"][0] - groups["B"][0] + groups["C"][0])[None]
    return latents


def gallery_z(explorer: Explorer, batch_seed: int) -> torch.Tensor:
    """(GALLERY_SIZE, nz): the arithmetic gallery's batch; sample i of batch s is row i of seed s, so
    "#i of batch s" (a link's "s.i") names one z for good."""
    return sample_noise(GALLERY_SIZE, explorer.nz, explorer.noise, seed=batch_seed)


# ---- the worked arithmetic example, chosen by a measured rule (issue 25) --------------------------------------
#
# The paper's smiling woman − neutral woman + neutral man = smiling man is a parallelogram: the result is C
# changed the way A differs from B, and A changed the way C differs from B. With a judge, every triple of
# classes the model draws is tried and the one whose result closes that parallelogram best, in the judge's
# feature space, is the example: a measured choice, not a hand-picked one ("sneakers − sandals + boots" gave a
# boot, C alone).

CONFIDENT = 0.5  # a gallery sample counts as its class when the judge gives that class at least this
RECOGNISABLE = 0.5  # the result must be something: the judge's top probability on it at least this
MIN_CLOSURE = 0.1  # a worked example moves at least 10% of the way along both sides of the parallelogram
# The paper's own Figure 7 sums, as a faces judge's classes (A, B, C): taken as the worked example when the judge
# has these classes and the model draws them (its rule's best is reported beside it)
PAPER_CLASS_TRIPLES = (("man, glasses", "man", "woman"), ("woman, smiling", "woman", "man"))
WORKED_ARITHMETIC_RULE = (
    "Chosen by a measured rule: every triple of classes the model draws was tried (the {per} gallery samples "
    "of batches 0-{last} the judge is surest are each class, averaged); the example is the one whose result moves, "
    "in the judge's feature space, furthest from C in the direction of A − B and from A in the direction of "
    "C − B (the smaller of the two shares of the way, 1 = the whole side of the parallelogram), among those "
    "whose averages read as their classes and whose result reads as something (>= {recognisable:.0%})."
)


@dataclass(frozen=True)
class RankedTriple:
    """One A − B + C of class averages, scored by how well it closes the parallelogram (see parallelogram_score)."""

    classes: tuple[str, str, str]  # A, B, C; a result that reads as A's or C's class reads as C's (the paper's order)
    score: float  # min(along_ab, along_cb)
    along_ab: float  # share of f(A) − f(B) that f(result) − f(C) covers (1: all of it)
    along_cb: float  # share of f(C) − f(B) that f(result) − f(A) covers
    result_class: str  # what the judge calls the result
    result_confidence: float  # and how sure it is


@dataclass(frozen=True)
class WorkedArithmetic:
    """The arithmetic tab's worked example: per group, (batch seed, index) of its gallery samples, their classes,
    and the measured score (None for the mechanics only: no judge, or no triple closes the parallelogram)."""

    picks: dict[str, list[tuple[int, int]]]
    classes: tuple[str, str, str] | None
    score: float | None
    ranking: list[RankedTriple]  # every eligible triple, best first (empty without a judge)
    rule: str  # the rule in words (markdown), with this model's number when there is one


def parallelogram_score(
    f_a: torch.Tensor, f_b: torch.Tensor, f_c: torch.Tensor, f_result: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(score, along_ab, along_cb), each (N,), for features (N, D) of A, B, C and the result of A − B + C.

    along_ab = (f(r) − f(c))·(f(a) − f(b)) / |f(a) − f(b)|²: how far the result went from C the way A differs
    from B (0: it is just C); along_cb the same from A along C − B (0: it is just A). score = the smaller: a
    result has to be both at once, so either trivial case scores about 0 however large the other share is."""
    ab, cb = f_a - f_b, f_c - f_b
    tiny = torch.finfo(ab.dtype).tiny  # equal features: no side to move along (the share is 0, not NaN)
    along_ab = ((f_result - f_c) * ab).sum(1) / ab.pow(2).sum(1).clamp(min=tiny)
    along_cb = ((f_result - f_a) * cb).sum(1) / cb.pow(2).sum(1).clamp(min=tiny)
    return torch.minimum(along_ab, along_cb), along_ab, along_cb


def class_exemplars(
    explorer: Explorer, batches: int = EXAMPLE_BATCHES, per_class: int = 3
) -> dict[str, list[tuple[int, int]]]:
    """{class: (batch seed, index) of its `per_class` samples in gallery batches 0 .. batches-1 that the judge is
    surest are that class (at least CONFIDENT), in gallery order} for each class with that many, in the judge's
    class order; {} without a judge. One generator and one judge forward."""
    return {name: picks for name, (picks, _) in _exemplars_and_counts(explorer, batches, per_class).items()}


def _exemplars_and_counts(
    explorer: Explorer, batches: int, per_class: int
) -> dict[str, tuple[list[tuple[int, int]], int]]:
    """class_exemplars, with each class's number of confident samples."""
    judge = explorer.judge()
    if judge is None:
        return {}
    images = generate(explorer.generator, torch.cat([gallery_z(explorer, seed) for seed in range(batches)]))
    with torch.inference_mode():
        # log-probabilities: softmax rounds many sure samples to exactly 1.0, its log keeps them apart
        sureness, called = judge(images).log_softmax(1).max(1)
    found = {}
    for index, name in enumerate(judge.config.class_names):
        confident = ((called == index) & (sureness >= math.log(CONFIDENT))).nonzero().flatten()
        if len(confident) >= per_class:
            surest = confident[torch.argsort(sureness[confident], descending=True, stable=True)][:per_class]
            found[name] = ([divmod(int(i), GALLERY_SIZE) for i in sorted(surest.tolist())], len(confident))
    return found


def picks_z(explorer: Explorer, picks: list[tuple[int, int]]) -> torch.Tensor:
    """(len(picks), nz): the z of gallery samples named (batch seed, index), in that order."""
    return torch.stack([gallery_z(explorer, batch)[index] for batch, index in picks])


def rank_class_triples(explorer: Explorer, batches: int = EXAMPLE_BATCHES, per_class: int = 3) -> list[RankedTriple]:
    """Every A − B + C of three distinct classes' averages (class_exemplars), scored by parallelogram_score on
    the judge's features of the four images the tab draws (G of the averages, G of A − B + C); best first,
    only those whose averages the judge reads as their classes and whose result it reads as something
    (RECOGNISABLE). [] without a judge. A − B + C = C − B + A, so each result is drawn once: one generator
    and one judge forward of at most 10 + 360 images (TRIPLE_CLASSES)."""
    return _ranked_triples(explorer, batches, per_class)[0]


def _ranked_triples(
    explorer: Explorer, batches: int, per_class: int
) -> tuple[list[RankedTriple], dict[str, list[tuple[int, int]]]]:
    """rank_class_triples, and class_exemplars it ranked."""
    judge = explorer.judge()
    found = _exemplars_and_counts(explorer, batches, per_class)
    exemplars = {name: picks for name, (picks, _) in found.items()}
    if judge is None or len(found) < 3:
        return [], exemplars
    names = list(judge.config.class_names)
    # The shipped sets' classes all fit; of a bigger label set, those the model draws most often (stable sort:
    # ties keep the class order), kept in the class order.
    most_drawn = sorted(found, key=lambda name: -found[name][1])[:TRIPLE_CLASSES]
    kept = [name for name in found if name in most_drawn]
    if len(kept) < 3:
        return [], exemplars
    groups = {name: picks_z(explorer, found[name][0]) for name in kept}
    # (a, b, c) with a < c: the result is symmetric in A and C
    triples = [(a, b, c) for b in kept for a in kept for c in kept if kept.index(a) < kept.index(c) and b not in (a, c)]
    means = torch.stack([group_mean(groups[name]) for name in kept])
    results = torch.stack([arithmetic(groups[a], groups[b], groups[c]) for a, b, c in triples])
    images = generate(explorer.generator, torch.cat([means, results]))
    with torch.inference_mode():
        features, logits = judge.features_and_logits(images)
    probabilities = logits.softmax(1)
    mean_features, result_features = features[: len(kept)], features[len(kept) :]
    reads_as_itself = [names[int(probabilities[k].argmax())] == name for k, name in enumerate(kept)]
    row = {name: k for k, name in enumerate(kept)}
    a_rows, b_rows, c_rows = (torch.tensor([row[t[i]] for t in triples]) for i in range(3))
    score, along_ab, along_cb = parallelogram_score(
        mean_features[a_rows], mean_features[b_rows], mean_features[c_rows], result_features
    )
    confidence, called = probabilities[len(kept) :].max(1)
    ranked = []
    for t, (a, b, c) in enumerate(triples):
        if not all(reads_as_itself[row[name]] for name in (a, b, c)) or float(confidence[t]) < RECOGNISABLE:
            continue
        shares = (float(along_ab[t]), float(along_cb[t]))
        result_class = names[int(called[t])]
        if result_class == a:  # the paper's order: C, changed the way A differs from B
            a, c, shares = c, a, shares[::-1]
        ranked.append(RankedTriple((a, b, c), float(score[t]), *shares, result_class, float(confidence[t])))
    # stable: equal scores keep the class order
    return sorted(ranked, key=lambda triple: -triple.score), exemplars


def worked_arithmetic(explorer: Explorer, batches: int = EXAMPLE_BATCHES, per_group: int = 3) -> WorkedArithmetic:
    """The worked A − B + C: the paper's own sum when the judge's classes hold it (PAPER_CLASS_TRIPLES: faces),
    else the best of rank_class_triples when it scores at least MIN_CLOSURE, with its gallery picks; else the
    mechanics only (the first samples of batch 0 in turn, classes None). Computed once
    per model with the defaults (Explorer.example; the app warms it at start)."""

    def choose() -> WorkedArithmetic:
        mechanics = {
            group: [(0, per_group * g + i) for i in range(per_group)] for g, group in enumerate(ARITHMETIC_GROUPS)
        }
        rule = WORKED_ARITHMETIC_RULE.format(per=per_group, last=batches - 1, recognisable=RECOGNISABLE)
        ranking, exemplars = _ranked_triples(explorer, batches, per_group)
        paper = _paper_triple(ranking)
        if paper is not None:
            best = ranking[0]
            rule = (
                f"The paper's own sum (its Figure 7): {' − '.join(paper.classes[:2])} + {paper.classes[2]}, the "
                f"{per_group} gallery samples of batches 0-{batches - 1} the judge is surest are each class, averaged. "
                f"Its score by the measured rule used for other models: **{paper.score:.2f}** (the best of "
                f"{len(ranking)} triples scores {best.score:.2f}: {' − '.join(best.classes[:2])} + {best.classes[2]})."
            )
            picks = {group: exemplars[name] for group, name in zip(ARITHMETIC_GROUPS, paper.classes, strict=True)}
            return WorkedArithmetic(picks, paper.classes, paper.score, ranking, rule)
        if not ranking or ranking[0].score < MIN_CLOSURE:
            best = f" The best scores {ranking[0].score:.2f}" if ranking else " No triple is eligible"
            rule += f"{best}, under {MIN_CLOSURE}: no worked example, only the mechanics."
            return WorkedArithmetic(mechanics, None, None, ranking, rule if explorer.judge() else "")
        best = ranking[0]
        picks = {group: exemplars[name] for group, name in zip(ARITHMETIC_GROUPS, best.classes, strict=True)}
        a, b, c = best.classes
        rule += (
            f" Here: {a} − {b} + {c}, of {len(ranking)} eligible triples; the result (a {best.result_class}, "
            f"{best.result_confidence:.0%}) went {best.along_ab:.2f} of the way from {c} along {a} − {b} and "
            f"{best.along_cb:.2f} from {a} along {c} − {b}: **score {best.score:.2f}**."
        )
        return WorkedArithmetic(picks, best.classes, best.score, ranking, rule)

    if (batches, per_group) != (EXAMPLE_BATCHES, 3):
        return choose()
    return explorer.example("worked arithmetic", choose)


def _paper_triple(ranking: list[RankedTriple]) -> RankedTriple | None:
    """The first of PAPER_CLASS_TRIPLES among the ranked (eligible) triples, in the paper's order (A − B + C =
    C − B + A, so the ranking may hold it the other way round), or None."""
    for a, b, c in PAPER_CLASS_TRIPLES:
        for ranked in ranking:
            if ranked.classes == (a, b, c):
                return ranked
            if ranked.classes == (c, b, a):
                return dataclasses.replace(
                    ranked, classes=(a, b, c), along_ab=ranked.along_cb, along_cb=ranked.along_ab
                )
    return None


def example_classes(explorer: Explorer) -> tuple[str, str, str] | None:
    """The worked arithmetic's classes (A, B, C: worked_arithmetic's measured choice), or None without one."""
    return worked_arithmetic(explorer).classes


def prepared_picks(
    explorer: Explorer, batches: int = EXAMPLE_BATCHES, per_group: int = 3
) -> tuple[dict[str, list[tuple[int, int]]], tuple[str, str, str] | None]:
    """A worked arithmetic (worked_arithmetic): per group, (batch seed, index) of `per_group` gallery samples,
    and the classes they are of (None: the mechanics only, the first samples of batch 0 in turn)."""
    worked = worked_arithmetic(explorer, batches, per_group)
    return worked.picks, worked.classes


def arithmetic_images(explorer: Explorer, groups: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{name: (n, nc, S, S)} for arithmetic_latents' names, plus "averaged" (the neighbourhood's centre: A - B + C
    on the averages); one generator forward for all of them."""
    latents = arithmetic_latents(explorer, groups)
    if not latents:
        return {}
    images = generate(explorer.generator, torch.cat(list(latents.values())))
    out = dict(zip(latents, images.split([len(batch) for batch in latents.values()]), strict=True))
    if "neighbourhood" in out:
        out["averaged"] = out["neighbourhood"][:1]
    return out


def describe_arithmetic(counts: dict[str, int]) -> str:
    """What the averaged result adds up ("A − (mean of 2 B) + C"), given each group's exemplar count."""
    terms = " ".join(
        f"{sign} (mean of {counts[group]} {group})" if counts[group] > 1 else f"{sign} {group}"
        for sign, group in zip(("", "−", "+"), ARITHMETIC_GROUPS, strict=True)
    )
    return terms.strip()


def class_vector_strip(explorer: Explorer, source: str, target: str, seed: int) -> tuple[torch.Tensor, str]:
    """(5, nc, S, S): seed's z moved by t * (mean z of `target` - mean z of `source`), t = 0 ... 1."""
    found = explorer.class_means()
    if found is None:
        raise DcganError(f"class vectors need {A_CLASSIFIER}")
    names, means, counts = found
    for name in (source, target):
        if name not in names:
            raise DcganError(f"pick a class from the list, not {name!r}")
        if counts[names.index(name)] == 0:
            raise DcganError(f"this model never clearly draws a {name}: no class vector for it")
    vector = means[names.index(target)] - means[names.index(source)]
    start_seed, start = first_seed_of_class(explorer, names.index(source), seed)
    amounts = torch.linspace(0, 1, CLASS_STEPS)
    images = generate(explorer.generator, start + amounts[:, None] * vector)
    readout = judge_readout(explorer, images)
    reached = [t for t, (name, _) in zip(amounts.tolist(), readout, strict=True) if name == target]
    verdict = f"it reads as {target} from t = {reached[0]:.2f}" if reached else f"it never reads as {target}"
    caption = (
        f"seed {start_seed} (the first seed from {seed} on that the judge calls a {source}) + t × (mean z of "
        f"{counts[names.index(target)]} {target} − mean z of {counts[names.index(source)]} {source}), t from 0 to 1."
        f"\n\nThe judge reads each frame as: "
        + " → ".join(f"{name} {100 * confidence:.0f}%" for name, confidence in readout)
        + f": **{verdict}**."
    )
    return images, caption


def judge_readout(explorer: Explorer, images: torch.Tensor) -> list[tuple[str, float]]:
    """What the judge calls each image (N, nc, S, S), and how sure it is: so a class vector's success is read,
    not guessed. DcganError without a judge."""
    judge = explorer.judge()
    if judge is None:
        raise DcganError(f"reading images as classes needs {A_CLASSIFIER}")
    with torch.inference_mode():
        confidence, predicted = judge(images).softmax(1).max(1)
    return [(judge.config.class_names[int(c)], float(p)) for c, p in zip(predicted, confidence, strict=True)]


def first_seed_of_class(explorer: Explorer, class_index: int, seed: int, tries: int = 64) -> tuple[int, torch.Tensor]:
    """The first seed >= `seed` whose image the judge puts in the class, and its (1, nz) z (one batch)."""
    seeds = list(range(seed, seed + tries))
    z = torch.cat([sample_noise(1, explorer.nz, explorer.noise, seed=s) for s in seeds])
    with torch.inference_mode():
        predicted = explorer.judge()(generate(explorer.generator, z)).argmax(1)
    hits = (predicted == class_index).nonzero()
    if len(hits) == 0:
        raise DcganError(f"none of seeds {seed}-{seed + tries - 1} draws that class: try another start seed")
    index = int(hits[0])
    return seeds[index], z[index : index + 1]


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
