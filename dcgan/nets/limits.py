"""How large a model may be, decided from its config and file sizes alone, before anything is built.

A model a visitor hands us (an uploaded zip's config.json, a Hub repo, a .pth to import, a run
folder) is described by a few integers; a hostile one can make `Generator(config)` allocate 16 GB
(`ngf: 5000`) or one forward run for hours (a chain layer with stride 1000). So every ModelConfig
is checked here, from arithmetic that mirrors dcgan/nets/models.py layer by layer: widths and shapes
within bounds, then the parameter count, the widest activation and the FLOPs of one forward of G
and of D, each capped. The same numbers bound the files that may hold such a model.

No torch here: config.py calls this from ModelConfig.validate, long before torch builds anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from dcgan.errors import DcganError

if TYPE_CHECKING:
    from dcgan.nets.config import ModelConfig

# ---------------------------------------------------------------------------- shape bounds

MAX_NZ = 1024  # z sizes in published DCGANs are 100-512; the latent views rank every dim
MAX_BASE_WIDTH = 1024  # ngf/ndf: the paper's widest is 128; 8x that covers every DCGAN we know
MAX_CHANNELS = 4096  # any one layer: the paper's 128 px G at ngf=128 starts at 2048 channels
MAX_CHAIN_LAYERS = 12  # 1x1 -> 256x256 takes 7 doublings; room for a few same-size layers
MAX_KERNEL = 16  # DCGANs use 3-5 (7 for a 1x1 -> 7x7 first layer); more is not a DCGAN
MAX_STRIDE = 4  # DCGANs upsample x2 (some x4); the cost of a transposed conv grows with it
MIN_IMAGE_SIZE = 8  # D needs a stride-2 stage; smaller images show nothing
MAX_IMAGE_SIZE = 256  # the largest common size convert.py infers; also bounds every hidden size
CHAIN_LAYER_KEYS = {"out_channels", "kernel", "stride", "padding", "output_padding", "bias", "batchnorm"}
DENSE_KEYS = {"out_channels", "size", "bias", "batchnorm", "activation"}
DENSE_BATCHNORMS = ("none", "1d", "2d")
DENSE_ACTIVATIONS = ("none", "relu", "leakyrelu")

# ---------------------------------------------------------------------------- cost bounds (per network)

# The paper's 128 px family at ngf = ndf = 128 (the largest config we promise to run) has ~48M
# parameters in G and ~45M in D; 64M leaves room for imported chains and caps one net at 256 MB.
MAX_PARAMETERS = 64_000_000
# That same G costs ~4.4 GFLOP per image (transposed convs), ~9.5 with resize-conv upsampling;
# 2 CPU cores do ~50 GFLOP/s, so 24 GFLOP keeps one image's forward well under a second.
MAX_FORWARD_FLOPS = 24_000_000_000
# The largest tensor of one image's forward, in elements: 8M floats = 32 MB, so a 64-image sample
# grid stays near 2 GB. The paper's 128 px G peaks at 0.5M; a 256 px chain at 64 channels at 4.2M.
MAX_ACTIVATION_ELEMENTS = 8_000_000

# ---------------------------------------------------------------------------- file bounds

BYTES_PER_PARAMETER = 4  # float32: what we save and what torch.load of a DCGAN .pth holds
MAX_SAFETENSORS_HEADER_BYTES = 1 << 20  # JSON names/shapes: ~5 KB for our ~50 tensors
MAX_PICKLE_BYTES = 1 << 20  # a state dict's pickle is ~5 KB (a training checkpoint's ~50 KB); tensors are beside it
# One network's weights file: the largest net's float32 parameters, 1/8 more for BatchNorm
# buffers and alignment, and the header.
MAX_WEIGHTS_FILE_BYTES = MAX_PARAMETERS * BYTES_PER_PARAMETER * 9 // 8 + MAX_SAFETENSORS_HEADER_BYTES
# Another project's .pth: a checkpoint dict may hold G and D together (pytorch/examples' habit).
MAX_FOREIGN_FILE_BYTES = 2 * MAX_WEIGHTS_FILE_BYTES + MAX_PICKLE_BYTES
# torch.save never compresses; a DEFLATE-compressed tensor record that inflates more than this
# is a bomb (zeros deflate ~1000:1; real float weights barely compress).
MAX_COMPRESSION_RATIO = 20
COMPRESSION_CHECK_MIN_BYTES = 1 << 20  # tiny records (version, byteorder) may compress well
MAX_CONFIG_BYTES = 1 << 20  # a config.json is ~1 KB, a 12-layer chain's ~3 KB
MAX_CARD_BYTES = 1 << 20  # README.md model card
MAX_EXTRA_FILE_BYTES = 16 << 20  # a sample grid PNG, a progress GIF, a metrics JSON
# A model folder's zip: config, G, D, card and a few sample grids; counted from the archive's end record
# before its directory is read (a million empty members took 1.85 GB to list and as many inodes to unpack).
MAX_ZIP_MEMBERS = 32
# A whole model folder: G, D, and a few extras.
MAX_MODEL_FOLDER_BYTES = 2 * MAX_WEIGHTS_FILE_BYTES + 64 * 2**20


# ---------------------------------------------------------------------------- the arithmetic


@dataclass
class NetCost:
    """What one network costs, from its config: as dcgan/nets/models.py builds it."""

    parameters: int = 0
    state_bytes: int = 0  # its state dict as saved: float32 tensors, int64 BatchNorm counters
    forward_flops: int = 0  # one image; 2 per multiply-add
    largest_activation: int = 0  # elements of the largest tensor of one image's forward
    activations: int = 0  # elements of every layer's output, summed: what a backward pass keeps per image
    block_outputs: list[int] = field(default_factory=list)  # elements of each block's output (G's blocks list)
    flops_to_block: list[int] = field(default_factory=list)  # FLOPs of a forward up to each block's output
    _last_output: int = field(default=0, repr=False)

    def _add(self, parameters: int, flops: int, activation: int) -> None:
        self.parameters += parameters
        self.state_bytes += parameters * BYTES_PER_PARAMETER
        self.forward_flops += flops
        self.largest_activation = max(self.largest_activation, activation)
        self.activations += activation
        self._last_output = activation

    def end_block(self) -> None:
        """The layer just added ends one of the network's blocks (its output is what a block hook sees)."""
        self.block_outputs.append(self._last_output)
        self.flops_to_block.append(self.forward_flops)

    def conv_transpose(
        self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, output_padding: int, size: int, bias: bool
    ) -> int:
        """A ConvTranspose2d on a size x size input; returns the output size."""
        out = (size - 1) * stride - 2 * padding + kernel + output_padding
        # Each input pixel scatters c_out * k * k products (the GEMM torch runs); the output is
        # then written, which dominates for large strides.
        flops = 2 * c_in * c_out * kernel * kernel * size * size + c_out * out * out
        self._add(c_in * c_out * kernel * kernel + (c_out if bias else 0), flops, c_out * out * out)
        return out

    def conv(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, size: int, bias: bool) -> int:
        """A Conv2d on a size x size input; returns the output size."""
        out = (size + 2 * padding - kernel) // stride + 1
        flops = 2 * c_in * c_out * kernel * kernel * out * out
        self._add(c_in * c_out * kernel * kernel + (c_out if bias else 0), flops, c_out * out * out)
        return out

    def upsample(self, channels: int, size: int) -> int:
        """nn.Upsample(x2, nearest): no parameters, a 4x larger tensor."""
        self._add(0, channels * 4 * size * size, channels * 4 * size * size)
        return 2 * size

    def linear(self, n_in: int, n_out: int, bias: bool) -> None:
        self._add(n_in * n_out + (n_out if bias else 0), 2 * n_in * n_out, n_out)

    def batchnorm(self, channels: int) -> None:
        # weight and bias are parameters; running mean and var (float32) and a counter (int64) are not.
        last_output = self._last_output
        self._add(2 * channels, 0, 0)
        self._last_output = last_output  # the block's output is still the layer's before it
        self.state_bytes += 2 * channels * BYTES_PER_PARAMETER + 8


def generator_cost(config: ModelConfig) -> NetCost:
    """G's parameters, state size, FLOPs and widest activation, mirroring models.Generator."""
    cost = NetCost()
    if config.family == "paper":
        n = config.n_upsamplings
        widths = [config.ngf * 2 ** (n - 1 - i) for i in range(n)] + [config.nc]
        use_bn = config.g_batchnorm
        size = cost.conv_transpose(config.nz, widths[0], 4, 1, 0, 0, 1, bias=not use_bn)
        if use_bn:
            cost.batchnorm(widths[0])
        cost.end_block()
        for i in range(n):
            size = _paper_up_block(cost, config, widths[i], widths[i + 1], size, last=i == n - 1, kernel=4)
    elif config.family == "tutorial":
        wide, mid, narrow = config.ngf * 4, config.ngf * 2, config.ngf
        use_bn = config.g_batchnorm
        cost.linear(config.nz, wide * 7 * 7, bias=not use_bn)
        if use_bn:
            cost.batchnorm(wide * 7 * 7)
        size = cost.conv_transpose(wide, mid, 5, 1, 2, 0, 7, bias=not use_bn)
        if use_bn:
            cost.batchnorm(mid)
        cost.end_block()
        size = _paper_up_block(cost, config, mid, narrow, size, last=False, kernel=5)
        _paper_up_block(cost, config, narrow, config.nc, size, last=True, kernel=5)
    else:
        c_in, size = config.nz, 1
        if config.dense is not None:  # Linear(nz -> C*k*k), reshaped to (C, k, k)
            c_in, size = config.dense["out_channels"], config.dense["size"]
            cost.linear(config.nz, c_in * size * size, bias=config.dense.get("bias", True))
            batchnorm = config.dense.get("batchnorm", "none")
            if batchnorm != "none":
                cost.batchnorm(c_in * size * size if batchnorm == "1d" else c_in)
        for index, layer in enumerate(config.layers or []):
            last = index == len(config.layers) - 1
            c_out = layer["out_channels"]
            geometry = (layer["kernel"], layer["stride"], layer["padding"], layer.get("output_padding", 0))
            size = cost.conv_transpose(c_in, c_out, *geometry, size, bias=layer.get("bias", False))
            if layer.get("batchnorm", not last):
                cost.batchnorm(c_out)
            cost.end_block()
            c_in = c_out
    return cost


def _paper_up_block(
    cost: NetCost, config: ModelConfig, c_in: int, c_out: int, size: int, last: bool, kernel: int
) -> int:
    # models._up_block: ConvTranspose2d(k, 2) or nearest x2 + Conv2d(k'); BN except on the output.
    use_bn = config.g_batchnorm and not last
    if config.upsample == "transposed":
        padding = (kernel - 2 + 1) // 2
        size = cost.conv_transpose(c_in, c_out, kernel, 2, padding, kernel % 2, size, bias=not use_bn)
    else:
        resize_kernel = 3 if kernel == 4 else kernel
        size = cost.upsample(c_in, size)
        size = cost.conv(c_in, c_out, resize_kernel, 1, resize_kernel // 2, size, bias=not use_bn)
    if use_bn:
        cost.batchnorm(c_out)
    cost.end_block()
    return size


def discriminator_cost(config: ModelConfig) -> NetCost:
    """D's parameters, state size, FLOPs and widest activation, mirroring models.Discriminator."""
    cost = NetCost()
    if config.family == "tutorial":
        size = cost.conv(config.nc, config.ndf, 5, 2, 2, 28, bias=True)
        size = cost.conv(config.ndf, config.ndf * 2, 5, 2, 2, size, bias=not config.d_batchnorm)
        if config.d_batchnorm:
            cost.batchnorm(config.ndf * 2)
        cost.linear(config.ndf * 2 * size * size, 1, bias=True)
        return cost
    n = max(1, (config.image_size // 4).bit_length() - 1)
    widths = [config.nc] + [config.ndf * 2**i for i in range(n)]
    size = config.image_size
    for i in range(n):
        use_bn = config.d_batchnorm and i > 0
        size = cost.conv(widths[i], widths[i + 1], 4, 2, 1, size, bias=not use_bn)
        if use_bn:
            cost.batchnorm(widths[i + 1])
    cost.conv(widths[-1], 1, config.image_size // 2**n, 1, 0, size, bias=True)
    return cost


# ---------------------------------------------------------------------------- checks


def check_model_config(config: ModelConfig) -> None:
    """DcganError unless every number of `config` is in bounds and G and D are affordable.

    Call after the family, image size and enum fields are known to be valid.
    """
    _check_range("nz", config.nz, 1, MAX_NZ)
    width_limit = MAX_CHANNELS if config.family == "chain" else MAX_BASE_WIDTH  # a chain's ngf is informational
    _check_range("ngf", config.ngf, 1, width_limit)
    _check_range("ndf", config.ndf, 1, MAX_BASE_WIDTH)
    if config.family == "chain":
        _check_range("image_size", config.image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
        _check_chain(config)
    for name, cost in (("generator", generator_cost(config)), ("discriminator", discriminator_cost(config))):
        _check_cost(name, cost)


def check_integer(name: str, value: Any) -> None:
    """JSON can say 64.0, "64", true or 1e300 where an integer belongs; only plain ints pass."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise DcganError(f"{name} must be an integer, got {value!r}")


def _check_range(name: str, value: Any, low: int, high: int, why: str = "") -> None:
    check_integer(name, value)
    if not low <= value <= high:
        raise DcganError(f"{name} is {value}; it must be between {low} and {high}{why}")


def chain_sizes(layers: list[dict[str, Any]], start_size: int = 1) -> list[int]:
    """The image size after each chain layer, from z as a 1x1 map or the dense layer's start_size maps
    (layers already type-checked)."""
    sizes, size = [], start_size
    for layer in layers:
        size = (size - 1) * layer["stride"] - 2 * layer["padding"] + layer["kernel"] + layer.get("output_padding", 0)
        sizes.append(size)
    return sizes


def _check_chain(config: ModelConfig) -> None:
    layers = config.layers
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_CHAIN_LAYERS:
        count = len(layers) if isinstance(layers, list) else type(layers).__name__
        raise DcganError(f"a chain model has 1 to {MAX_CHAIN_LAYERS} layers, this config has {count}")
    for index, layer in enumerate(layers):
        _check_chain_layer(index, layer)
    if layers[-1]["out_channels"] != config.nc:
        raise DcganError(f"the chain's last layer makes {layers[-1]['out_channels']} channels but nc is {config.nc}")
    start_size = 1
    if config.dense is not None:
        _check_dense(config.dense)
        start_size = config.dense["size"]
    sizes = chain_sizes(layers, start_size)
    for index, size in enumerate(sizes):
        if not 1 <= size <= MAX_IMAGE_SIZE:
            raise DcganError(
                f"chain layer {index} makes {size}x{size} maps; every layer's output must be 1 to "
                f"{MAX_IMAGE_SIZE} pixels wide (check its stride, padding and kernel)"
            )
    if sizes[-1] != config.image_size:
        raise DcganError(
            f"the chain's layers make {sizes[-1]}x{sizes[-1]} images but image_size is {config.image_size}"
        )


def _check_chain_layer(index: int, layer: Any) -> None:
    where = f"chain layer {index}"
    if not isinstance(layer, dict):
        raise DcganError(f"{where} must be a JSON object, got {type(layer).__name__}")
    unknown = sorted(set(layer) - CHAIN_LAYER_KEYS)
    missing = sorted({"out_channels", "kernel", "stride", "padding"} - set(layer))
    if unknown or missing:
        raise DcganError(
            f"{where}: unknown keys {unknown}, missing keys {missing}; keys are {sorted(CHAIN_LAYER_KEYS)}"
        )
    _check_range(f"{where} out_channels", layer["out_channels"], 1, MAX_CHANNELS)
    _check_range(f"{where} kernel", layer["kernel"], 1, MAX_KERNEL)
    _check_range(f"{where} stride", layer["stride"], 1, MAX_STRIDE)
    # Padding beyond the kernel only crops away what the layer computed; torch needs output_padding < stride.
    _check_range(f"{where} padding", layer["padding"], 0, layer["kernel"] - 1)
    _check_range(f"{where} output_padding", layer.get("output_padding", 0), 0, layer["stride"] - 1)
    for flag in ("bias", "batchnorm"):
        if flag in layer and not isinstance(layer[flag], bool):
            raise DcganError(f"{where} {flag} must be true or false, got {layer[flag]!r}")


def _check_dense(dense: Any) -> None:
    if not isinstance(dense, dict):
        raise DcganError(f"the chain's dense layer must be a JSON object, got {type(dense).__name__}")
    unknown, missing = sorted(set(dense) - DENSE_KEYS), sorted(DENSE_KEYS - set(dense))
    if unknown or missing:
        raise DcganError(
            f"the chain's dense layer: unknown keys {unknown}, missing keys {missing}; keys are {sorted(DENSE_KEYS)}"
        )
    _check_range("dense layer out_channels", dense["out_channels"], 1, MAX_CHANNELS)
    _check_range("dense layer size", dense["size"], 1, MAX_IMAGE_SIZE)
    if not isinstance(dense["bias"], bool):
        raise DcganError(f"dense layer bias must be true or false, got {dense['bias']!r}")
    for key, choices in (("batchnorm", DENSE_BATCHNORMS), ("activation", DENSE_ACTIVATIONS)):
        if dense[key] not in choices:
            raise DcganError(f"dense layer {key} must be one of {choices}, got {dense[key]!r}")


def _check_cost(name: str, cost: NetCost) -> None:
    fix = "; use smaller widths (ngf/ndf, out_channels) or a smaller image size"
    if cost.parameters > MAX_PARAMETERS:
        raise DcganError(
            f"this config's {name} would have {cost.parameters / 1e6:,.1f} million parameters; "
            f"the limit is {MAX_PARAMETERS / 1e6:,.0f} million{fix}"
        )
    if cost.largest_activation > MAX_ACTIVATION_ELEMENTS:
        raise DcganError(
            f"this config's {name} would hold a {cost.largest_activation / 1e6:,.1f} million-value tensor per "
            f"image; the limit is {MAX_ACTIVATION_ELEMENTS / 1e6:,.0f} million{fix}"
        )
    if cost.forward_flops > MAX_FORWARD_FLOPS:
        raise DcganError(
            f"one forward of this config's {name} would take {cost.forward_flops / 1e9:,.1f} GFLOP per image; "
            f"the limit is {MAX_FORWARD_FLOPS / 1e9:,.0f} GFLOP{fix}"
        )


def weights_file_limit(cost: NetCost) -> int:
    """The largest plausible safetensors file for a network of this cost (float32 and the header)."""
    return cost.state_bytes + MAX_SAFETENSORS_HEADER_BYTES


def model_file_limit(name: str) -> int:
    """The most bytes a file of a model folder may have, by its name."""
    path = PurePosixPath(name)
    if path.name == "config.json":
        return MAX_CONFIG_BYTES
    if path.suffix == ".safetensors":
        return MAX_WEIGHTS_FILE_BYTES
    if path.name == "README.md":
        return MAX_CARD_BYTES
    return MAX_EXTRA_FILE_BYTES


def check_model_files(source: str, files: Iterable[tuple[str, int | None]]) -> None:
    """DcganError if any (name, size) of a model folder (a zip's members, a Hub repo's files) is too large.

    A size of None (unknown) is refused: nothing is fetched or unpacked blind.
    """
    total = 0
    for name, size in files:
        if size is None:
            raise DcganError(f"{source}: the size of {name} is unknown, so it is not downloaded")
        limit = model_file_limit(name)
        if size > limit:
            raise DcganError(f"{source}: {name} is {_megabytes(size)}; the limit for it is {_megabytes(limit)}")
        total += size
    if total > MAX_MODEL_FOLDER_BYTES:
        raise DcganError(
            f"{source}: its model files are {_megabytes(total)}; the limit is {_megabytes(MAX_MODEL_FOLDER_BYTES)}"
        )


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"
