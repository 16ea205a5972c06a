"""A visitor's upload -> a model folder: our folder format as a .zip, or another project's .pth/.pt imported.

Refused before anything is extracted or built when its zip directory, sizes or config ask too much
(dcgan/nets/limits.py). Where uploads are kept, and for how long, is dcgan/serve/uploads.py.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from dcgan.errors import DcganError
from dcgan.interop.convert import ImportOptions, import_model
from dcgan.io_utils import file_sha256
from dcgan.nets.limits import MAX_MODEL_FOLDER_BYTES, MAX_ZIP_MEMBERS, check_model_files
from dcgan.store.checkpoints import load_generator
from dcgan.store.model_files import CONFIG_FILE, DISCRIMINATOR_FILE, GENERATOR_FILE
from dcgan.store.registry import is_model_folder

COPY_CHUNK_BYTES = 1 << 20
MAX_UPLOAD_BYTES = MAX_MODEL_FOLDER_BYTES  # G + D at the largest sizes allowed; the app sets a lower --max-upload-mb
ZIP_MEMBERS = {CONFIG_FILE, GENERATOR_FILE, DISCRIMINATOR_FILE, "README.md"}
ZIP_DIRECTORY_ENTRY_BYTES = 1024  # one member's directory entry: 46 bytes, its name and extra fields
ZIP_EXTRAS = (".png", ".gif", ".json")  # sample grids, metrics files: extracted but not needed


def import_upload(
    upload: str | Path,
    uploads_dir: str | Path,
    options: ImportOptions | None = None,
    accept: Callable[[Path], None] | None = None,
) -> Path:
    """An uploaded model -> a model folder under `uploads_dir`; returns it.

    Accepts our folder format as a .zip (config.json + model.safetensors, optionally inside one
    top-level folder) or another project's generator .pth/.pt (imported as in dcgan.interop.convert, with
    `options`: what its weights cannot say). Everything else, and any zip with odd paths or sizes,
    is a DcganError; nothing is unpickled. `accept(folder)` may refuse the unpacked folder (a DcganError)
    before its networks are built; a refused upload leaves nothing behind.
    """
    options = options or ImportOptions()
    upload = Path(upload)
    if not upload.is_file():
        raise DcganError(f"no uploaded file at {upload}")
    size = upload.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise DcganError(f"{upload.name} is {size / 2**20:.0f} MB; the limit is {MAX_UPLOAD_BYTES / 2**20:.0f} MB")
    suffix = upload.suffix.lower()
    digest = file_sha256(upload)
    if suffix != ".zip" and options != ImportOptions():  # the same .pth read another way is another model
        digest = hashlib.sha256(f"{digest} {options.flags()}".encode()).hexdigest()
    destination = Path(uploads_dir) / f"{_safe_stem(upload.name)}-{digest[:12]}"
    if is_model_folder(destination):
        return destination  # the same file uploaded again (with the same options)
    if suffix not in (".zip", ".pth", ".pt"):
        raise DcganError(
            f"{upload.name}: upload a model folder as .zip (config.json + model.safetensors) "
            "or another project's generator weights as .pth"
        )
    try:
        if suffix == ".zip":
            _extract_model_zip(upload, destination)
        else:
            import_model(upload, destination, options)
        if accept is not None:  # e.g. the host's per-model budget, from config.json, before anything is built
            accept(destination)
        load_generator(destination, device="cpu")  # validates config and weights together
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)  # a refused upload leaves nothing on disk
        raise
    return destination


def _safe_stem(name: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in Path(name).stem)[:40]
    return stem or "model"


def _check_zip_directory(upload: Path) -> None:
    """Refuse an archive whose end record claims more members, or a longer member directory, than a model
    folder has, before zipfile reads that directory (a listing of a million members takes GBs). zipfile
    reads the directory by its byte size, not by the count, so both are checked. An archive without an end
    record is left to zipfile, which refuses it."""
    with open(upload, "rb") as file:
        # zipfile's own reader of the end record (and its ZIP64 form): private, but unchanged since Python 2.
        end_record = zipfile._EndRecData(file)  # type: ignore[attr-defined]
    if end_record is None:
        return
    members = int(end_record[zipfile._ECD_ENTRIES_TOTAL])  # type: ignore[attr-defined]
    directory_bytes = int(end_record[zipfile._ECD_SIZE])  # type: ignore[attr-defined]
    if members > MAX_ZIP_MEMBERS or directory_bytes > MAX_ZIP_MEMBERS * ZIP_DIRECTORY_ENTRY_BYTES:
        raise DcganError(
            f"{upload.name} holds {members:,} files ({directory_bytes:,} bytes of file list); a model folder's "
            f"zip holds at most {MAX_ZIP_MEMBERS} (config.json, the weights, a card and a few images)"
        )


def _extract_model_zip(upload: Path, destination: Path) -> None:
    _check_zip_directory(upload)
    try:
        archive = zipfile.ZipFile(upload)
    except zipfile.BadZipFile:
        raise DcganError(f"{upload.name} is not a readable .zip file") from None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        chosen: dict[str, zipfile.ZipInfo] = {}
        for info in members:
            path = PurePosixPath(info.filename)
            if path.is_absolute() or ".." in path.parts or len(path.parts) > 2:
                raise DcganError(
                    f"{upload.name} holds an unexpected path {info.filename!r}; zip the model folder itself"
                )
            if path.name in ZIP_MEMBERS or path.suffix in ZIP_EXTRAS:
                chosen[path.name] = info
        if CONFIG_FILE not in chosen or GENERATOR_FILE not in chosen:
            found = sorted(chosen) or "nothing"
            raise DcganError(f"{upload.name} needs {CONFIG_FILE} and {GENERATOR_FILE} (found {found})")
        if sum(info.file_size for info in chosen.values()) > MAX_UPLOAD_BYTES:
            raise DcganError(f"{upload.name} unpacks to more than {MAX_UPLOAD_BYTES / 2**20:.0f} MB")
        # Each file's claimed size against what a model folder's file can be (a config.json of 1 GB is not one).
        check_model_files(upload.name, [(name, info.file_size) for name, info in chosen.items()])
        destination.mkdir(parents=True, exist_ok=True)
        try:
            for name, info in chosen.items():
                _copy_member(upload, archive, info, destination / name)
        except BaseException:
            shutil.rmtree(destination, ignore_errors=True)
            raise


def _copy_member(upload: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """Unpack one member, never writing more than its header claims; a member that lies is refused."""
    written = 0
    try:
        with archive.open(info) as source, open(target, "wb") as output:
            while chunk := source.read(COPY_CHUNK_BYTES):
                written += len(chunk)
                if written > info.file_size:  # only the checked claim counts, whatever zipfile does
                    raise DcganError(
                        f"{upload.name}: {info.filename} unpacks to more than the {info.file_size:,} bytes it claims"
                    )
                output.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as error:
        # A CRC mismatch, a broken or unsupported compression, an encrypted member.
        raise DcganError(
            f"{upload.name}: {info.filename} cannot be unpacked ({error}); zip the model folder again"
        ) from None
    if written != info.file_size:
        raise DcganError(f"{upload.name}: {info.filename} unpacks to {written:,} bytes but claims {info.file_size:,}")
