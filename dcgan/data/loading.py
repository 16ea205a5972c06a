"""load_dataset: a name through its registered loader, anything else as a folder, as float tensors (N, C, H, W)
in [-1, 1]; the built-in datasets' registrations (at the end of this file) and augmentation.

Datasets known by name are registered (dcgan/data/registry.py); a new one is one register_dataset call.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from dcgan.data import emoji, faces
from dcgan.data.dataset import ImageDataset, check_load_arguments
from dcgan.data.folders import load_image_folder
from dcgan.data.idx import (
    FASHION_MNIST_CLASSES,
    IDX_FILES,
    MNIST_CLASSES,
    _check_split,
    _idx_file,
    _read_idx_split,
    _read_named_split,
    _to_float,
)
from dcgan.data.registry import DatasetRequest, DatasetSpec, find_dataset, names_help, register_dataset, require_dataset
from dcgan.errors import DcganError

# ----------------------------------------------------------------------------- one entry point


def load_dataset(
    data: str,
    image_size: int,
    channels: int | None = None,
    split: str = "train",
    limit: int | None = None,
    path: str | Path | None = None,
    download: bool = True,
) -> ImageDataset:
    """`data` is a registered dataset ("fashion-mnist", "mnist", "emoji", ...: registered_datasets()),
    a folder of IDX files, or a folder of images.

    channels=None keeps the data's own (1 for IDX); 3 repeats a grey channel. `limit` keeps the
    first N images. Image folders have a single split, so `split` only applies to IDX data. A dataset
    name wins over a folder of the same name: write "./mnist" for the folder.
    """
    check_load_arguments(image_size, channels, limit)
    split = _check_split(split)
    spec = find_dataset(data)
    request = DatasetRequest(spec.name if spec else data, image_size, channels, split, limit, path, download)
    return fit(dataset_spec(data).load(request), image_size, channels, limit)


def dataset_spec(data: str) -> DatasetSpec:
    """The registered spec `data` names, else FOLDER (the defaults of a path)."""
    return find_dataset(data) or FOLDER


def fit(dataset: ImageDataset, image_size: int, channels: int | None, limit: int | None) -> ImageDataset:
    """`dataset` at image_size x image_size, with `channels` (None: as it is) and at most `limit` images.

    Loaders that already did this (cheaper at the source) pass through untouched."""
    images, labels = dataset.images, dataset.labels
    if limit is not None and len(images) > limit:
        images, labels = images[:limit], labels[:limit] if labels is not None else None
    if images.shape[-2:] != (image_size, image_size):
        # antialias matters when shrinking; clamp because resampling may step a rounding error past +-1.
        size = (image_size, image_size)
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
        images = images.clamp_(-1.0, 1.0)
    if channels == 3 and images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1).contiguous()
    elif channels == 1 and images.shape[1] == 3:
        luma = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype).view(1, 3, 1, 1)  # ITU-R 601
        images = (images * luma).sum(1, keepdim=True)
    if images is dataset.images:
        return dataset
    return replace(dataset, images=images, labels=labels)


def _load_idx(request: DatasetRequest) -> ImageDataset:
    """A registered IDX dataset at its own 28x28; load_dataset fits it."""
    pixels, labels = _read_named_split(request.name, request.split, request.path, request.download, request.limit)
    class_names = list(require_dataset(request.name).class_names)
    return ImageDataset(_to_float(pixels[:, None]), labels, class_names, request.name)


def _load_emoji(request: DatasetRequest) -> ImageDataset:
    # rendered at the requested size (sharper than resizing); `path` is the font
    return emoji.load_emoji_dataset(
        request.name, request.image_size, channels=request.channels, limit=request.limit, font_path=request.path
    )


def _load_faces(request: DatasetRequest) -> ImageDataset:
    # rendered at the requested size by node, only when not cached (dcgan/data/faces.py); `path` is unused
    return faces.load_faces(request.image_size, channels=request.channels, limit=request.limit)


def _load_path(request: DatasetRequest) -> ImageDataset:
    """A folder of IDX files (its `split`) or a folder of images."""
    folder = Path(request.name).expanduser()
    if not folder.is_dir():
        raise DcganError(
            f"data must be {names_help(quoted=True)}, a folder of IDX files or a folder of images; "
            f"{request.name!r} is {'not a folder' if folder.exists() else 'none of these (no such folder)'}"
        )
    if _holds_idx_files(folder):
        pixels, labels = _read_idx_split(folder, request.split, request.limit)
        return ImageDataset(_to_float(pixels[:, None]), labels, None, str(folder))
    return load_image_folder(folder, request.image_size, channels=request.channels, limit=request.limit)


def has_test_split(data: str) -> bool:
    """Whether `data` has a held-out split: a registered set that says so, or a folder of IDX files."""
    spec = find_dataset(data)
    if spec is not None:
        return spec.test_split
    return _holds_idx_files(Path(str(data)).expanduser())


def _holds_idx_files(folder: Path) -> bool:
    return any(_idx_file(folder, stem) for pair in IDX_FILES.values() for stem in pair)


# ----------------------------------------------------------------------------- the registered datasets

FOLDER = DatasetSpec("folder", _load_path, image_size=64)  # any path: its defaults (not a name)
_IDX_DEFAULTS = dict(image_size=32, channels=1, test_split=True, train_images=60_000)
register_dataset(
    DatasetSpec(
        "fashion-mnist",
        _load_idx,
        class_names=tuple(FASHION_MNIST_CLASSES),
        judge=True,
        classifier="fashion-mnist-judge",
        in_app=True,
        aliases=("fashionmnist",),
        **_IDX_DEFAULTS,
    )
)
register_dataset(DatasetSpec("mnist", _load_idx, class_names=tuple(MNIST_CLASSES), **_IDX_DEFAULTS))
for _name in emoji.EMOJI_DATASETS:  # "emoji" (or "noto-emoji") and "emoji-no-skin-tones"
    register_dataset(
        DatasetSpec(
            _name,
            _load_emoji,
            image_size=64,
            class_names=tuple(emoji.CATEGORIES),
            classifier="emoji-judge",
        )
    )
register_dataset(
    DatasetSpec(
        "faces",
        _load_faces,
        image_size=64,
        channels=3,
        class_names=tuple(faces.FACE_CLASSES),
        classifier="faces-judge",
        train_images=faces.FACES_COUNT,
    )
)


# ----------------------------------------------------------------------------- augmentation


def augment(images: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random horizontal flip (p=0.5) and integer shift of up to `max_shift` pixels, per image.

    images: (N, C, H, W). Edges are replicated into the gap a shift opens. All randomness comes
    from `generator` (drawn on its device, then moved), so a seed gives the same batch every time.
    """
    if images.dim() != 4:
        raise ValueError(f"augment expects (N, C, H, W) images, got shape {tuple(images.shape)}")
    count, channels, height, width = images.shape
    if not 0 <= max_shift < min(height, width):
        raise ValueError(f"max_shift must be in [0, {min(height, width)}), not {max_shift}")
    flip = torch.rand(count, generator=generator, device=generator.device) < 0.5
    shifts = torch.randint(-max_shift, max_shift + 1, (count, 2), generator=generator, device=generator.device)
    flip, shifts = flip.to(images.device), shifts.to(images.device)
    images = torch.where(flip.view(count, 1, 1, 1), images.flip(-1), images)
    if max_shift == 0 or count == 0:
        return images
    padded = F.pad(images, (max_shift,) * 4, mode="replicate")  # (N, C, H + 2m, W + 2m)
    # Crop each image at its own offset with two gathers: rows first, then columns.
    tops = max_shift - shifts[:, 0]  # content moves down by shifts[:, 0]
    lefts = max_shift - shifts[:, 1]
    rows = (tops[:, None] + torch.arange(height, device=images.device)).view(count, 1, height, 1)
    padded = padded.gather(2, rows.expand(count, channels, height, padded.shape[-1]))
    cols = (lefts[:, None] + torch.arange(width, device=images.device)).view(count, 1, 1, width)
    return padded.gather(3, cols.expand(count, channels, height, width))
