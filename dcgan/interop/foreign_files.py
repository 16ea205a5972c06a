"""Reading other projects' weights files safely: .pth/.pt (zip or legacy pickle) and .safetensors.

Files are only ever read with `torch.load(weights_only=True)` (or safetensors): a pickled
nn.Module, or a pickle built to run code, is refused by the loader and reported as a DcganError.
What a file claims (zip records, pickled storage sizes, a safetensors header) is checked before
torch or safetensors allocates it. dcgan/interop/convert.py turns the tensors into a model folder.
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from dcgan.errors import DcganError
from dcgan.nets.limits import (
    COMPRESSION_CHECK_MIN_BYTES,
    MAX_COMPRESSION_RATIO,
    MAX_FOREIGN_FILE_BYTES,
    MAX_PICKLE_BYTES,
    MAX_SAFETENSORS_HEADER_BYTES,
)
from dcgan.store.model_files import CONFIG_FILE

# Names (lower-cased) under which checkpoints store the generator, the discriminator, or "the model".
GENERATOR_NAMES = {"netg", "generator", "g", "gen", "net_g", "model_g", "modelg", "g_model", "generator_model"}
GENERATOR_NAMES |= {"g_state_dict", "state_dict_g", "generator_state_dict", "netg_state_dict", "gen_state_dict"}
DISCRIMINATOR_NAMES = {"netd", "discriminator", "d", "disc", "dis", "critic", "net_d", "model_d", "modeld"}
GENERIC_NAMES = {"state_dict", "model", "model_state_dict", "net", "network", "weights", "params", "module"}


def read_foreign_state_dict(source: str | Path) -> dict[str, torch.Tensor]:
    """The generator's tensors from a .pth/.pt file (or .safetensors), without running pickled code.

    A checkpoint dict that wraps state dicts ({"netG": ..., "netD": ..., "epoch": 3}) gives the
    generator's one when that is unambiguous.
    """
    source = Path(source).expanduser()
    if source.is_dir():
        if (source / CONFIG_FILE).is_file():
            raise DcganError(f"{source} is already a model folder; load it directly instead of importing it")
        raise DcganError(f"{source} is a folder; pass the generator's .pth/.pt weights file")
    if not source.is_file():
        raise DcganError(f"no file at {source}")
    _check_file_size(source)
    if _looks_like_safetensors(source):
        _check_safetensors_header(source)
        loaded = _load_safetensors(source)
    else:
        _check_torch_claims(source)  # torch.load allocates what the file claims: check the claims first
        loaded = _load_torch(source)
    return _pick_state_dict(loaded, source)


# ---------------------------------------------------------------------------- reading files


def _looks_like_safetensors(path: Path) -> bool:
    # safetensors: an 8-byte little-endian header length, then the JSON header.
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
    except OSError as error:
        raise DcganError(f"cannot read {path}: {error.strerror}") from None
    if len(head) < 9:
        return False
    header_length = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and 0 < header_length < path.stat().st_size


def _check_file_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_FOREIGN_FILE_BYTES:
        raise DcganError(
            f"{path.name} is {size / 2**20:,.0f} MB; a DCGAN's weights file is at most "
            f"{MAX_FOREIGN_FILE_BYTES / 2**20:,.0f} MB. "
            "Save the generator's state dict alone: torch.save(netG.state_dict(), 'generator.pth')"
        )


def _check_safetensors_header(path: Path) -> None:
    # The tensors are bounded by the file's size (safetensors checks their offsets); the header is not.
    with open(path, "rb") as handle:
        header_length = int.from_bytes(handle.read(8), "little")
    if header_length > MAX_SAFETENSORS_HEADER_BYTES:
        raise DcganError(
            f"{path.name} claims a {header_length:,}-byte safetensors header; "
            f"the limit is {MAX_SAFETENSORS_HEADER_BYTES:,}"
        )


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise DcganError(f"{path} looks like a safetensors file but cannot be read ({error})") from None


# ---------------------------------------------------------------------------- what a torch file claims
#
# torch.load(weights_only=True) cannot run code, but it allocates whatever the file claims: the
# uncompressed size of each zip record (a 20 MB DEFLATE bomb claimed 16 GB) and, in the pickle,
# each storage's numel. Both are read here from the zip directory and by a pickle scanner that
# imports nothing, before torch sees the file.

ZIP_MAGIC = b"PK\x03\x04"  # how torch.load tells its zip format from the legacy pickle stream
STORAGE_ELEMENT_BYTES = {"Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2}
STORAGE_ELEMENT_BYTES |= {"Char": 1, "Byte": 1, "Bool": 1, "ComplexDouble": 16, "ComplexFloat": 8, "Untyped": 1}


def _check_torch_claims(path: Path) -> None:
    """DcganError if the zip records or pickled storages of a torch file claim more than a DCGAN needs."""
    with open(path, "rb") as handle:
        is_zip = handle.read(len(ZIP_MAGIC)) == ZIP_MAGIC
    if is_zip:
        _check_torch_zip(path)
    else:
        _check_legacy_pickle(path)


def _check_torch_zip(path: Path) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise DcganError(_explain_load_failure(path, error)) from None
    with archive:
        records = {info.filename: info for info in archive.infolist()}
        for info in records.values():
            _check_zip_record(path, info)
        total = sum(info.file_size for info in records.values())
        if total > MAX_FOREIGN_FILE_BYTES:
            raise DcganError(
                f"{path.name}: its records claim {total / 2**20:,.0f} MB unpacked; the limit is "
                f"{MAX_FOREIGN_FILE_BYTES / 2**20:,.0f} MB"
            )
        for name in records:
            if PurePosixPath(name).suffix == ".pkl":
                claims = _scan_pickles(path, io.BytesIO(_read_record(path, archive, name)), count=1)
                prefix = name.rpartition("/")[0] + "/data/" if "/" in name else "data/"
                _check_storage_claims(path, claims, {key: info.file_size for key, info in records.items()}, prefix)


def _read_record(path: Path, archive: zipfile.ZipFile, name: str) -> bytes:
    # Its claimed size is checked; zipfile stops there and checks the CRC.
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as error:
        raise DcganError(_explain_load_failure(path, error)) from None


def _check_zip_record(path: Path, info: zipfile.ZipInfo) -> None:
    name, claimed = info.filename, info.file_size
    if claimed > MAX_FOREIGN_FILE_BYTES:
        raise DcganError(
            f"{path.name}: record {name} claims {claimed / 2**20:,.0f} MB unpacked; the limit is "
            f"{MAX_FOREIGN_FILE_BYTES / 2**20:,.0f} MB"
        )
    if PurePosixPath(name).suffix == ".pkl" and claimed > MAX_PICKLE_BYTES:
        raise DcganError(f"{path.name}: its pickle {name} claims {claimed:,} bytes; the limit is {MAX_PICKLE_BYTES:,}")
    compressed = info.compress_type != zipfile.ZIP_STORED
    if compressed and claimed > COMPRESSION_CHECK_MIN_BYTES and claimed > MAX_COMPRESSION_RATIO * info.compress_size:
        raise DcganError(
            f"{path.name}: record {name} is {info.compress_size:,} bytes compressed but claims {claimed:,} unpacked, "
            f"more than {MAX_COMPRESSION_RATIO}x; torch.save never compresses, so this file is refused"
        )


def _check_legacy_pickle(path: Path) -> None:
    # Pre-1.6 format: pickles (magic number, protocol, system info, the object, storage keys), then
    # each storage's raw bytes. The pickles come first, so a bounded head of the file holds them.
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = io.BytesIO(handle.read(MAX_PICKLE_BYTES))
    claims = _scan_pickles(path, head, count=5, cut_short=size > MAX_PICKLE_BYTES)
    data_bytes = size - head.tell()
    _check_storage_claims(path, claims, None, "", data_bytes)


def _scan_pickles(path: Path, stream: io.BytesIO, count: int, cut_short: bool = False) -> dict[str, int]:
    """{storage key: claimed bytes} of up to `count` pickles read from `stream`.

    `cut_short`: the stream is only the file's first MAX_PICKLE_BYTES, so a pickle that does not
    end within it is refused. Any other failure (not a pickle, a broken one) returns the claims
    read so far: torch.load reads the same bytes, allocates at most those, fails at the same
    point or sooner (it is the stricter reader) and says why better than we can.
    """
    claims: dict[str, int] = {}
    try:
        for _ in range(count):
            _ClaimScanner(stream, claims).load()
    except DcganError:
        raise
    except Exception:
        if cut_short and stream.tell() >= MAX_PICKLE_BYTES:
            raise DcganError(
                f"{path.name}: its pickled part is larger than {MAX_PICKLE_BYTES:,} bytes; a state dict's is a few KB. "
                "Save the generator's state dict alone: torch.save(netG.state_dict(), path)"
            ) from None
    return claims


def _check_storage_claims(
    path: Path, claims: dict[str, int], record_sizes: dict[str, int] | None, prefix: str, data_bytes: int = 0
) -> None:
    total = sum(claims.values())
    if total > MAX_FOREIGN_FILE_BYTES:
        raise DcganError(
            f"{path.name}: its tensors claim {total / 2**20:,.0f} MB; "
            f"the limit is {MAX_FOREIGN_FILE_BYTES / 2**20:,.0f} MB"
        )
    if record_sizes is None:  # legacy: the storages' bytes must all be in the rest of the file
        if total > data_bytes:
            raise DcganError(
                f"{path.name}: its tensors claim {total:,} bytes but the file holds only {data_bytes:,} after them"
            )
        return
    for key, nbytes in claims.items():
        record = record_sizes.get(prefix + key)
        if record is None or nbytes > record:
            held = "no record" if record is None else f"a {record:,}-byte record"
            raise DcganError(
                f"{path.name}: tensor storage {key!r} claims {nbytes:,} bytes but the file has {held} for it"
            )


class _Opaque(dict):
    """What every global becomes while scanning: callable, fillable, settable, and inert."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    __hash__ = object.__hash__

    def __setstate__(self, state: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


@dataclass(frozen=True)
class _StorageType:
    element_bytes: int


class _ClaimScanner(pickle.Unpickler):
    """Reads a torch pickle importing nothing: globals are inert stubs, storages are recorded as claims."""

    def __init__(self, stream: io.BytesIO, claims: dict[str, int]):
        super().__init__(stream)
        self.claims = claims

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("torch") and name.endswith("Storage"):
            # An unlisted dtype's storage (float8, quantized ...) is counted at the widest element size.
            return _StorageType(STORAGE_ELEMENT_BYTES.get(name.removesuffix("Storage"), 16))
        return _Opaque

    def persistent_load(self, saved_id: Any) -> Any:
        # ("storage", storage type, key, location, numel[, view metadata]) in both formats.
        if not isinstance(saved_id, tuple) or len(saved_id) < 5:
            raise DcganError(f"unexpected persistent id {str(saved_id)[:80]!r}; not a tensor storage")
        typename = saved_id[0].decode("ascii", "replace") if isinstance(saved_id[0], bytes) else saved_id[0]
        if typename == "module":  # a pickled nn.Module (legacy format): torch refuses it by name later
            return _Opaque()
        storage_type, key, numel = saved_id[1], str(saved_id[2]), saved_id[4]
        if typename != "storage" or not isinstance(storage_type, _StorageType):
            raise DcganError(f"unexpected persistent id {str(saved_id)[:80]!r}; not a tensor storage")
        if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
            raise DcganError(f"tensor storage {key!r} has a nonsensical size {numel!r}")
        self.claims[key] = max(self.claims.get(key, 0), numel * storage_type.element_bytes)
        return _Opaque()


def _load_torch(path: Path) -> Any:
    # torch.load on arbitrary bytes fails in many ways (UnpicklingError, KeyError for text,
    # EOFError for an empty file, RuntimeError for a broken zip, ...); all mean "not loadable".
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise DcganError(_explain_load_failure(path, error)) from None


def _explain_load_failure(path: Path, error: Exception) -> str:
    message = str(error)
    refused = re.search(r"GLOBAL ([\w.]+)", message)
    if refused:
        # Typically a whole model saved with torch.save(model): its class is the first global.
        return (
            f"{path} holds pickled Python objects ({refused.group(1)}), not just tensors, e.g. a whole model "
            "saved with torch.save(model). Loading it could run arbitrary code, so it is refused. In the "
            "project that made it, save the weights alone: torch.save(netG.state_dict(), 'generator.pth'), "
            "and import that file."
        )
    return (
        f"{path} is not a PyTorch weights file that can be loaded safely ({type(error).__name__}). "
        "Expected a state dict saved with torch.save(netG.state_dict(), path), or a .safetensors file."
    )


def _is_tensor_dict(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def _pick_state_dict(loaded: Any, source: Path) -> dict[str, torch.Tensor]:
    """The state dict itself, or the one sub-dict of a checkpoint that is clearly the generator's."""
    if not isinstance(loaded, dict):
        raise DcganError(
            f"{source} holds a {type(loaded).__name__}, not a state dict; expected the file of "
            "torch.save(netG.state_dict(), path)"
        )
    if _is_tensor_dict(loaded):
        return {str(key): tensor for key, tensor in loaded.items()}
    candidates = {str(key): value for key, value in loaded.items() if _is_tensor_dict(value)}
    top_keys = sorted(str(key) for key in loaded)[:20]
    # Prefer a generator-named entry, then a generic "state_dict"/"model", then the only one there is.
    for names in (GENERATOR_NAMES, GENERIC_NAMES, None):
        matches = [key for key in candidates if names is None or key.lower() in names]
        if len(matches) == 1:
            return dict(candidates[matches[0]])
        if len(matches) > 1:
            break
    raise DcganError(
        f"{source} is a checkpoint with top-level keys {top_keys}, and which of them holds the "
        "generator's weights is not clear. Save the generator's state dict alone, e.g. "
        "torch.save(checkpoint['netG'], 'generator.pth'), and import that file."
    )
