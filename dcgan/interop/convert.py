"""Import generators saved by other PyTorch DCGAN projects as our model folders; never silently wrong.

Most PyTorch DCGANs (pytorch/examples, the PyTorch tutorial, course notebooks) are a chain of
ConvTranspose2d (+ BatchNorm2d) + ReLU/LeakyReLU layers ending in Tanh, some after a dense layer
(Linear z -> C*k*k, reshaped to (C, k, k)). Their state dicts hold the weights (read safely by
dcgan/interop/foreign_files.py, parsed by dcgan/interop/foreign_layers.py) but not the strides, paddings or
activations. Those come from the user's flags (`ImportOptions`), or, for the strides and paddings,
from the one standard DCGAN layout that fits (dcgan/interop/layer_spec.py); when the weights leave a
choice open, the import stops and says what to pass. The result is a family "chain" ModelConfig.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dcgan.errors import DcganError
from dcgan.interop.foreign_files import read_foreign_state_dict
from dcgan.interop.foreign_layers import ForeignGenerator, parse_generator
from dcgan.interop.import_report import Health, import_card, preview_health
from dcgan.interop.layer_spec import Step, check_layers, choose_geometry, config_spec, parse_layers
from dcgan.io_utils import file_sha256
from dcgan.nets.config import ModelConfig
from dcgan.nets.limits import DENSE_ACTIVATIONS
from dcgan.nets.models import Generator
from dcgan.store.model_files import load_state_strict

__all__ = ["ImportNeedsOptions", "ImportOptions", "ImportReport", "choose_geometry", "import_generator"]
__all__ += ["import_model", "infer_chain", "read_foreign_state_dict"]

ACTIVATIONS = ("relu", "leakyrelu")
NOISES = ("normal", "uniform")
DEFAULT_SLOPE = 0.2


class ImportNeedsOptions(DcganError):
    """The weights leave the model open (a dense layer's activation, the strides and paddings): the
    message says which options to give, with the candidates."""


@dataclass(frozen=True)
class ImportOptions:
    """What the weights cannot say, said by the user: the CLI's flags, the app's upload form."""

    layers: str | None = None  # --layers "k4s1p0,k4s2p1,...": each ConvTranspose2d's geometry
    dense_activation: str | None = None  # what follows a dense first layer: none, relu, leakyrelu
    activation: str = "relu"  # the ConvTranspose2d layers'; tanh at the output
    noise: str = "normal"  # the z distribution the original was trained with
    image_size: int | None = None
    leaky_slope: float = DEFAULT_SLOPE  # of every LeakyReLU (nn.LeakyReLU's default is 0.01, Keras' 0.3)

    def check(self) -> None:
        for name, value, choices in (
            ("--activation", self.activation, ACTIVATIONS),
            ("--dense-activation", self.dense_activation, (None, *DENSE_ACTIVATIONS)),
            ("--noise", self.noise, NOISES),
        ):
            if value not in choices:
                raise DcganError(f"{name} must be one of {', '.join(c for c in choices if c)}, got {value!r}")
        if self.image_size is not None and (not isinstance(self.image_size, int) or self.image_size < 1):
            raise DcganError(f"--image-size must be a positive integer, got {self.image_size!r}")
        if not 0.0 <= self.leaky_slope < 1.0:
            raise DcganError(f"--leaky-slope must be in [0, 1), got {self.leaky_slope}")

    def flags(self) -> str:
        """The command-line flags that say these options (for cards and refusals)."""
        parts = [f"--layers {self.layers.strip()}"] if self.layers else []
        if self.dense_activation:
            parts.append(f"--dense-activation {self.dense_activation}")
        parts += [f"--activation {self.activation}", f"--noise {self.noise}"]
        if self.leaky_slope != DEFAULT_SLOPE:
            parts.append(f"--leaky-slope {self.leaky_slope:g}")
        if self.image_size:
            parts.append(f"--image-size {self.image_size}")
        return " ".join(parts)


@dataclass(frozen=True)
class ImportReport:
    folder: Path
    preview: Path  # an 8x8 grid from seed 0
    health: Health
    spec: str  # the --layers that reproduces the geometry
    sha256: str  # of the source file


def import_generator(source: str | Path, out_dir: str | Path, **options: Any) -> Path:
    """Convert another project's generator weights (.pth/.pt state dict, or .safetensors) to a model folder.

    `options` are ImportOptions' fields: layers="k4s1p0,...", dense_activation=, activation=, noise=,
    image_size=, leaky_slope=. Returns `out_dir`, loadable with `Generator.from_pretrained`.
    """
    return import_model(source, out_dir, ImportOptions(**options)).folder


def import_model(source: str | Path, out_dir: str | Path, options: ImportOptions) -> ImportReport:
    """import_generator, returning what the CLI prints: the preview, its health numbers, spec and sha256.

    The folder gets config.json, model.safetensors, preview.png and README.md (the source's sha256,
    the spec, the noise, the command). Nothing is left behind when the import fails.
    """
    source, out_dir = Path(source), Path(out_dir)
    _check_out_dir(out_dir)
    config, tensors = infer_chain(read_foreign_state_dict(source), options=options)
    generator = Generator(config).eval()
    load_state_strict(generator, tensors, source)  # every name and shape against the config, before writing
    spec = config_spec(config.layers)
    digest = file_sha256(source)
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        preview, health = preview_health(generator, out_dir)
        stated = dataclasses.replace(options, layers=spec, image_size=None)
        card = import_card(source.name, digest, config, stated.flags(), health)
        generator.save_pretrained(out_dir, card=card)
    except BaseException:
        _remove_written(out_dir, created)
        raise
    return ImportReport(out_dir, preview, health, spec, digest)


def infer_chain(
    state_dict: dict[str, torch.Tensor], options: ImportOptions | None = None, **fields: Any
) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """A family "chain" ModelConfig and the same weights under our key names.

    The options in `options`, or as ImportOptions' fields (activation="leakyrelu", image_size=32).
    DcganError, saying every flag still needed, when the weights and options leave the model open.
    """
    options = options or ImportOptions(**fields)
    options.check()
    parsed = parse_generator(state_dict)
    nc = parsed.convs[-1].out_channels
    if nc not in (1, 3):
        raise DcganError(
            f"the last layer ({parsed.convs[-1].path}) makes {nc}-channel images; only 1 (grayscale) or 3 (RGB) "
            "are supported. Is this the generator's state dict?"
        )
    missing = []
    if parsed.dense is not None and options.dense_activation is None:
        missing.append(_dense_activation_request(parsed))
    if parsed.dense is None and options.dense_activation is not None:
        raise DcganError("--dense-activation was given, but these weights have no dense layer: leave it out")
    try:
        steps, size = _geometry(parsed, options)
    except DcganError as error:
        missing.append(str(error))
    if missing:
        raise ImportNeedsOptions("\n\n".join(missing))
    config = ModelConfig(
        family="chain",
        image_size=size,
        nc=nc,
        nz=parsed.nz,
        ngf=parsed.convs[-1].in_channels,  # width of the last hidden layer (informational for chains)
        noise=options.noise,
        activation=options.activation,
        leaky_slope=options.leaky_slope,
        layers=[conv.describe(step) for conv, step in zip(parsed.convs, steps, strict=True)],
        dense=parsed.dense.describe(options.dense_activation) if parsed.dense else None,
    )
    return config, parsed.our_state_dict()


def _geometry(parsed: ForeignGenerator, options: ImportOptions) -> tuple[list[Step], int]:
    start_size = parsed.dense.size if parsed.dense else 1
    if options.layers:
        steps = parse_layers(options.layers)
        return steps, check_layers(steps, parsed.kernels, start_size, options.image_size)
    what = f", after a dense layer making {start_size}x{start_size} maps" if parsed.dense else ""
    return choose_geometry(parsed.kernels, options.image_size, start_size, what)


def _dense_activation_request(parsed: ForeignGenerator) -> str:
    dense = parsed.dense
    return (
        f"these weights start with a dense layer ({dense.path}: Linear({parsed.nz} -> "
        f"{dense.channels}x{dense.size}x{dense.size})), and whether an activation follows it is not in the "
        "weights. Say it with --dense-activation: none (the reshape goes straight into the first "
        "ConvTranspose2d, e.g. Udacity's face generator), relu or leakyrelu (see --leaky-slope), as the original's "
        "forward() does."
    )


def _check_out_dir(out_dir: Path) -> None:
    # A reused folder could keep a stale discriminator.safetensors that no longer matches.
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise DcganError(f"{out_dir} already exists and is not an empty folder; choose a new output folder")


def _remove_written(out_dir: Path, created: bool) -> None:
    if created:
        shutil.rmtree(out_dir, ignore_errors=True)
        return
    for entry in out_dir.iterdir():  # it was empty before: everything in it is ours
        shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
