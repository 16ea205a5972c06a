"""Datasets known by name, each declared once with its loader and defaults: a new dataset is one
register_dataset(DatasetSpec(...)) call, and the CLI (--data, default image size, run names), the
Train tab's choices, the metrics ('auto' features, held-out split) and dcgan.data.loading.load_dataset read it.

The built-in sets (fashion-mnist, mnist, the emoji sets) are registered by dcgan/data/, which
imports this module; import the registry through dcgan.data so they are there. Anything that is not
a registered name is a path: dcgan.data.loading.FOLDER holds the defaults of a folder of images or IDX files
(an uploaded .zip is unpacked into such a folder by the app before it is trained on).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dcgan.data.dataset import ImageDataset
from dcgan.errors import DcganError


@dataclass(frozen=True)
class DatasetRequest:
    """What dcgan.data.loading.load_dataset was asked for; a loader may honour image_size, channels and limit
    itself (cheaper, or better quality) or leave them: load_dataset fits the result afterwards."""

    name: str  # the canonical name, or the path of a folder
    image_size: int
    channels: int | None  # None: the data's own
    split: str  # "train" or "test"; data without a test split ignores it
    limit: int | None
    path: str | Path | None  # where its files are, when the caller says (else the loader looks)
    download: bool  # may the loader fetch missing files from the internet


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # canonical: lower case, "-" not "_"; what config.json's train.data holds
    load: Callable[[DatasetRequest], ImageDataset]
    image_size: int = 64  # the paper family's default for it (--image-size unset)
    channels: int = 3  # its own: 1 grey, 3 RGB (load_dataset's channels=None keeps it)
    augment: bool = False  # whether flips/shifts are recommended (small sets)
    class_names: tuple[str, ...] | None = None  # its labels' names, when it has labels
    judge: bool = False  # the Fashion-MNIST judge applies: 'auto' metric features, class labels, coverage
    # the classifier that reads its classes, a folder under checkpoints/ (the explorer's class-based views)
    classifier: str | None = None
    test_split: bool = False  # a held-out split exists (metrics compare with it; else half is held out)
    train_images: int | None = None  # the train split's size, known before loading (the app's budget check)
    in_app: bool = False  # offered by the Train tab (the server must have its files)
    aliases: tuple[str, ...] = ()  # other names that mean it (canonical form)


_DATASETS: dict[str, DatasetSpec] = {}  # name -> spec, in registration order


def canonical_name(name: str) -> str:
    """ "Fashion_MNIST " -> "fashion-mnist"."""
    return str(name).strip().lower().replace("_", "-")


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add (or replace) a named dataset; returns it. Names and aliases must be canonical and unused."""
    for name in (spec.name, *spec.aliases):
        if name != canonical_name(name) or not name:
            raise ValueError(f"dataset names are lower case with '-': {name!r}")
        owner = find_dataset(name)
        if owner is not None and owner.name != spec.name:
            raise ValueError(f"{name!r} already names the dataset {owner.name!r}")
    _DATASETS[spec.name] = spec
    return spec


def unregister_dataset(name: str) -> None:
    _DATASETS.pop(canonical_name(name), None)


def registered_datasets() -> list[DatasetSpec]:
    return list(_DATASETS.values())


def find_dataset(data: str) -> DatasetSpec | None:
    """The spec `data` names (any case, "_" or "-", or an alias); None for a path or anything else."""
    name = canonical_name(data)
    for spec in _DATASETS.values():
        if name == spec.name or name in spec.aliases:
            return spec
    return None


def is_registered_dataset(data: str) -> bool:
    """A dataset known by name, as opposed to a folder path."""
    return find_dataset(data) is not None


def uses_judge(data: str) -> bool:
    """Whether the Fashion-MNIST judge classifier applies to `data` (a name; paths never)."""
    spec = find_dataset(data)
    return spec is not None and spec.judge


def classifier_name(data: str) -> str | None:
    """The checkpoints/ folder of the classifier that reads `data`'s classes (a name; paths never), or None."""
    spec = find_dataset(data)
    return spec.classifier if spec is not None else None


def names_help(quoted: bool = False) -> str:
    """ "fashion-mnist, mnist, emoji, ..." (or each in quotes) for help texts and messages."""
    return ", ".join(f'"{spec.name}"' if quoted else spec.name for spec in _DATASETS.values())


def require_dataset(data: str) -> DatasetSpec:
    spec = find_dataset(data)
    if spec is None:
        raise DcganError(f'unknown dataset "{data}": use one of {names_help()}')
    return spec
