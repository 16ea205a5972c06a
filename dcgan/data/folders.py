"""Image folders and zips of images -> datasets: decoding what Pillow can read (skipping, and saying so, what it
cannot or what is too large), class names from subfolders, and extracting a visitor's zip safely (sizes and
member counts refused before anything is written)."""

from __future__ import annotations

import shutil
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, ImageOps

from dcgan.data.dataset import ImageDataset
from dcgan.data.idx import _to_float
from dcgan.errors import DcganError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
MAX_IMAGE_PIXELS = 50_000_000  # larger images are skipped: decoding one could exhaust memory


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
