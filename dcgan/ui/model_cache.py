"""Which models the app offers, and the loaded models every visitor shares.

Module-level on purpose: a generator, its sensitivity ranking and its principal directions are
the same for every visitor, so each model's Explorer (dcgan/explore/, which computes them
lazily, once) is kept here, the most recently used MAX_LOADED of them. Only small per-visitor
choices live in gr.State (see session.py).
"""

from __future__ import annotations

import ctypes
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dcgan.data.registry import find_dataset
from dcgan.errors import DcganError
from dcgan.explore.explorer import Explorer, shared_judge
from dcgan.nets.workload import Workload, check_model_budget
from dcgan.quality.classifier import classifier_for
from dcgan.serve.hosting import HostLimits
from dcgan.store.model_files import HUB_ID, load_run_config
from dcgan.store.registry import ModelEntry, is_model_folder, list_models

__all__ = ["Catalog", "check_budget", "get_model", "prepared_model", "shared_judge", "warm"]
STRANGERS = ("upload", "hub")  # sources whose files a visitor chose: held to the host's per-model budget

# The datasets whose shipped model the app opens on, in order: the paper's headline figure is arithmetic on faces
# (glasses, smiles: issue 26); the Fashion-MNIST model shows every other figure.
OPENS_ON = ("faces", "fashion-mnist")
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
    limits: HostLimits = field(default_factory=HostLimits)  # what the host allows visitors (dcgan/serve/hosting.py)

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
        """--model first, then a shipped model of the first dataset in OPENS_ON (the paper's family first), then
        any shipped model, then the newest run."""
        entries = self.entries()
        for wanted in self.extra_models:  # --model wins, whatever list it appears in
            for entry in entries:
                if Path(entry.key).resolve() == Path(wanted).resolve():
                    return entry.label
            if HUB_ID.match(wanted) and not Path(wanted).exists():
                return wanted
        shipped = [e for e in entries if e.source == "shipped"]
        models = [e for e in shipped if "judge" not in e.label]  # a judge's checkpoint is a classifier, no run
        for data in OPENS_ON:
            trained_on_it = [e for e in models if _trained_on(e) == data]
            trained_on_it.sort(key=lambda e: load_run_config(e.key)[1].model.family != "paper")
            if trained_on_it:
                return trained_on_it[0].label
        for group in (shipped, entries):
            if group:
                return group[0].label
        return None


def _trained_on(entry: ModelEntry) -> str | None:
    """The registered dataset a model was trained on (its canonical name), or None (a folder of images)."""
    train = load_run_config(entry.key)[1].train
    spec = find_dataset(train.data) if train is not None and train.data else None
    return spec.name if spec is not None else None


_loaded: OrderedDict[str, Explorer] = OrderedDict()
_loaded_lock = threading.Lock()


def check_budget(key: str | Path, limits: HostLimits) -> Workload:
    """What showing the model at `key` will cost (dcgan/nets/workload.py), from its config.json alone; DcganError
    when that is beyond the host's per-model budget. Nothing is built or run."""
    _, run_config = load_run_config(str(key))
    data = run_config.train.data if run_config.train is not None else ""
    judge = classifier_for(str(data))  # its class-based views (labels, class means...) run too
    attributes = len(judge.config.attributes) if judge is not None else 0  # and the attribute sliders
    return check_model_budget(
        run_config.model, judge is not None, limits.max_model_seconds, limits.max_model_memory_mb, attributes
    )


def get_model(catalog: Catalog, name: str) -> Explorer:
    """The loaded model for a picker/URL name, loading it (once) if needed. DcganError if it can't, or if it
    is a visitor's (an upload, a Hub id) that costs more than the host allows."""
    key = catalog.resolve(name)
    with _loaded_lock:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
    if catalog.source_of(name) in STRANGERS:
        check_budget(key, catalog.limits)  # before a byte of it is built
    model = Explorer.load(key, name=name)  # outside the lock: a Hub download may take a while
    with _loaded_lock:
        model = _loaded.setdefault(key, model)
        while len(_loaded) > MAX_LOADED:
            _loaded.popitem(last=False)
    return model


def prepared_model(catalog: Catalog, name: str) -> Explorer | None:
    """The model for `name` when it is loaded and its walk is ready (ranking and directions computed), else
    None: for callers that must never start a model's preparation themselves (the walk's fast preview)."""
    key = catalog.resolve(name)
    with _loaded_lock:
        model = _loaded.get(key)
    return model if model is not None and model.walk_ready() else None


def release_freed_memory() -> None:
    """Hand the heap memory freed by warming (the models' scratch tensors) back to the system: glibc keeps
    freed blocks in its per-thread arenas, where they count in the server's memory for good. No-op elsewhere."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc (macOS, musl, Windows)


def warm(
    catalog: Catalog, names: Sequence[str | None], examples: Sequence[Callable[[Explorer], object]] = ()
) -> threading.Thread | None:
    """Load models and compute their rankings in the background, one after the other (the default first), so
    the first visitor doesn't wait; then each one's `examples`, the slow worked examples (each caches its
    result in the Explorer). At most MAX_LOADED names: more would evict the first."""
    names = [name for name in names if name][:MAX_LOADED]
    if not names:
        return None

    def work() -> None:
        for name in names:
            try:
                model = get_model(catalog, name)
                model.sensitivity()
                model.directions()
                model.direction_labels()
                model.attribute_directions()  # None at once without an attribute-reading judge
                model.probe()  # D's channel scores on 2,000 samples: a channel click (or an Inside link) needs them
            except DcganError:
                continue  # the visitor will see the message when they pick it
            for example in examples:
                try:
                    example(model)
                except DcganError:
                    pass  # e.g. no data on this server for the model: the tab shows the example's own fallback
        release_freed_memory()

    thread = threading.Thread(target=work, name=f"warm {', '.join(names)}", daemon=True)
    thread.start()
    return thread
