"""Import generators saved by other PyTorch DCGAN projects as our model folders.

Most PyTorch DCGANs (pytorch/examples, the official tutorial, countless MNIST repos) are one
nn.Sequential of ConvTranspose2d (+ BatchNorm2d) + ReLU/LeakyReLU layers ending in Tanh. Their
state dicts hold the weights but not the strides or paddings, so we read the layer widths and
kernels from the weight shapes and search the few stride/padding choices that make a square
image of a common size. The result is a family "chain" ModelConfig plus our keys.

Files are only ever read with `torch.load(weights_only=True)` (or safetensors): a pickled
nn.Module, or a pickle built to run code, is refused by the loader and reported as a DcganError.
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

from .checkpoints import CONFIG_FILE, load_state_strict, save_model_folder
from .config import ModelConfig, RunConfig
from .errors import DcganError
from .limits import (
    COMPRESSION_CHECK_MIN_BYTES,
    MAX_COMPRESSION_RATIO,
    MAX_FOREIGN_FILE_BYTES,
    MAX_PICKLE_BYTES,
    MAX_SAFETENSORS_HEADER_BYTES,
)
from .models import Generator

COMMON_IMAGE_SIZES = (28, 32, 48, 64, 96, 128, 256)
ACTIVATIONS = ("relu", "leakyrelu")
PARAM_NAMES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

# Names (lower-cased) under which checkpoints store the generator, the discriminator, or "the model".
GENERATOR_NAMES = {"netg", "generator", "g", "gen", "net_g", "model_g", "modelg", "g_model", "generator_model"}
GENERATOR_NAMES |= {"g_state_dict", "state_dict_g", "generator_state_dict", "netg_state_dict", "gen_state_dict"}
DISCRIMINATOR_NAMES = {"netd", "discriminator", "d", "disc", "dis", "critic", "net_d", "model_d", "modeld"}
GENERIC_NAMES = {"state_dict", "model", "model_state_dict", "net", "network", "weights", "params", "module"}


# ---------------------------------------------------------------------------- public API


def import_generator(
    source: str | Path, out_dir: str | Path, activation: str = "relu", image_size: int | None = None
) -> Path:
    """Convert another project's generator weights (.pth/.pt state dict, or .safetensors) to a model folder.

    `activation` is the hidden layers' activation in the original code ("relu", or "leakyrelu"
    with slope 0.2); the output layer is taken to be Tanh. `image_size` forces the output size
    when the automatic guess is wrong. Returns `out_dir`, loadable with `load_generator`.
    """
    source, out_dir = Path(source), Path(out_dir)
    _check_out_dir(out_dir)
    model_config, tensors = infer_chain(read_foreign_state_dict(source), activation, image_size)
    generator = Generator(model_config)
    # Validates every name and shape against the config before anything is written.
    load_state_strict(generator, tensors, source)
    return save_model_folder(out_dir, generator, RunConfig(model=model_config, train=None))


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


def infer_chain(
    state_dict: dict[str, torch.Tensor], activation: str = "relu", image_size: int | None = None
) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """A family "chain" ModelConfig and the same weights under our key names.

    Layers are the 4-D weights in the order of the integers in their keys; a BatchNorm (a
    1-D weight with running stats) belongs to the conv before it.
    """
    if activation not in ACTIVATIONS:
        raise DcganError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
        raise DcganError(f"image_size must be a positive integer, got {image_size!r}")
    layers = _parse_layers(_generator_part(state_dict))
    nc = layers[-1].out_channels
    if nc not in (1, 3):
        raise DcganError(
            f"the last layer ({layers[-1].path}) makes {nc}-channel images; only 1 (grayscale) or 3 (RGB) "
            "are supported. Is this the generator's state dict?"
        )
    steps, final_size = choose_geometry([layer.kernel for layer in layers], image_size)
    config = ModelConfig(
        family="chain",
        image_size=final_size,
        nc=nc,
        nz=layers[0].in_channels,
        ngf=layers[-1].in_channels,  # width of the last hidden layer (informational for chains)
        activation=activation,
        layers=[layer.describe(step) for layer, step in zip(layers, steps, strict=True)],
    )
    return config, _our_state_dict(layers)


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


# ---------------------------------------------------------------------------- parsing layers


@dataclass
class _ForeignLayer:
    """One ConvTranspose2d and the BatchNorm2d after it, if any."""

    path: str
    weight: torch.Tensor  # (in, out, k, k): ConvTranspose2d's layout
    bias: torch.Tensor | None
    batchnorm: dict[str, torch.Tensor] | None = None

    @property
    def in_channels(self) -> int:
        return self.weight.shape[0]

    @property
    def out_channels(self) -> int:
        return self.weight.shape[1]

    @property
    def kernel(self) -> int:
        return self.weight.shape[2]

    def describe(self, step: Step) -> dict[str, Any]:
        return {
            "out_channels": self.out_channels,
            "kernel": self.kernel,
            "stride": step.stride,
            "padding": step.padding,
            "output_padding": step.output_padding,
            "bias": self.bias is not None,
            "batchnorm": self.batchnorm is not None,
        }


def _natural_key(path: str) -> list[Any]:
    # "main.10" after "main.9"; re.split alternates text and digits, so items always compare.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def _generator_part(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Only the generator's keys when G and D share one dict ("generator.*" / "discriminator.*")."""
    roots = sorted({key.split(".", 1)[0] for key in state_dict})
    generators = [root for root in roots if root.lower() in GENERATOR_NAMES]
    discriminators = [root for root in roots if root.lower() in DISCRIMINATOR_NAMES]
    if not discriminators:
        return state_dict
    if not generators:
        raise DcganError(
            f"these weights look like a discriminator's (keys start with {discriminators[0]!r}); "
            "import the generator's state dict instead"
        )
    if len(generators) > 1:
        raise DcganError(f"the state dict holds several generators {generators}; save the one you want alone")
    prefix = generators[0] + "."
    return {key: tensor for key, tensor in state_dict.items() if key.startswith(prefix)}


def _group_modules(state_dict: dict[str, torch.Tensor]) -> list[tuple[str, dict[str, torch.Tensor]]]:
    """[(module path, {param name: tensor})] in the order of the integers in the paths."""
    modules: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state_dict.items():
        path, _, name = key.rpartition(".")
        if name not in PARAM_NAMES:
            raise DcganError(
                f"unexpected tensor {key!r}: only ConvTranspose2d and BatchNorm2d weights can be imported "
                "(spectral or weight norm, embeddings and other layers are not supported)"
            )
        modules.setdefault(path, {})[name] = tensor
    return sorted(modules.items(), key=lambda item: _natural_key(item[0]))


def _parse_layers(state_dict: dict[str, torch.Tensor]) -> list[_ForeignLayer]:
    """ConvTranspose2d layers in key order, each with the BatchNorm that follows it, if any."""
    if not state_dict:
        raise DcganError("the state dict is empty; expected a generator's weights")
    modules = _group_modules(state_dict)
    for path, params in modules:
        _check_supported(path, params)
    convs = [_conv_layer(path, params) for path, params in modules if "running_mean" not in params]
    if not convs:
        raise DcganError("found no ConvTranspose2d weights (4-D tensors); is this a generator's state dict?")
    _check_chain(convs)  # before pairing BatchNorms, so that a discriminator is reported as one
    layers: list[_ForeignLayer] = []
    remaining = iter(convs)
    for path, params in modules:
        if "running_mean" in params:
            _attach_batchnorm(layers, path, params)
        else:
            layers.append(next(remaining))
    return layers


def _check_supported(path: str, params: dict[str, torch.Tensor]) -> None:
    weight = params.get("weight")
    if "running_mean" in params or (weight is not None and weight.ndim == 4):
        return
    shapes = {name: tuple(tensor.shape) for name, tensor in params.items()}
    if weight is not None and weight.ndim == 2:
        raise DcganError(
            f"found a Linear layer {path or '(root)'} {shapes}: only generators made of ConvTranspose2d "
            "(+ BatchNorm2d) layers can be imported, not ones with a dense layer"
        )
    raise DcganError(
        f"found an unsupported layer {path or '(root)'} with tensors {shapes}; expected ConvTranspose2d "
        "weights (in, out, k, k) and BatchNorm2d with running statistics"
    )


def _as_float32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to(torch.float32)


def _conv_layer(path: str, params: dict[str, torch.Tensor]) -> _ForeignLayer:
    weight = params["weight"]
    extra = sorted(set(params) - {"weight", "bias"})
    if extra:
        raise DcganError(f"layer {path} has unexpected tensors {extra} for a ConvTranspose2d")
    if weight.shape[2] != weight.shape[3]:
        kernel = tuple(weight.shape[2:])
        raise DcganError(f"layer {path} has a non-square kernel {kernel}; only square kernels are supported")
    bias = params.get("bias")
    if bias is not None and tuple(bias.shape) != (weight.shape[1],):
        raise DcganError(f"layer {path}: bias of shape {tuple(bias.shape)} does not fit weight {tuple(weight.shape)}")
    return _ForeignLayer(path, _as_float32(weight), None if bias is None else _as_float32(bias))


def _attach_batchnorm(layers: list[_ForeignLayer], path: str, params: dict[str, torch.Tensor]) -> None:
    if not layers or layers[-1].batchnorm is not None:
        raise DcganError(
            f"BatchNorm {path} does not follow a ConvTranspose2d in key order; the layer order "
            "cannot be read from the key names"
        )
    conv = layers[-1]
    channels = conv.out_channels
    if "running_var" not in params or params["running_mean"].shape != (channels,):
        raise DcganError(f"BatchNorm {path} does not match the {channels} channels of layer {conv.path}")
    # affine=False BatchNorm is exactly weight 1, bias 0; very old files lack num_batches_tracked.
    conv.batchnorm = {
        "weight": _as_float32(params.get("weight", torch.ones(channels))),
        "bias": _as_float32(params.get("bias", torch.zeros(channels))),
        "running_mean": _as_float32(params["running_mean"]),
        "running_var": _as_float32(params["running_var"]),
        "num_batches_tracked": params.get("num_batches_tracked", torch.tensor(0)).to(torch.long),
    }


def _check_chain(layers: list[_ForeignLayer]) -> None:
    for previous, layer in zip(layers, layers[1:], strict=False):
        if previous.out_channels == layer.in_channels:
            continue
        # Conv2d weights are (out, in, k, k): a discriminator chains the other way round.
        if all(a.weight.shape[0] == b.weight.shape[1] for a, b in zip(layers, layers[1:], strict=False)):
            widths = [layers[0].weight.shape[1]] + [a.weight.shape[0] for a in layers]
            raise DcganError(
                f"these weights look like a discriminator or encoder (Conv2d layers, channels "
                f"{' -> '.join(map(str, widths))}); import the generator's state dict instead"
            )
        raise DcganError(
            f"layer {previous.path} makes {previous.out_channels} channels but the next one, {layer.path}, "
            f"takes {layer.in_channels}: these weights are not one ConvTranspose2d chain in key order"
        )


def _our_state_dict(layers: list[_ForeignLayer]) -> dict[str, torch.Tensor]:
    # Generator (family "chain"): blocks[i] = Sequential(ConvTranspose2d, [BatchNorm2d], activation).
    tensors: dict[str, torch.Tensor] = {}
    for index, layer in enumerate(layers):
        tensors[f"blocks.{index}.0.weight"] = layer.weight
        if layer.bias is not None:
            tensors[f"blocks.{index}.0.bias"] = layer.bias
        for name, tensor in (layer.batchnorm or {}).items():
            tensors[f"blocks.{index}.1.{name}"] = tensor
    return tensors


# ---------------------------------------------------------------------------- strides and paddings


@dataclass(frozen=True)
class Step:
    """How one ConvTranspose2d is run; `cost` says how unusual these arguments are in DCGAN code."""

    stride: int
    padding: int
    output_padding: int
    cost: int

    def out_size(self, in_size: int, kernel: int) -> int:
        return (in_size - 1) * self.stride - 2 * self.padding + kernel + self.output_padding


FIRST_STEP = Step(stride=1, padding=0, output_padding=0, cost=0)  # z (1x1) -> k x k


def layer_steps(kernel: int) -> list[Step]:
    """The ways a later layer can grow the image: n -> n ("same", odd k), 2n - 1, 2n or 2n + 1.

    Costs rank how often each is written in published generators, so the search picks the
    usual one when several give a common size:
      0  doubling without output_padding (k=4, p=1: pytorch/examples, the tutorial)
      1  2n - 1 without output_padding (k=3, p=1 maps 4 -> 7: MNIST generators reaching 28)
      2  doubling with output_padding (k=5, p=2, op=1: ports of TensorFlow's "same" padding)
      4  stride 1 "same" (k=5, p=2 keeps 7x7: the TensorFlow tutorial's second layer)
      5  2n + 1 without output_padding (k=3, p=0 maps 3 -> 7)
      6  anything else that needs output_padding (odd growth with an even kernel)
    """
    steps = []
    if kernel % 2 == 1:
        steps.append(Step(1, (kernel - 1) // 2, 0, cost=4))
    for growth in (0, -1, 1):  # out = 2n + growth = (n - 1) * 2 - 2p + k + op
        output_padding = (kernel - growth) % 2
        padding = (kernel - 2 - growth + output_padding) // 2
        if padding < 0:
            continue
        if output_padding and growth:
            cost = 6
        else:
            cost = {(0, 0): 0, (-1, 0): 1, (0, 1): 2, (1, 0): 5}[(growth, output_padding)]
        steps.append(Step(2, padding, output_padding, cost))
    return steps


def choose_geometry(kernels: list[int], image_size: int | None = None) -> tuple[list[Step], int]:
    """Per-layer strides/paddings and the final size: the cheapest chain ending at a target size.

    Targets: `image_size` if given, else COMMON_IMAGE_SIZES. Ties go to the chain whose unusual
    layers come first (TensorFlow tutorial: 7 -> 7 -> 14 -> 28; MNIST: 4 -> 7 -> 14 -> 28).
    """
    # Dynamic programming over sizes. best[size] = (key, steps); the key (total cost, costs from
    # the last layer back) orders whole chains, and a prefix's key orders its completions alike.
    best: dict[int, tuple[tuple[int, tuple[int, ...]], list[Step]]] = {kernels[0]: ((0, ()), [FIRST_STEP])}
    for kernel in kernels[1:]:
        grown: dict[int, tuple[tuple[int, tuple[int, ...]], list[Step]]] = {}
        for size, ((total, costs), steps) in best.items():
            for step in layer_steps(kernel):
                out = step.out_size(size, kernel)
                key = (total + step.cost, (step.cost, *costs))
                if out >= 1 and (out not in grown or key < grown[out][0]):
                    grown[out] = (key, [*steps, step])
        best = grown
    targets = (image_size,) if image_size else COMMON_IMAGE_SIZES
    found = [(key, size, steps) for size, (key, steps) in best.items() if size in targets]
    if not found:
        raise DcganError(_no_geometry_message(kernels, image_size, sorted(best)))
    _, size, steps = min(found, key=lambda item: (item[0], item[1]))
    return steps, size


def _no_geometry_message(kernels: list[int], image_size: int | None, reachable: list[int]) -> str:
    shown = ", ".join(map(str, reachable[:16])) + (" ..." if len(reachable) > 16 else "")
    if image_size:
        return (
            f"no stride/padding choice makes {image_size}x{image_size} images from kernels {kernels}; "
            f"these layers can make sizes {shown}"
        )
    return (
        f"could not tell the image size: no stride/padding choice for kernels {kernels} makes a common "
        f"size {COMMON_IMAGE_SIZES} (possible: {shown}). Pass --image-size (image_size=) with the size "
        "the original project generates"
    )


def _check_out_dir(out_dir: Path) -> None:
    # A reused folder could keep a stale discriminator.safetensors that no longer matches.
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise DcganError(f"{out_dir} already exists and is not an empty folder; choose a new output folder")
