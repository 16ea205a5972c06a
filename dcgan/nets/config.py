"""Configuration dataclasses, saved as config.json beside the weights.

A model folder is fully described by its config.json: `{"model": {...}, "train": {...}}`.
Unknown keys are an error (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dcgan.errors import DcganError
from dcgan.io_utils import atomic_write_text
from dcgan.nets.limits import check_integer, check_model_config

FAMILIES = ("paper", "tutorial", "chain")
PAPER_SIZES = (32, 64, 128)

UNSTATED = object()  # a Knob's `paper` when the paper does not say

# DiffAugment's policies for --d-augment (dcgan/training/diffaugment.py implements them; the config layer names
# them so that checking a config needs no training code).
POLICIES = ("off", "translation,cutout", "color,translation,cutout")  # the paper's two small-data policies


@dataclass(frozen=True)
class Knob:
    """What one config field tells its readers, declared once beside the field (see `option`):
    `python -m dcgan train` builds its flags from it (dcgan/nets/config_flags.py), the Train tab its form,
    and model cards their settings table."""

    help: str
    label: str = ""  # a short name for forms and cards (default: the field's name, spaced)
    choices: tuple = ()
    flag: str = ""  # the CLI flag when it is not --field-name (a True-by-default switch: --no-...)
    paper: Any = UNSTATED  # the DCGAN paper's value, for cards and help text
    exposed: bool = True  # False: not a user knob (no flag, no form, no card row)
    group: str = ""  # the --help section ("data", "model", "training"); default: by dataclass
    family_default: dict[str, Any] | None = None  # None in the field resolves per family
    families: tuple[str, ...] = ()  # a knob of these families only; the others fix its value
    from_data: bool = False  # the CLI's default is the data's own (the flag defaults to None)
    exclusive: str = ""  # flags sharing this name are mutually exclusive
    resume_override: bool = False  # on --resume, the flag (when given) overrides the run's value
    in_command: bool = True  # False: where a run ran, not what it learned (not in a card's command)
    # filled in by `knobs()`:
    name: str = ""
    default: Any = None
    type: type = str


def option(default: Any, help: str, **knob: Any) -> Any:
    """A dataclass field with its Knob: `image_size: int = option(64, "pixels per side", paper=64)`."""
    return field(default=default, metadata={"knob": Knob(help, **knob)})


@functools.cache  # every ModelConfig resolves its family defaults through this
def knobs(cls: type, exposed_only: bool = True) -> tuple[Knob, ...]:
    """The Knobs of a config dataclass's fields, in field order, with name, default and value type."""
    hints = typing.get_type_hints(cls)
    found = []
    for config_field in dataclasses.fields(cls):
        knob = config_field.metadata.get("knob")
        if knob is None or (exposed_only and not knob.exposed):
            continue
        label = knob.label or config_field.name.replace("_", " ")
        value_type = _value_type(hints[config_field.name])
        found.append(
            dataclasses.replace(
                knob, name=config_field.name, default=config_field.default, label=label, type=value_type
            )
        )
    return tuple(found)


def knob_of(cls: type, name: str) -> Knob:
    """One field's Knob (KeyError for a field without one)."""
    return {knob.name: knob for knob in knobs(cls, exposed_only=False)}[name]


def _value_type(hint: Any) -> type:
    # `int | None` -> int: a field that may be unset still has one type when set
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    value_type = args[0] if args else hint
    return typing.get_origin(value_type) or value_type


def help_text(knob: Knob) -> str:
    """A knob's help, with the paper's value when the paper gives one."""
    paper = "" if knob.paper is UNSTATED else f" (paper: {format_value(knob.paper)})"
    return knob.help + paper


def format_value(value: Any) -> str:
    """How a setting reads in help and cards: on/off for switches, 2e-4 not 0.0002."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value and abs(value) < 1e-3:
        mantissa, exponent = f"{value:e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def differs_from_paper(knob: Knob, value: Any) -> bool:
    return knob.paper is not UNSTATED and value != knob.paper


def family_default(knob: Knob, family: str) -> Any:
    """The value a field takes when left unset, in this model family."""
    return knob.family_default.get(family) if knob.family_default else knob.default


def resolve_family_defaults(config: Any) -> None:
    """Fields left None that have per-family defaults get their family's value (in place)."""
    for knob in knobs(type(config), exposed_only=False):
        if knob.family_default is not None and getattr(config, knob.name) is None:
            setattr(config, knob.name, family_default(knob, config.family))


@dataclass
class ModelConfig:
    """Everything needed to rebuild G and D.

    family: "paper" (all-conv, Radford et al.), "tutorial" (TensorFlow tutorial, 28x28,
    dense first layer), or "chain" (a generator imported from another project,
    described layer by layer in `layers`). image_size and d_dropout left None take the
    family's value (tutorial: 28 px, dropout 0.3; else 64 px, no dropout).
    """

    family: str = option(
        "paper",
        "paper: all-conv G and D (the DCGAN paper), 32/64/128 px. "
        "tutorial: TensorFlow's 28x28 DCGAN, with a dense first layer and dropout in D",
        choices=("paper", "tutorial"),  # "chain" only comes from imports
    )
    image_size: int | None = option(
        None,
        "pixels per side: 32, 64 or 128 (paper family), 28 (tutorial). 32 suits Fashion-MNIST (28 padded up); "
        "64 is the paper's size, 4x the compute of 32",
        label="image size",
        paper=64,
        family_default={"paper": 64, "tutorial": 28, "chain": 64},
        families=("paper",),
    )
    nc: int = option(
        3, "image channels: 1 grayscale, 3 RGB", label="channels", flag="--channels", choices=(1, 3), from_data=True
    )
    nz: int = option(100, "latent size: the number of dims of z", paper=100)
    ngf: int = option(64, "G's width (channels of its last hidden layer); 32-64 train fast on a CPU", paper=128)
    ndf: int = option(64, "D's width (channels of its first layer); keep it close to G's, or D wins too easily")
    upsample: str = option(
        "transposed",
        "transposed convs can leave checkerboard artefacts; resize (nearest x2, then a 3x3 conv) avoids them",
        label="upsampling",
        choices=("transposed", "resize"),
        paper="transposed",
        families=("paper",),
    )
    noise: str = option(
        "normal",
        "distribution of z: normal N(0, 1), the usual choice today, or uniform U(-1, 1), the paper's code",
        choices=("normal", "uniform"),
        paper="uniform",
    )
    g_batchnorm: bool = option(
        True,
        "BatchNorm in G except its output layer; without it training often collapses",
        label="BatchNorm in G",
        flag="--no-g-batchnorm",
        paper=True,
    )
    d_batchnorm: bool = option(
        True, "BatchNorm in D except its input layer", label="BatchNorm in D", flag="--no-d-batchnorm", paper=True
    )
    d_dropout: float | None = option(
        None,
        "dropout after each D activation; default 0, in the tutorial family 0.3",
        label="dropout in D",
        paper=0.0,
        family_default={"paper": 0.0, "tutorial": 0.3, "chain": 0.0},
    )
    activation: str = option("relu", "G's hidden activation: relu (paper) or leakyrelu (imports)", exposed=False)
    leaky_slope: float = option(0.2, "G's LeakyReLU slope, when activation is leakyrelu (imports)", exposed=False)
    # family "chain" only: one dict per ConvTranspose2d, from z (1x1) to the image:
    # {"out_channels", "kernel", "stride", "padding", "output_padding", "bias", "batchnorm"}
    layers: list[dict[str, Any]] | None = option(None, "an imported generator's layers", exposed=False)
    # family "chain" only, when z first goes through a Linear reshaped to (out_channels, size, size):
    # {"out_channels", "size", "bias", "batchnorm": "none" | "1d" | "2d", "activation": "none" | "relu" | "leakyrelu"}
    dense: dict[str, Any] | None = option(None, "an imported generator's dense first layer", exposed=False)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:  # before the family's defaults are looked up
            raise DcganError(f"family must be one of {FAMILIES}, got {self.family!r}")
        resolve_family_defaults(self)
        self.validate()

    def validate(self) -> None:
        """DcganError unless this config is sane AND affordable: checked before anything is built."""
        if self.family not in FAMILIES:
            raise DcganError(f"family must be one of {FAMILIES}, got {self.family!r}")
        for name in ("image_size", "nc", "nz", "ngf", "ndf"):
            check_integer(name, getattr(self, name))  # JSON may say 64.0 or "64"; size arithmetic needs ints
        if self.family == "paper" and self.image_size not in PAPER_SIZES:
            raise DcganError(
                f"the paper family makes {PAPER_SIZES} pixel images, got image_size={self.image_size}; "
                "use --family tutorial for 28x28"
            )
        if self.family == "tutorial" and self.image_size != 28:
            raise DcganError(f"the tutorial family makes 28x28 images, got image_size={self.image_size}")
        if self.family == "chain" and not self.layers:
            raise DcganError("family 'chain' needs its 'layers' list")
        if self.family != "chain" and self.dense is not None:
            raise DcganError("only family 'chain' (imported generators) has a 'dense' layer")
        if self.nc not in (1, 3):
            raise DcganError(f"nc (image channels) must be 1 or 3, got {self.nc}")
        if self.upsample not in ("transposed", "resize"):
            raise DcganError(f"upsample must be 'transposed' or 'resize', got {self.upsample!r}")
        if self.noise not in ("normal", "uniform"):
            raise DcganError(f"noise must be 'normal' or 'uniform', got {self.noise!r}")
        if self.activation not in ("relu", "leakyrelu"):
            raise DcganError(f"activation must be 'relu' or 'leakyrelu', got {self.activation!r}")
        if isinstance(self.leaky_slope, bool) or not isinstance(self.leaky_slope, (int, float)):
            raise DcganError(f"leaky_slope must be a number, got {self.leaky_slope!r}")
        if not 0.0 <= self.leaky_slope < 1.0:
            raise DcganError(f"leaky_slope must be in [0, 1) (nn.LeakyReLU's default is 0.01), got {self.leaky_slope}")
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

    data: str = option("fashion-mnist", "a dataset's name, or a folder of images / IDX files", group="data")
    limit: int | None = option(None, "use only the first N training images (quick experiments)", group="data")
    batch_size: int = option(128, "images per step", label="batch size", paper=128)
    lr_g: float = option(
        2e-4,
        "G's Adam learning rate; the usual 1e-3 made the paper's training unstable",
        label="G learning rate",
        paper=2e-4,
        resume_override=True,
    )
    lr_d: float = option(
        2e-4,
        "D's Adam learning rate; a higher one than G's is TTUR (Heusel et al. 2017)",
        label="D learning rate",
        paper=2e-4,
        resume_override=True,
    )
    beta1: float = option(0.5, "Adam beta1; 0.9 made the paper's training oscillate", label="Adam beta1", paper=0.5)
    beta2: float = option(0.999, "Adam beta2, the decay of its average of squared gradients", label="Adam beta2")
    epochs: int | None = option(
        None,
        "passes over the data (total, also when resuming); Fashion-MNIST: 1 epoch = 469 steps of 128 "
        "(the Train tab's ⏱ measures how long one takes on its server)",
        exclusive="length",
    )
    steps: int | None = option(None, "training steps (total); one step = one D and one G update", exclusive="length")
    label_smoothing: float = option(
        0.0,
        "one-sided: real labels become 1 - this (e.g. 0.1), which keeps D from over-confidence "
        "(Salimans et al. 2016); fakes stay 0",
        label="label smoothing",
        paper=0.0,
    )
    g_loss: str = option(
        "nonsaturating",
        "nonsaturating: G maximises log D(G(z)), strong gradients early; minimax: the original, "
        "G minimises log(1 - D(G(z)))",
        label="G loss",
        choices=("nonsaturating", "minimax"),
        paper="nonsaturating",
    )
    augment: bool = option(
        False, "random flips and 2-pixel shifts: helps small datasets (a few thousand images)", group="data"
    )
    d_augment: str = option(
        "off",
        "DiffAugment (Zhao et al. 2020): random colour, shifts of up to 1/8 and a cut-out square, applied to "
        "every image D sees, real and generated, in a way G's gradient passes through; keeps D from "
        "memorising a small dataset (a few thousand images)",
        label="DiffAugment",
        choices=POLICIES,
        paper="off",
    )
    r1: float = option(
        0.0,
        "R1 penalty (Mescheder et al. 2018): D also minimises this times half its squared gradient at the "
        "real images, so it stays smooth around the data; costs a second pass back through D; 0: off",
        label="R1 penalty",
        paper=0.0,
    )
    ema: float = option(
        0.0,
        "draw samples (and publish) from a moving average of G's weights with this decay, e.g. 0.999: "
        "smoother, often better; 0: off",
        label="EMA of G",
        paper=0.0,
    )
    seed: int = option(0, "seeds init, data order, noise and the fixed grid")
    sample_every: int = option(200, "steps between fixed-noise sample grids")
    checkpoint_every: int = option(500, "steps between checkpoints")
    keep_every: int = option(
        0,
        "also keep the model (G, D, config) every this many steps, as a model folder of its own in "
        "snapshots/step-N: GAN training can get worse later (a run that collapses to a few faces), and the best "
        "step is then still there to measure and publish. A multiple of checkpoint_every; 0: off",
        resume_override=True,
    )
    n_fixed: int = option(64, "size of the fixed-noise grid", exposed=False)
    max_loss: float = option(100.0, "stop as diverged when a loss exceeds this (or is NaN/inf)")
    device: str | None = option(None, "cpu, cuda, cuda:1 (default: CUDA when available)", in_command=False)
    channels_last: bool = option(
        True, "channels-last memory layout, for faster convs on CPU and GPU", flag="--no-channels-last"
    )
    amp: bool = option(True, "bf16 autocast, on CUDA only (slower on CPU)", flag="--no-amp")
    sync_bn: bool = option(
        False,
        "under torchrun: BatchNorm statistics over the global batch (then N processes train the weights one "
        "process would). Off by default, as is usual with DDP: each process normalises its own slice, which "
        "needs no extra communication and is as good once a slice holds 32+ images; turn it on for small "
        "slices or to reproduce a one-process run",
        resume_override=True,
    )
    compile: bool = option(
        False,
        "torch.compile G and D (needs a C++ compiler on the CPU, Triton on GPUs). Off by default because on "
        "this project's 2-core CPU it never pays: the first compile takes ~20 s (a few seconds once inductor's "
        "cache holds the same shapes) and the steps then run at 0.95-0.97x the speed, 32 and 64 px "
        "(bench/train_throughput.py --compile). Fusing BatchNorm and activations can pay on a GPU in runs of "
        "thousands of steps: measure there first",
        resume_override=True,
    )

    def __post_init__(self) -> None:
        if self.g_loss not in ("nonsaturating", "minimax"):
            raise DcganError(f"g_loss must be 'nonsaturating' or 'minimax', got {self.g_loss!r}")
        if self.d_augment not in POLICIES:
            raise DcganError(f"d_augment must be one of {', '.join(POLICIES)}, got {self.d_augment!r}")
        if not 0.0 <= self.label_smoothing < 0.5:
            raise DcganError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if not 0.0 <= self.ema < 1.0:
            raise DcganError(f"ema must be in [0, 1) (e.g. 0.999), got {self.ema}")
        if self.batch_size < 1:
            raise DcganError(f"batch_size must be positive, got {self.batch_size}")
        for name in ("sample_every", "checkpoint_every", "n_fixed"):
            if getattr(self, name) < 1:
                raise DcganError(f"{name} must be positive, got {getattr(self, name)}")
        if self.keep_every < 0 or self.keep_every % self.checkpoint_every:
            raise DcganError(
                f"keep_every must be 0 (off) or a multiple of checkpoint_every ({self.checkpoint_every}): models "
                f"are kept at checkpoints, got {self.keep_every}"
            )
        for name in ("epochs", "steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise DcganError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("lr_g", "lr_d"):  # NaN fails this too
            if not 0.0 < getattr(self, name) < 1.0:
                raise DcganError(
                    f"{name} must be a learning rate between 0 and 1 (paper: 2e-4), got {getattr(self, name)}"
                )
        if not 0.0 <= self.r1 <= 1000.0:  # NaN fails this too
            raise DcganError(f"r1 must be between 0 and 1000 (e.g. 1; 0 is off), got {self.r1}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise DcganError(f"{name} must be in [0, 1) (paper beta1: 0.5), got {getattr(self, name)}")


# Our config files nest 2 levels deep (a classifier's 3). A hostile one nested 200,000 deep would overflow the
# parser's stack (a RecursionError, not a message): anything deeper than this is refused before parsing.
MAX_JSON_DEPTH = 16
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes included
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def read_json(path: str | Path) -> Any:
    """A config file's JSON; DcganError (not a traceback) when it is missing, not JSON, nested deeper than
    MAX_JSON_DEPTH, or holds a number Python will not convert (over 4,300 digits: a ValueError)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DcganError(f"no {path.name} at {path.parent}") from None
    except UnicodeDecodeError as error:
        raise DcganError(f"{path} is not valid JSON: {error}") from None
    if json_depth(text, stop_after=MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise DcganError(f"{path} nests more than {MAX_JSON_DEPTH} levels deep; a config file nests 2 or 3")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DcganError(f"{path} is not valid JSON: {error}") from None
    except (ValueError, RecursionError) as error:  # e.g. "Exceeds the limit (4300 digits) for integer ..."
        reason = str(error).split(";")[0]  # without Python's advice to raise the limit
        raise DcganError(f"{path} holds a value too large to read ({reason})") from None


def json_depth(text: str, stop_after: int | None = None) -> int:
    """How deep JSON `text` nests its arrays and objects (brackets inside strings do not count); counting
    stops once past `stop_after`. Cheap: regular expressions and one pass over the brackets."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if bracket.group() in "[{" else -1
        deepest = max(deepest, depth)
        if stop_after is not None and deepest > stop_after:
            break
    return deepest


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
