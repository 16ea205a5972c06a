"""Which models the app offers, and the per-model things every visitor shares.

Module-level on purpose: a generator, its sensitivity ranking and its principal directions are
the same for every visitor, so they are computed once per model (lazily) and kept here. Only
small per-visitor choices live in gr.State (see session.py).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..checkpoints import HUB_ID, load_discriminator, load_generator, load_run_config
from ..errors import DcganError
from ..hosting import HostLimits
from ..latent import class_mean_latents, dimension_sensitivity, direction_class_effects, principal_directions
from ..models import Generator
from ..registry import ModelEntry, is_model_folder, list_models, model_facts

N_DIRECTIONS = 10  # GANSpace components kept per model; the walk shows the first few as sliders
MAX_LOADED = 4  # generators kept in memory (uploads by many visitors must not fill the RAM)


@dataclass
class Catalog:
    """Where models come from. A visitor picks by *name*; names map to server paths or Hub ids.

    Names (not paths) go into URLs, and a URL can only name a listed model or a Hub id, so a
    shared link cannot make the server open an arbitrary folder.
    """

    checkpoints_dir: Path
    runs_dir: Path
    uploads_dir: Path
    extra_models: list[str] = field(default_factory=list)  # --model folders or Hub ids from the command line
    limits: HostLimits = field(default_factory=HostLimits)  # what the host allows visitors (dcgan/hosting.py)

    def entries(self) -> list[ModelEntry]:
        """Every model to pick: shipped, then --model folders, then runs, then uploads (read fresh each time)."""
        listed = list_models(self.checkpoints_dir, self.runs_dir)
        shipped = [entry for entry in listed if entry.source == "shipped"]
        runs = [entry for entry in listed if entry.source == "run"]
        known = {Path(entry.key).resolve() for entry in listed}
        local = [
            ModelEntry(str(folder), f"local: {folder.name}", "local")
            for folder in map(Path, self.extra_models)
            if folder.is_dir() and folder.resolve() not in known and is_model_folder(folder)
        ]
        uploads = []
        if Path(self.uploads_dir).is_dir():
            for folder in sorted(p for p in Path(self.uploads_dir).iterdir() if p.is_dir() and is_model_folder(p)):
                uploads.append(ModelEntry(str(folder), f"upload: {folder.name}", "upload"))
        return shipped + local + runs + uploads

    def choices(self, own_uploads: list[str] | None = None) -> list[tuple[str, str]]:
        """(label, name) pairs for the picker dropdown: every shipped model and run, but of the uploads
        only the visitor's own (`own_uploads`: their names); others reach an upload only by its link."""
        own = set(own_uploads or [])
        return [(e.label, e.label) for e in self.entries() if e.source != "upload" or e.label in own]

    def source_of(self, name: str) -> str:
        """ "shipped", "local", "run", "upload" or "hub": uploads and Hub models are strangers' files."""
        for entry in self.entries():
            if name == entry.label:
                return entry.source
        return "hub"

    def resolve(self, name: str) -> str:
        """A picker/URL name -> a key load_generator takes (a listed folder, or a Hub id)."""
        name = (name or "").strip()
        for entry in self.entries():
            if name == entry.label:
                return entry.key
        if HUB_ID.match(name) and not Path(name).exists():
            return name
        raise DcganError(f"no model named {name!r}: pick one from the list, or type a Hub id like 'owner/name'")

    def label_for(self, folder: Path) -> str:
        """The picker name of a folder (e.g. a fresh upload)."""
        for entry in self.entries():
            if Path(entry.key).resolve() == Path(folder).resolve():
                return entry.label
        raise DcganError(f"{folder} is not a model folder the app lists")

    def default_name(self) -> str | None:
        """--model first, then a shipped Fashion-MNIST model, then any shipped model, then the newest run."""
        entries = self.entries()
        for wanted in self.extra_models:  # --model wins, whatever list it appears in
            for entry in entries:
                if Path(entry.key).resolve() == Path(wanted).resolve():
                    return entry.label
            if HUB_ID.match(wanted) and not Path(wanted).exists():
                return wanted
        shipped = [e for e in entries if e.source == "shipped"]
        fashion = [e for e in shipped if "fashion" in e.label and "judge" not in e.label]
        fashion.sort(key=lambda e: load_run_config(e.key)[1].model.family != "paper")  # the paper's model first
        for group in (fashion, shipped, entries):
            if group:
                return group[0].label
        return None


@dataclass
class LoadedModel:
    """A generator and what the tabs derive from it, each computed at most once."""

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
    _discriminator: torch.nn.Module | None = field(default=None, repr=False)
    _probe: tuple[torch.Tensor, list[torch.Tensor]] | None = field(default=None, repr=False)

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
                samples = 16 if self.image_size <= 32 else 8 if self.image_size <= 64 else 4  # bounded cost
                self._sensitivity = dimension_sensitivity(self.generator, self.noise, n=samples)
            return self._sensitivity

    def ranked_dimensions(self) -> list[int]:
        """Every z dimension, most image-changing first."""
        return [int(d) for d in torch.argsort(self.sensitivity(), descending=True, stable=True)]

    def directions(self) -> tuple[torch.Tensor, torch.Tensor]:
        """((k, nz) orthonormal GANSpace directions, (k,) share of layer variance of each)."""
        with self._lock:
            if self._directions is None:
                k = min(N_DIRECTIONS, self.nz)
                self._directions = principal_directions(self.generator, k=k, n=2000, distribution=self.noise)
            return self._directions

    def judge(self):
        """The Fashion-MNIST judge classifier when this model makes Fashion-MNIST, else None."""
        if self.facts.get("data") != "fashion-mnist" or self.generator.config.nc != 1:
            return None
        return shared_judge()

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
                self.generator, directions, judge, amount=2.0 * self.noise_std, distribution=self.noise
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
                    self.generator, judge, len(judge.config.class_names), n=2000, distribution=self.noise
                )
            means, counts = self._class_means
        return list(judge.config.class_names), means, counts

    def discriminator(self) -> torch.nn.Module:
        """The discriminator saved beside the generator (DcganError when the folder has none)."""
        with self._lock:
            if self._discriminator is None:
                self._discriminator = load_discriminator(self.key, device="cpu")
            return self._discriminator

    def probe(self) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """A fixed batch of PROBE_SIZE generated images (seed 0) and D's per-layer (N, C) channel scores
        on them: which samples excite which channel is looked up here, not recomputed per click."""
        from ..features import channel_scores
        from ..latent import generate, sample_noise

        discriminator = self.discriminator()
        with self._lock:
            if self._probe is None:
                images = generate(self.generator, sample_noise(PROBE_SIZE, self.nz, self.noise, seed=0))
                self._probe = images, channel_scores(discriminator, images)
            return self._probe


PROBE_SIZE = 2000
_judge = None
_judge_lock = threading.Lock()


def shared_judge():
    """The shipped judge classifier, loaded once; None when checkpoints/ does not hold it."""
    global _judge
    from ..classifier import JUDGE_DIR, load_judge

    with _judge_lock:
        if _judge is None and (JUDGE_DIR / "model.safetensors").is_file():
            try:
                _judge = load_judge(JUDGE_DIR)
            except DcganError:
                return None
        return _judge


_loaded: OrderedDict[str, LoadedModel] = OrderedDict()
_loaded_lock = threading.Lock()


def get_model(catalog: Catalog, name: str) -> LoadedModel:
    """The loaded model for a picker/URL name, loading it (once) if needed. DcganError if it can't."""
    key = catalog.resolve(name)
    with _loaded_lock:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
    generator = load_generator(key, device="cpu")  # outside the lock: a Hub download may take a while
    generator.to(memory_format=torch.channels_last)  # ~10% faster forwards on the CPU (bench/ui_latency.py)
    facts = model_facts(key)
    card = str(facts.pop("card", ""))  # shown on its own, below the facts
    model = LoadedModel(name=name, key=key, generator=generator, facts=facts, card=card)
    with _loaded_lock:
        model = _loaded.setdefault(key, model)
        while len(_loaded) > MAX_LOADED:
            _loaded.popitem(last=False)
    return model


def warm(catalog: Catalog, name: str | None) -> threading.Thread | None:
    """Load a model and compute its rankings in the background, so the first visitor doesn't wait."""
    if not name:
        return None

    def work() -> None:
        try:
            model = get_model(catalog, name)
            model.sensitivity()
            model.directions()
            model.direction_labels()
        except DcganError:
            pass  # the visitor will see the message when they pick it

    thread = threading.Thread(target=work, name=f"warm {name}", daemon=True)
    thread.start()
    return thread
