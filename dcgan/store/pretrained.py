"""`Generator.from_pretrained` and `save_pretrained`, the Hugging Face-style way to load and save a generator.

They read and write model folders, which is this layer's job, so they live here rather than in
dcgan/nets/models.py (nets/ never imports store/): `attach()` adds them to the Generator class, and
dcgan/__init__.py calls it, so every `from dcgan... import Generator` has them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from dcgan.device import pick_device
from dcgan.io_utils import atomic_write_text
from dcgan.nets.config import RunConfig
from dcgan.nets.limits import MAX_CARD_BYTES, generator_cost
from dcgan.nets.models import Generator
from dcgan.store.model_files import (
    CARD_FILE,
    CONFIG_FILE,
    GENERATOR_FILE,
    check_weights_file_size,
    load_run_config,
    load_state_strict,
    load_tensors,
    save_tensors,
)


def from_pretrained(
    cls: type[Generator], path_or_hub_id: str | Path, device: str | torch.device | None = None
) -> Generator:
    """A generator from a model folder, a run directory, or a Hugging Face Hub repo id; eval mode."""
    folder, run_config = load_run_config(path_or_hub_id)
    check_weights_file_size(folder / GENERATOR_FILE, run_config.model, generator_cost(run_config.model))
    generator = cls(run_config.model)
    load_state_strict(generator, load_tensors(folder / GENERATOR_FILE), folder / GENERATOR_FILE)
    generator.train_config = run_config.train
    card = folder / CARD_FILE
    if card.is_file() and card.stat().st_size <= MAX_CARD_BYTES:
        generator.card = card.read_text(errors="replace")
    return generator.to(pick_device(device)).eval()


def save_pretrained(generator: Generator, folder: str | Path, card: str | None = None) -> Path:
    """Write what from_pretrained reads: config.json, model.safetensors and, when known, the card
    (README.md: `card`, else the one this generator was loaded with). Returns `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    RunConfig(model=generator.config, train=generator.train_config).save(folder / CONFIG_FILE)
    save_tensors(folder / GENERATOR_FILE, generator.state_dict())
    card = generator.card if card is None else card
    if card:
        atomic_write_text(folder / CARD_FILE, card)
    return folder


def attach() -> None:
    """Generator.from_pretrained(path) and generator.save_pretrained(folder), as methods."""
    Generator.from_pretrained = classmethod(from_pretrained)
    Generator.save_pretrained = save_pretrained
