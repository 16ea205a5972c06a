"""What every view asks of a loaded model, as plain data: the explorer's math, without a UI.

An `Explorer` is a generator plus what the views derive from it (the sensitivity ranking of z's
dimensions, GANSpace directions and their class-named labels, the judge, class means, the
discriminator and its probe batch), each computed at most once and safe to share between threads.
The views (walk.py, interpolation.py, arithmetic.py, inside.py, ablation.py) take an Explorer and
plain data and return tensors and strings; the app, the CLI and a notebook call the same ones, so
the same seed gives the same pixels everywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import torch

from dcgan.errors import DcganError
from dcgan.explore.attributes import AttributeDirections, entanglement, find_attribute_directions
from dcgan.explore.features import channel_scores, d_verdict_and_maps
from dcgan.images import to_uint8
from dcgan.nets.latent import (
    class_mean_latents,
    dimension_sensitivity,
    direction_class_effects,
    generate,
    principal_directions,
    sample_noise,
)
from dcgan.nets.models import Discriminator, Generator, init_weights
from dcgan.nets.workload import (
    ATTRIBUTE_SAMPLES,
    CLASS_MEAN_SAMPLES,
    DEFAULT_SEED_POOL,
    DIRECTION_SAMPLES,
    ENTANGLEMENT_SAMPLES,
    LABEL_SAMPLES,
    N_DIRECTIONS,
    PROBE_SIZE,
    generator_batch,
    sensitivity_samples,
)
from dcgan.quality.classifier import JudgeClassifier, classifier_for, shared_classifier
from dcgan.store.checkpoints import load_discriminator, load_generator
from dcgan.store.registry import model_facts

T = TypeVar("T")
A_CLASSIFIER = "a classifier for this model's data (Fashion-MNIST and the emoji sets have one)"


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
        None when its judge reads none (dcgan/explore/attributes.py)."""
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
