"""Model folders: config.json + model.safetensors (+ discriminator.safetensors).

A folder is loadable from a local path (a published model or a training run directory)
or from a Hugging Face Hub repo id. Weights are only ever read with safetensors, so a
malicious file cannot run code; a file that does not match the config is a clear error.
Reading and checking the files is dcgan/store/model_files.py (re-exported here); building the
nets from them is here and in Generator.from_pretrained.
"""

from __future__ import annotations

from pathlib import Path

import torch

from dcgan.device import pick_device
from dcgan.errors import DcganError
from dcgan.nets.config import RunConfig
from dcgan.nets.limits import discriminator_cost
from dcgan.nets.models import Discriminator, Generator
from dcgan.store.model_files import (
    CONFIG_FILE,
    DISCRIMINATOR_FILE,
    GENERATOR_FILE,
    HUB_ID,
    HUB_PATTERNS,
    check_hub_file_sizes,
    check_weights_file_size,
    load_run_config,
    load_state_strict,
    load_tensors,
    resolve_model_folder,
    save_tensors,
)

__all__ = [
    "CONFIG_FILE",
    "DISCRIMINATOR_FILE",
    "GENERATOR_FILE",
    "HUB_ID",
    "HUB_PATTERNS",
    "check_hub_file_sizes",
    "check_weights_file_size",
    "load_discriminator",
    "load_generator",
    "load_run_config",
    "load_state_strict",
    "load_tensors",
    "resolve_model_folder",
    "save_model_folder",
    "save_tensors",
]


def save_model_folder(
    folder: str | Path,
    generator: Generator,
    run_config: RunConfig,
    discriminator: Discriminator | None = None,
) -> Path:
    """Publish G (and D) with their config; each file is written atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    run_config.save(folder / CONFIG_FILE)
    save_tensors(folder / GENERATOR_FILE, generator.state_dict())
    if discriminator is not None:
        save_tensors(folder / DISCRIMINATOR_FILE, discriminator.state_dict())
    return folder


def load_generator(path_or_hub_id: str | Path, device: str | torch.device | None = None) -> Generator:
    """The generator of a model folder, run directory or Hub repo, in eval mode on `device`."""
    return Generator.from_pretrained(path_or_hub_id, device=device)


def load_discriminator(path_or_hub_id: str | Path, device: str | torch.device | None = None) -> Discriminator:
    """The discriminator saved beside a generator; a clear error when the folder has none."""
    folder, run_config = load_run_config(path_or_hub_id)
    if not (folder / DISCRIMINATOR_FILE).is_file():
        raise DcganError(f"{folder} has no {DISCRIMINATOR_FILE}: this model was published without its discriminator")
    check_weights_file_size(folder / DISCRIMINATOR_FILE, run_config.model, discriminator_cost(run_config.model))
    discriminator = Discriminator(run_config.model)
    load_state_strict(discriminator, load_tensors(folder / DISCRIMINATOR_FILE), folder / DISCRIMINATOR_FILE)
    return discriminator.to(pick_device(device)).eval()
