"""Configuration dataclasses, saved as config.json beside the weights.

A model folder is fully described by its config.json: `{"model": {...}, "train": {...}}`.
Unknown keys are an error (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DcganError
from .io_utils import atomic_write_text
from .limits import check_integer, check_model_config

FAMILIES = ("paper", "tutorial", "chain")
PAPER_SIZES = (32, 64, 128)


@dataclass
class ModelConfig:
    """Everything needed to rebuild G and D.

    family: "paper" (all-conv, Radford et al.), "tutorial" (TensorFlow tutorial, 28x28,
    dense first layer), or "chain" (a generator imported from another project,
    described layer by layer in `layers`).
    """

    family: str = "paper"
    image_size: int = 64
    nc: int = 3  # image channels
    nz: int = 100  # latent size
    ngf: int = 64  # generator width (channels of its last hidden layer)
    ndf: int = 64  # discriminator width (channels of its first layer)
    upsample: str = "transposed"  # or "resize": nearest x2 then 3x3 conv (no checkerboard)
    noise: str = "normal"  # z ~ N(0, 1) or "uniform" U(-1, 1)
    g_batchnorm: bool = True  # paper: BN in G except at its output
    d_batchnorm: bool = True  # paper: BN in D except at its input
    d_dropout: float = 0.0  # dropout after each D activation (tutorial family: 0.3)
    activation: str = "relu"  # G's hidden activation: "relu" (paper) or "leakyrelu"
    # family "chain" only: one dict per ConvTranspose2d, from z (1x1) to the image:
    # {"out_channels", "kernel", "stride", "padding", "output_padding", "bias", "batchnorm"}
    layers: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """DcganError unless this config is sane AND affordable: checked before anything is built."""
        for name in ("image_size", "nc", "nz", "ngf", "ndf"):
            check_integer(name, getattr(self, name))  # JSON may say 64.0 or "64"; size arithmetic needs ints
        if self.family not in FAMILIES:
            raise DcganError(f"family must be one of {FAMILIES}, got {self.family!r}")
        if self.family == "paper" and self.image_size not in PAPER_SIZES:
            raise DcganError(
                f"the paper family makes {PAPER_SIZES} pixel images, got image_size={self.image_size}; "
                "use --family tutorial for 28x28"
            )
        if self.family == "tutorial" and self.image_size != 28:
            raise DcganError(f"the tutorial family makes 28x28 images, got image_size={self.image_size}")
        if self.family == "chain" and not self.layers:
            raise DcganError("family 'chain' needs its 'layers' list")
        if self.nc not in (1, 3):
            raise DcganError(f"nc (image channels) must be 1 or 3, got {self.nc}")
        if self.upsample not in ("transposed", "resize"):
            raise DcganError(f"upsample must be 'transposed' or 'resize', got {self.upsample!r}")
        if self.noise not in ("normal", "uniform"):
            raise DcganError(f"noise must be 'normal' or 'uniform', got {self.noise!r}")
        if self.activation not in ("relu", "leakyrelu"):
            raise DcganError(f"activation must be 'relu' or 'leakyrelu', got {self.activation!r}")
        if not isinstance(self.d_dropout, (int, float)) or not 0.0 <= self.d_dropout < 1.0:
            raise DcganError(f"d_dropout must be in [0, 1), got {self.d_dropout}")
        # Widths, chain geometry, parameters and FLOPs: a hostile config.json must not allocate 16 GB.
        check_model_config(self)

    @property
    def n_upsamplings(self) -> int:
        """Paper family: number of x2 stages from 4x4 to the image."""
        return int(math.log2(self.image_size // 4))


@dataclass
class TrainConfig:
    """The paper's recipe as defaults, plus the knobs the source texts discuss."""

    data: str = "fashion-mnist"  # a dataset name or a path (IDX file pair folder or image folder)
    limit: int | None = None  # use only the first N training images
    batch_size: int = 128
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    epochs: int | None = None  # train for this many epochs, or
    steps: int | None = None  # this many steps (one step = one D update + one G update)
    label_smoothing: float = 0.0  # one-sided: real targets become 1 - label_smoothing
    g_loss: str = "nonsaturating"  # or "minimax" (the original log(1 - D(G(z))))
    augment: bool = False  # random flips and small shifts (for small datasets)
    ema: float = 0.0  # decay of a moving average of G's weights that draws the samples; 0: off (the paper)
    seed: int = 0
    sample_every: int = 200  # steps between fixed-noise sample grids
    checkpoint_every: int = 500  # steps between checkpoints
    n_fixed: int = 64  # size of the fixed-noise grid
    max_loss: float = 100.0  # a loss above this (or NaN/inf) stops the run as diverged
    device: str | None = None  # None: CUDA when available, else CPU
    channels_last: bool = True  # faster convs on CPU and GPU
    amp: bool = True  # bf16 autocast, CUDA only (slower on CPU)
    sync_bn: bool = False  # under torchrun: BatchNorm statistics over the global batch, not each rank's slice
    # torch.compile G and D: a one-off compile (~20 s on a CPU) for fused BatchNorm/activations; on our
    # 2-core CPU the steps were no faster (bench/train_throughput.py --compile), so it is off by default
    compile: bool = False

    def __post_init__(self) -> None:
        if self.g_loss not in ("nonsaturating", "minimax"):
            raise DcganError(f"g_loss must be 'nonsaturating' or 'minimax', got {self.g_loss!r}")
        if not 0.0 <= self.label_smoothing < 0.5:
            raise DcganError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if not 0.0 <= self.ema < 1.0:
            raise DcganError(f"ema must be in [0, 1) (e.g. 0.999), got {self.ema}")
        if self.batch_size < 1:
            raise DcganError(f"batch_size must be positive, got {self.batch_size}")
        for name in ("sample_every", "checkpoint_every", "n_fixed"):
            if getattr(self, name) < 1:
                raise DcganError(f"{name} must be positive, got {getattr(self, name)}")


def read_json(path: str | Path) -> Any:
    """A config file's JSON; DcganError (not a traceback) when it is missing or not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DcganError(f"no {path.name} at {path.parent}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DcganError(f"{path} is not valid JSON: {error}") from None


def write_json(path: str | Path, values: Any) -> None:
    """Atomically: a reader never sees half a config."""
    atomic_write_text(Path(path), json.dumps(values, indent=2) + "\n")


def _from_dict(cls: type, values: dict[str, Any], where: str) -> Any:
    if not isinstance(values, dict):
        raise DcganError(f"{where}: expected a JSON object, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise DcganError(f"{where}: unknown keys {unknown}; known keys are {sorted(known)}")
    try:
        return cls(**values)
    except TypeError as error:
        raise DcganError(f"{where}: {error}") from None


@dataclass
class RunConfig:
    """What config.json holds: the model, and how it was trained (None for imported models)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": dataclasses.asdict(self.model),
            "train": dataclasses.asdict(self.train) if self.train else None,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "config.json") -> RunConfig:
        if not isinstance(values, dict):
            raise DcganError(f"{where}: expected a JSON object with 'model' and 'train', got {type(values).__name__}")
        unknown = sorted(set(values) - {"model", "train"})
        if unknown:
            raise DcganError(f"{where}: unknown keys {unknown}; expected 'model' and 'train'")
        if "model" not in values:
            raise DcganError(f"{where}: no 'model' section")
        model = _from_dict(ModelConfig, values["model"], f"{where} [model]")
        train_values = values.get("train")
        train = _from_dict(TrainConfig, train_values, f"{where} [train]") if train_values else None
        return cls(model=model, train=train)

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        return cls.from_dict(read_json(path), where=str(path))
