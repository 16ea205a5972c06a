"""IDX files (MNIST, Fashion-MNIST): reading and writing them, and finding or downloading a named set.

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
import struct
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

from dcgan.data.dataset import ImageDataset, cache_dir
from dcgan.data.registry import find_dataset, require_dataset
from dcgan.errors import DcganError
from dcgan.io_utils import atomic_write

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
