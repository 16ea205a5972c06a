"""Image sources -> float tensors (N, C, H, W) in [-1, 1]: IDX files (MNIST, Fashion-MNIST) and image folders.

Datasets known by name are registered (dcgan/dataset_registry.py; the built-in ones at the end of this
file); load_dataset reads a name through its registered loader and anything else as a folder.

Fashion-MNIST is looked for, in order, in an explicit path, the cache, Debian's package
`dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist), and only then downloaded, with a
checksum check. Everything is decoded once into memory: 60000 x 1 x 32 x 32 float32 is 245 MB.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import shutil
import struct
import urllib.request
import warnings
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path, PurePosixPath

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from . import emoji, faces
from .dataset_registry import DatasetRequest, find_dataset, names_help, register_dataset, require_dataset

# The registry's API, re-exported: importing it from here guarantees the built-in datasets are registered.
from .dataset_registry import DatasetSpec as DatasetSpec
from .dataset_registry import classifier_name as classifier_name
from .dataset_registry import is_registered_dataset as is_registered_dataset
from .dataset_registry import registered_datasets as registered_datasets
from .dataset_registry import unregister_dataset as unregister_dataset
from .dataset_registry import uses_judge as uses_judge
from .errors import DcganError
from .image_dataset import ImageDataset, cache_dir, check_load_arguments
from .io_utils import atomic_write

log = logging.getLogger(__name__)

FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
MNIST_CLASSES = [str(digit) for digit in range(10)]

# The four files of an IDX dataset, by split; each may also be gzipped (name + ".gz").
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SPLITS = tuple(IDX_FILES)

SYSTEM_DATA_DIRS = {
    "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],  # Debian: apt install dataset-fashion-mnist
    "mnist": [Path("/usr/share/datasets/mnist")],
}
DOWNLOAD_URLS = {
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    # yann.lecun.com often refuses downloads; this mirror serves the same files (the checksums check it).
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
}
# "algorithm:hexdigest" of the official .gz files, as published with each dataset. Debian's
# Fashion-MNIST .gz files were recompressed (other gzip header) so they have other hashes; they
# are never downloaded, so that does not matter.
DOWNLOAD_CHECKSUMS = {
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
    },
    "mnist": {
        "train-images-idx3-ubyte.gz": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "md5:d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "md5:9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "md5:ec29112dd5afa0611ce80d1b7f02629c",
    },
}
DOWNLOAD_TIMEOUT = 30.0  # seconds without progress before a download gives up

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
MAX_IMAGE_PIXELS = 50_000_000  # larger images are skipped: decoding one could exhaust memory

# IDX type byte -> numpy dtype (big-endian on disk).
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# ----------------------------------------------------------------------------- IDX files


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST layout), gzipped or raw, into a native-endian numpy array."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise DcganError(f"{path} is not an IDX file (bad magic number {raw[:4].hex() or 'none'})")
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DcganError(f"{path} is truncated: its IDX header is incomplete; download it again")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_size
    if actual != expected:
        problem = "truncated" if actual < expected else "too long"
        raise DcganError(
            f"{path} is {problem}: its header promises {expected} bytes of data for shape {shape}, "
            f"it holds {actual}; download it again"
        )
    array = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header_size)
    return array.reshape(shape).astype(dtype.newbyteorder("="))  # a writable, native-endian copy


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write `array` as an IDX file, gzipped when `path` ends with .gz (for tests and round trips)."""
    array = np.asarray(array)
    codes = {np.dtype(numpy_type).newbyteorder("="): code for code, numpy_type in _IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes or not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX cannot hold a {array.ndim}-D {array.dtype} array")
    header = bytes([0, 0, codes[native], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=native.newbyteorder(">")).tobytes()
    if str(path).endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)  # mtime=0: the same array gives the same bytes
    atomic_write(Path(path), lambda tmp: tmp.write_bytes(payload))


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it is gzipped (recognised by content, not by name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DcganError(f"{path} does not exist") from None
    except OSError as error:
        raise DcganError(f"cannot read {path}: {error.strerror or error}") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DcganError(f"{path} is a damaged gzip file ({error}); download it again") from None


# ----------------------------------------------------------------------------- finding IDX datasets


def find_idx_dataset(
    name: str, path: str | Path | None = None, download: bool = True, base_url: str | None = None
) -> Path:
    """The folder holding the four IDX files of `name`: explicit path, cache, system path, then download."""
    name = _dataset_name(name)
    if path is not None:
        folder = Path(path).expanduser()
        missing = _missing_idx_files(folder)
        if missing:
            raise DcganError(f"{folder} does not hold the {name} files: missing {', '.join(missing)}")
        return folder
    cache = cache_dir() / name
    candidates = [cache, *SYSTEM_DATA_DIRS.get(name, [])]
    for folder in candidates:
        if not _missing_idx_files(folder):
            return folder
    looked = [f"{folder}: not there or incomplete" for folder in candidates]
    if not download:
        raise DcganError(_not_found_message(name, looked + ["download: not allowed (download=False)"]))
    base_url = base_url or os.environ.get("DCGAN_DATA_URL")  # the variable lets tests serve fake files
    errors = _download_idx_dataset(name, cache, [base_url] if base_url else DOWNLOAD_URLS[name])
    if errors:
        raise DcganError(_not_found_message(name, looked + errors))
    return cache


def _dataset_name(name: str) -> str:
    """The canonical name of an IDX dataset we know where to find ("Fashion_MNIST" -> "fashion-mnist")."""
    spec = find_dataset(name)
    if spec is None or spec.name not in DOWNLOAD_CHECKSUMS:
        raise DcganError(f'unknown dataset "{name}": use "fashion-mnist" or "mnist"')
    return spec.name


def _idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing_idx_files(folder: Path) -> list[str]:
    stems = [stem for pair in IDX_FILES.values() for stem in pair]
    return [f"{stem}(.gz)" for stem in stems if _idx_file(folder, stem) is None]


def _not_found_message(name: str, looked: list[str]) -> str:
    where = "\n".join(f"  - {place}" for place in looked)
    if name == "fashion-mnist":
        fix = "install Debian's package (apt install dataset-fashion-mnist), or"
    else:
        fix = f"download the four .gz files from {DOWNLOAD_URLS[name][0]} into {cache_dir() / name}, or"
    return (
        f"could not find the {name} data. Looked in:\n{where}\n"
        f"To fix: {fix} pass --data PATH with a folder holding the four IDX files "
        f"(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
        f"t10k-labels-idx1-ubyte.gz), or a folder of images."
    )


def _download_idx_dataset(name: str, folder: Path, bases: list[str]) -> list[str]:
    """Download the missing .gz files into `folder`; returns what went wrong (empty on success)."""
    errors = []
    for file_name, checksum in DOWNLOAD_CHECKSUMS[name].items():
        if _idx_file(folder, file_name.removesuffix(".gz")) is not None:
            continue  # an earlier, partial download already fetched it
        for base in bases:
            url = base.rstrip("/") + "/" + file_name
            try:
                _download_verified(url, folder / file_name, checksum)
                break
            except DcganError as error:
                errors.append(str(error))
        else:
            return errors
    return []


def _download_verified(url: str, destination: Path, checksum: str) -> None:
    """Stream `url` into a temp file, check its hash, then rename it to `destination`."""
    if not url.startswith(("http://", "https://")):
        raise DcganError(f"download {url}: only http:// and https:// URLs are supported")
    algorithm, expected = checksum.split(":", 1)
    log.info("downloading %s", url)

    def fetch(tmp: Path) -> None:
        digest = hashlib.new(algorithm, usedforsecurity=False)
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, open(tmp, "wb") as out:
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", None) or error
            raise DcganError(f"download {url}: {reason}") from None
        if digest.hexdigest() != expected:
            # atomic_write deletes the temp file when this raises, so nothing corrupt is left behind.
            raise DcganError(
                f"download {url}: checksum mismatch ({algorithm} {digest.hexdigest()}, expected {expected}); "
                "the file was deleted"
            )

    atomic_write(destination, fetch)


# ----------------------------------------------------------------------------- loading IDX datasets


def load_idx_dataset(
    name: str, split: str = "train", path: str | Path | None = None, download: bool = True
) -> ImageDataset:
    """MNIST or Fashion-MNIST as (N, 1, 28, 28) floats in [-1, 1] with int64 labels."""
    name = _dataset_name(name)
    pixels, labels = _read_named_split(name, _check_split(split), path, download)
    return ImageDataset(_to_float(pixels[:, None]), labels, list(require_dataset(name).class_names), name)


def _read_named_split(
    name: str, split: str, path: str | Path | None, download: bool, limit: int | None = None
) -> tuple[np.ndarray, torch.Tensor | None]:
    folder = find_idx_dataset(name, path=path, download=download)
    pixels, labels = _read_idx_split(folder, split, limit)
    classes = len(require_dataset(name).class_names)
    if labels is not None and len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < classes:
        raise DcganError(f"{folder}: labels outside 0..{classes - 1}; these are not {name} files")
    return pixels, labels


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise DcganError(f'unknown split "{split}": use "train" or "test"')
    return split


def _read_idx_split(folder: Path, split: str, limit: int | None = None) -> tuple[np.ndarray, torch.Tensor | None]:
    """(N, H, W) uint8 pixels and (N,) int64 labels (None when there is no labels file)."""
    images_stem, labels_stem = IDX_FILES[split]
    images_path = _idx_file(folder, images_stem)
    if images_path is None:
        raise DcganError(f"{folder} has no {images_stem}(.gz) file for the {split} split")
    pixels = read_idx(images_path)
    if pixels.ndim != 3 or pixels.dtype != np.uint8:
        raise DcganError(f"{images_path} holds a {pixels.ndim}-D {pixels.dtype} array, not uint8 images (N, H, W)")
    pixels = pixels[:limit]
    labels_path = _idx_file(folder, labels_stem)
    if labels_path is None:
        return pixels, None
    labels = read_idx(labels_path)[:limit]
    if labels.ndim != 1 or len(labels) != len(pixels):
        raise DcganError(f"{labels_path} holds {labels.shape} labels for {len(pixels)} images in {images_path}")
    return pixels, torch.from_numpy(labels.astype(np.int64))


def _to_float(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 in [-1, 1]: 0 -> -1 and 255 -> +1 exactly."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).to(torch.float32).div_(127.5).sub_(1.0)


# ----------------------------------------------------------------------------- image folders


def load_image_folder(
    folder: str | Path, image_size: int, channels: int | None = 3, limit: int | None = None
) -> ImageDataset:
    """Every .png/.jpg/.jpeg/.webp/.bmp under `folder`, centre-cropped to a square, resized to `image_size`.

    Unreadable or oversized images are skipped with one warning. channels=None keeps one channel when
    every image is grey, else three. When every image sits in a subfolder, the first-level subfolder
    names become the classes. Hidden files and folders (".DS_Store", "._x.png") are ignored.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DcganError(f"{folder} is not a folder" if folder.exists() else f"{folder} does not exist")
    if channels not in (1, 3, None):
        raise DcganError(f"channels must be 1 (grey) or 3 (RGB), not {channels}")
    files, other_suffixes = _list_images(folder)
    class_names, class_of = _subfolder_classes(folder, files)
    decoded, labels, skipped = [], [], []
    with warnings.catch_warnings():
        # We report oversized images ourselves, in the one summary warning below.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        for path in files:
            if limit is not None and len(decoded) >= limit:
                break
            try:
                decoded.append(_decode_image(path, image_size, grey=channels == 1))
            except _SkippedImage as reason:
                skipped.append(f"{path.relative_to(folder)} ({reason})")
                continue
            if class_of:
                labels.append(class_of[path])
    if skipped:
        shown = ", ".join(skipped[:10]) + (f", and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        warnings.warn(f"skipped {len(skipped)} of {len(files)} image files in {folder}: {shown}", stacklevel=2)
    if not decoded:
        others = f" (found only {', '.join(sorted(other_suffixes))} files)" if other_suffixes else ""
        raise DcganError(f"no images found in {folder}: it needs .png/.jpg/.jpeg/.webp/.bmp files{others}")
    pixels = np.stack(decoded)  # (N, H, W, C) uint8
    if channels is None and all(np.array_equal(pixels[..., 0], pixels[..., c]) for c in (1, 2)):
        pixels = pixels[..., :1]
    return ImageDataset(
        images=_to_float(pixels.transpose(0, 3, 1, 2)),
        labels=torch.tensor(labels, dtype=torch.int64) if class_of else None,
        class_names=class_names,
        name=str(folder),
    )


def load_image(path: str | Path, image_size: int, channels: int = 3) -> torch.Tensor:
    """One image file (any size/format Pillow reads) -> (1, channels, S, S) in [-1, 1], centre-cropped.

    For uploads: a non-image, corrupt or oversized file is a DcganError that says what was wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise DcganError(f"no image file at {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            pixels = _decode_image(path, image_size, grey=channels == 1)
    except _SkippedImage as reason:
        raise DcganError(f"{path.name}: {reason}; use a .png/.jpg/.webp/.bmp image") from None
    return _to_float(pixels.transpose(2, 0, 1)[None].copy())


class _SkippedImage(Exception):
    """An image file we skip; the message says why."""


def _list_images(folder: Path) -> tuple[list[Path], set[str]]:
    """Image files under `folder` in sorted (deterministic) order, and the suffixes of the other files."""
    images, other_suffixes = [], set()
    for path in folder.rglob("*"):
        hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
        if hidden or not path.is_file():
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            images.append(path)
        else:
            other_suffixes.add(path.suffix.lower() or path.name)
    return sorted(images, key=lambda path: path.relative_to(folder).as_posix()), other_suffixes


def _subfolder_classes(folder: Path, files: list[Path]) -> tuple[list[str] | None, dict[Path, int]]:
    """Class names from first-level subfolders when every image is inside one (and there are two or more)."""
    firsts = [path.relative_to(folder).parts[0] if len(path.relative_to(folder).parts) > 1 else None for path in files]
    if not files or None in firsts or len(set(firsts)) < 2:
        return None, {}
    class_names = sorted(set(firsts))
    index = {class_name: position for position, class_name in enumerate(class_names)}
    return class_names, {path: index[first] for path, first in zip(files, firsts, strict=True)}


def _decode_image(path: Path, image_size: int, grey: bool) -> np.ndarray:
    """One file -> (image_size, image_size, 1 or 3) uint8; raises _SkippedImage when it can't."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise _SkippedImage(f"too large: {width}x{height}, the limit is {MAX_IMAGE_PIXELS:,} pixels")
            image.draft("L" if grey else "RGB", (image_size, image_size))  # JPEG: decode at a smaller scale
            image = ImageOps.exif_transpose(image)  # phone photos are stored sideways
            image = _flatten(image, "L" if grey else "RGB")
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            box = (left, top, left + side, top + side)
            image = image.resize((image_size, image_size), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
            pixels = np.asarray(image, dtype=np.uint8)
    except _SkippedImage:
        raise
    except Image.DecompressionBombError:
        raise _SkippedImage("too large: over Pillow's decompression-bomb limit") from None
    except Exception as error:  # Pillow's decoders raise many types on malformed files
        raise _SkippedImage(f"not a readable image: {type(error).__name__}") from None
    return pixels.reshape(image_size, image_size, 1 if grey else 3)


def _flatten(image: Image.Image, mode: str) -> Image.Image:
    """Convert to `mode` ("L" or "RGB"), compositing any transparency on white."""
    if image.mode.startswith("I"):
        # 16-bit greys: Pillow's convert("L") clips at 255 instead of scaling.
        wide = np.asarray(image, dtype=np.uint32) >> 8
        image = Image.fromarray(np.minimum(wide, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return image.convert(mode)


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
    # rendered at the requested size by node, only when not cached (dcgan/faces.py); `path` is unused
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


# ---- uploaded datasets -----------------------------------------------------------------------------------

MAX_DATASET_ZIP_BYTES = 100 * 1024 * 1024  # unpacked size limit of an uploaded image .zip
MAX_DATASET_IMAGE_BYTES = 20 * 1024 * 1024  # one image file inside it: no sane training image is larger
MAX_DATASET_ZIP_FILES = 50_000
MAX_DATASET_ZIP_ENTRIES = 2 * MAX_DATASET_ZIP_FILES  # every entry, images or not (each costs memory to list)
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}  # bzip2/lzma members inflate unbounded per read
_COPY_CHUNK = 1024 * 1024


def zip_image_members(upload: str | Path) -> list[zipfile.ZipInfo]:
    """The image members of an uploaded .zip, after every check that needs no unpacking (DcganError if one fails).

    Refused: unreadable archives, absolute or '..' paths, unusual compression, too many entries or
    images, an image over MAX_DATASET_IMAGE_BYTES, images over MAX_DATASET_ZIP_BYTES in all (as claimed
    by the archive; extract_image_zip holds every member to its claim)."""
    upload = Path(upload)
    with _open_zip(upload) as archive:
        return _checked_images(archive, upload.name)


def extract_image_zip(upload: str | Path, destination: str | Path) -> Path:
    """Unpack the images of an uploaded .zip into `destination` (flat, renamed 000000.png ...); returns it.

    Only image files are taken; everything zip_image_members checks is refused before anything is
    written, and a member that inflates past the size it claims is refused while it is copied, so a
    malicious zip cannot escape `destination` or fill the disk. On any refusal or error `destination`
    is deleted again if this call created it.
    """
    upload, destination = Path(upload), Path(destination)
    with _open_zip(upload) as archive:
        images = _checked_images(archive, upload.name)
        created = not destination.exists()
        try:
            destination.mkdir(parents=True, exist_ok=True)
            for index, info in enumerate(images):
                suffix = PurePosixPath(info.filename).suffix.lower()
                _copy_member(archive, info, destination / f"{index:06d}{suffix}", upload.name)
        except BaseException:
            if created:
                shutil.rmtree(destination, ignore_errors=True)
            raise
    return destination


def _open_zip(upload: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DcganError(f"{upload.name} is not a readable .zip file") from None


def _checked_images(archive: zipfile.ZipFile, name: str) -> list[zipfile.ZipInfo]:
    entries = archive.infolist()
    if len(entries) > MAX_DATASET_ZIP_ENTRIES:
        raise DcganError(f"{name} holds {len(entries)} entries; the limit is {MAX_DATASET_ZIP_ENTRIES}")
    images = []
    for info in entries:
        path = PurePosixPath(info.filename)
        if path.is_absolute() or ".." in path.parts:
            raise DcganError(f"{name} holds an unsafe path {info.filename!r}")
        if not info.is_dir() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith("."):
            images.append(info)
    if not images:
        raise DcganError(f"{name} holds no images (.png, .jpg, .jpeg, .webp, .bmp)")
    if len(images) > MAX_DATASET_ZIP_FILES:
        raise DcganError(f"{name} holds {len(images)} images; the limit is {MAX_DATASET_ZIP_FILES}")
    for info in images:
        if info.compress_type not in _ZIP_METHODS:
            raise DcganError(f"{name}: {info.filename} uses an unusual compression; zip the images plainly (deflate)")
        if info.file_size > MAX_DATASET_IMAGE_BYTES:
            raise DcganError(
                f"{name}: {info.filename} unpacks to {info.file_size / 2**20:.0f} MB; "
                f"the limit is {MAX_DATASET_IMAGE_BYTES // 2**20} MB per image"
            )
    if sum(info.file_size for info in images) > MAX_DATASET_ZIP_BYTES:
        raise DcganError(f"{name} unpacks to more than {MAX_DATASET_ZIP_BYTES // 2**20} MB of images")
    return images


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, name: str) -> None:
    """Copy one member, stopping as soon as it inflates past the size it claims (zip bombs lie)."""
    written = 0
    try:
        with archive.open(info) as source, open(target, "wb") as out:
            while chunk := source.read(_COPY_CHUNK):
                written += len(chunk)
                if written > info.file_size:
                    raise DcganError(f"{name}: {info.filename} inflates past the size it claims; refused")
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as error:
        # RuntimeError: an encrypted member; the others: a damaged or forged one
        raise DcganError(f"{name}: {info.filename} could not be unpacked ({error}); the .zip is damaged") from None
