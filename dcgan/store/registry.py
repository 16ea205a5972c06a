"""Which models there are to pick: shipped ones, training runs, Hub ids, uploads; and what a folder says of itself.

No UI code: the app's model picker lists `list_models()` and shows `model_facts()`. Turning a visitor's upload
into a model folder is dcgan/serve/model_uploads.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from safetensors import safe_open

from dcgan.errors import DcganError
from dcgan.nets.config import RunConfig
from dcgan.store.checkpoints import load_generator
from dcgan.store.model_files import CONFIG_FILE, DISCRIMINATOR_FILE, GENERATOR_FILE, load_run_config


@dataclass(frozen=True)
class ModelEntry:
    key: str  # what --model / the picker takes: a folder path or a Hub id
    label: str  # what the picker shows
    source: str  # "shipped" | "run" | "hub" | "upload"


def is_model_folder(folder: Path) -> bool:
    """A folder with a generator config (not, e.g., the judge classifier's) and its weights."""
    if not (folder / GENERATOR_FILE).is_file():
        return False
    try:
        RunConfig.load(folder / CONFIG_FILE)
    except DcganError:
        return False
    return True


def list_models(checkpoints_dir: str | Path = "checkpoints", runs_dir: str | Path = "runs") -> list[ModelEntry]:
    """Shipped models first (sorted by name), then runs, newest first."""
    entries = []
    shipped = Path(checkpoints_dir)
    if shipped.is_dir():
        for folder in sorted(p for p in shipped.iterdir() if p.is_dir() and is_model_folder(p)):
            entries.append(ModelEntry(str(folder), folder.name, "shipped"))
    runs = Path(runs_dir)
    if runs.is_dir():
        folders = [p for p in runs.iterdir() if p.is_dir() and is_model_folder(p)]
        for folder in sorted(folders, key=lambda p: (p / GENERATOR_FILE).stat().st_mtime, reverse=True):
            entries.append(ModelEntry(str(folder), f"run: {folder.name}", "run"))
    return entries


def model_facts(key: str | Path) -> dict[str, object]:
    """What the picker shows about a model: data, size, nz, widths, parameters, training steps."""
    folder, run_config = load_run_config(key)
    model, train = run_config.model, run_config.train
    facts: dict[str, object] = {
        "family": model.family,
        "image": f"{model.image_size}x{model.image_size}x{model.nc}",
        "nz": model.nz,
        "noise": model.noise,
        "widths": f"ngf {model.ngf}, ndf {model.ndf}",
        "upsample": model.upsample,
        "data": train.data if train else "imported",
        "has_discriminator": (folder / DISCRIMINATOR_FILE).is_file(),
    }
    facts["generator_parameters"] = sum(p.numel() for p in load_generator(folder, device="cpu").parameters())
    state = folder / "training_state.safetensors"
    if state.is_file():
        with safe_open(str(state), framework="pt") as handle:
            facts["training_steps"] = int((handle.metadata() or {}).get("step", 0))
    card = folder / "README.md"
    if card.is_file():
        facts["card"] = card.read_text(errors="replace")
    return facts
