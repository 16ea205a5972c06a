"""The layers of another project's generator, as far as its state dict alone says.

What the weights say: an optional dense layer first (Linear nz -> C*k*k, then perhaps a
BatchNorm1d over its C*k*k features or a BatchNorm2d over C after the reshape to (C, k, k)),
then a chain of ConvTranspose2d layers (weights (in, out, k, k)), each perhaps followed by a
BatchNorm2d. What they do not say (strides, paddings, activations) comes from dcgan/interop/layer_spec.py
and the user's flags; dcgan/interop/convert.py puts the two together.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import torch

from dcgan.errors import DcganError
from dcgan.interop.foreign_files import DISCRIMINATOR_NAMES, GENERATOR_NAMES
from dcgan.interop.layer_spec import Step

PARAM_NAMES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
# A 2-D weight under such a name is a label embedding: a conditional generator.
CONDITIONAL_NAME = re.compile(r"emb|label|class|cond", re.IGNORECASE)
CONDITIONAL_REFUSAL = (
    "conditional generators (a label embedding or a second input) are not supported: only a generator "
    "whose one input is z can be imported"
)

CONV2D = (
    "not a ConvTranspose2d: a discriminator or encoder (import the generator's state dict instead), or a "
    "generator that upsamples and then convolves (nn.Upsample + Conv2d), which cannot be imported"
)

Tensors = dict[str, torch.Tensor]


@dataclass
class ForeignConv:
    """One ConvTranspose2d and the BatchNorm2d after it, if any."""

    path: str
    weight: torch.Tensor  # (in, out, k, k): ConvTranspose2d's layout
    bias: torch.Tensor | None
    batchnorm: Tensors | None = None
    batchnorm_path: str | None = None

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
        """ModelConfig.layers' entry for this layer, run as `step` says."""
        return {
            "out_channels": self.out_channels,
            "kernel": self.kernel,
            "stride": step.stride,
            "padding": step.padding,
            "output_padding": step.output_padding,
            "bias": self.bias is not None,
            "batchnorm": self.batchnorm is not None,
        }


@dataclass
class ForeignDense:
    """Linear(nz -> channels * size * size), reshaped to (channels, size, size); perhaps a BatchNorm."""

    path: str
    weight: torch.Tensor  # (channels * size * size, nz): Linear's layout
    bias: torch.Tensor | None
    channels: int
    size: int
    batchnorm: Tensors | None = None
    batchnorm_path: str | None = None
    batchnorm_kind: str = "none"  # "1d": over the C*k*k features; "2d": over C after the reshape

    def describe(self, activation: str) -> dict[str, Any]:
        """ModelConfig.dense for this layer, followed by `activation`."""
        return {
            "out_channels": self.channels,
            "size": self.size,
            "bias": self.bias is not None,
            "batchnorm": self.batchnorm_kind,
            "activation": activation,
        }


@dataclass
class ForeignGenerator:
    dense: ForeignDense | None
    convs: list[ForeignConv] = field(default_factory=list)

    @property
    def nz(self) -> int:
        return self.dense.weight.shape[1] if self.dense else self.convs[0].in_channels

    @property
    def kernels(self) -> list[int]:
        return [conv.kernel for conv in self.convs]

    def signature(self) -> list[tuple[str, str | None]]:
        """Which module is which layer: (path, its BatchNorm's path) from z to the image."""
        dense = [(self.dense.path, self.dense.batchnorm_path)] if self.dense else []
        return dense + [(conv.path, conv.batchnorm_path) for conv in self.convs]

    def describe_order(self) -> str:
        return " -> ".join(path + (f" + {bn}" if bn else "") for path, bn in self.signature())

    def our_state_dict(self) -> Tensors:
        """The same tensors under models.Generator's names (family "chain")."""
        tensors: Tensors = {}
        if self.dense is not None:
            tensors["stem.linear.weight"] = self.dense.weight
            if self.dense.bias is not None:
                tensors["stem.linear.bias"] = self.dense.bias
            for name, tensor in (self.dense.batchnorm or {}).items():
                tensors[f"stem.bn{self.dense.batchnorm_kind}.{name}"] = tensor
        # blocks[i] = Sequential(ConvTranspose2d, [BatchNorm2d], activation)
        for index, conv in enumerate(self.convs):
            tensors[f"blocks.{index}.0.weight"] = conv.weight
            if conv.bias is not None:
                tensors[f"blocks.{index}.0.bias"] = conv.bias
            for name, tensor in (conv.batchnorm or {}).items():
                tensors[f"blocks.{index}.1.{name}"] = tensor
        return tensors


def parse_generator(state_dict: Tensors) -> ForeignGenerator:
    """The dense layer (if any) and the ConvTranspose2d chain of a generator's state dict.

    The layer order is read from the keys: in the order of the integers in them ("main.10" after
    "main.9", also when a safetensors file sorted them as text), and in the order they were saved
    (a module's registration order: d2l's blocks name their BatchNorm "batch_norm", before
    "conv2d_trans"). What one order makes is used; two orders that make different generators are refused.
    """
    part = _generator_part(state_dict)
    if not part:
        raise DcganError("the state dict is empty; expected a generator's weights")
    saved_order = _group_modules(part)
    natural_order = sorted(saved_order, key=lambda item: _natural_key(item[0]))
    if natural_order == saved_order:
        return _parse_modules(natural_order)
    parsed, errors = [], []
    for order in (natural_order, saved_order):
        try:
            parsed.append(_parse_modules(order))
        except DcganError as error:
            errors.append(error)
    if not parsed:
        raise errors[0]
    if len(parsed) == 2 and parsed[0].signature() != parsed[1].signature():
        # Both orders make a generator, and not the same one: which is right is not in the file.
        raise DcganError(
            "the layer order cannot be read from the key names: in the order of their numbers the layers are "
            f"{parsed[0].describe_order()}, in the order they were saved {parsed[1].describe_order()}. Save the "
            "generator as one nn.Sequential (or with numbered names) and import that file"
        )
    return parsed[0]


def _natural_key(path: str) -> list[Any]:
    # "main.10" after "main.9"; re.split alternates text and digits, so items always compare.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def _generator_part(state_dict: Tensors) -> Tensors:
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


def _group_modules(state_dict: Tensors) -> list[tuple[str, Tensors]]:
    """[(module path, {param name: tensor})] in the order the keys were saved."""
    modules: dict[str, Tensors] = {}
    for key, tensor in state_dict.items():
        path, _, name = key.rpartition(".")
        if name not in PARAM_NAMES:
            raise DcganError(
                f"unexpected tensor {key!r}: only Linear, ConvTranspose2d and BatchNorm weights can be imported "
                "(spectral or weight norm, embeddings and other layers are not supported)"
            )
        modules.setdefault(path, {})[name] = tensor
    return list(modules.items())


def _parse_modules(modules: list[tuple[str, Tensors]]) -> ForeignGenerator:
    for path, params in modules:
        _check_supported(path, params)
    denses = [(path, params) for path, params in modules if _is_dense(params)]
    convs = [_conv_layer(path, params) for path, params in modules if _is_conv(params)]
    if len(denses) > 1:
        names = ", ".join(f"{path} {tuple(params['weight'].shape)}" for path, params in denses[:4])
        raise DcganError(
            f"found {len(denses)} dense or embedding layers ({names}{' ...' if len(denses) > 4 else ''}): only "
            "one dense layer, taking z, before ConvTranspose2d layers can be imported. Fully connected (MLP) "
            f"generators are not DCGANs, and {CONDITIONAL_REFUSAL}"
        )
    if not convs:
        raise DcganError("found no ConvTranspose2d weights (4-D tensors); is this a generator's state dict?")
    _check_chain(convs)  # before pairing BatchNorms, so that a discriminator is reported as one
    dense = _dense_layer(*denses[0], convs[0]) if denses else None
    if denses:  # z goes in there, whatever its name sorts as ("linear" after "deconv1")
        modules = [denses[0]] + [module for module in modules if module[0] != denses[0][0]]
    generator = ForeignGenerator(dense)
    remaining = iter(convs)
    for path, params in modules:
        if _is_conv(params):
            generator.convs.append(next(remaining))
        elif "running_mean" in params:
            _attach_batchnorm(generator, path, params)
    return generator


def _is_conv(params: Tensors) -> bool:
    return "weight" in params and params["weight"].ndim == 4


def _is_dense(params: Tensors) -> bool:
    return "running_mean" not in params and "weight" in params and params["weight"].ndim == 2


def _check_supported(path: str, params: Tensors) -> None:
    name = path or "(root)"
    shapes = {key: tuple(tensor.shape) for key, tensor in params.items()}
    if _is_dense(params) and CONDITIONAL_NAME.search(path):
        raise DcganError(f"found {name} {shapes}, a label embedding: {CONDITIONAL_REFUSAL}")
    if "running_mean" in params or _is_conv(params) or _is_dense(params):
        return
    raise DcganError(
        f"found an unsupported layer {name} with tensors {shapes}; expected a Linear layer taking z, "
        "ConvTranspose2d weights (in, out, k, k) and BatchNorm layers with running statistics"
    )


def _as_float32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to(torch.float32)


def _weight_and_bias(path: str, params: Tensors, out_features: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    extra = sorted(set(params) - {"weight", "bias"})
    if extra:
        raise DcganError(f"layer {path} has unexpected tensors {extra} beside its weight and bias")
    bias = params.get("bias")
    if bias is not None and tuple(bias.shape) != (out_features,):
        shape = tuple(params["weight"].shape)
        raise DcganError(f"layer {path}: bias of shape {tuple(bias.shape)} does not fit weight {shape}")
    return _as_float32(params["weight"]), None if bias is None else _as_float32(bias)


def _conv_layer(path: str, params: Tensors) -> ForeignConv:
    weight = params["weight"]
    bias = params.get("bias")
    if bias is not None and weight.shape[0] != weight.shape[1] and tuple(bias.shape) == (weight.shape[0],):
        # Conv2d weights are (out, in, k, k), and their bias has `out` values
        raise DcganError(f"layer {path} {tuple(weight.shape)} with a bias of {bias.shape[0]} is a Conv2d, {CONV2D}")
    if weight.shape[2] != weight.shape[3]:
        kernel = tuple(weight.shape[2:])
        raise DcganError(f"layer {path} has a non-square kernel {kernel}; only square kernels are supported")
    return ForeignConv(path, *_weight_and_bias(path, params, weight.shape[1]))


def _dense_layer(path: str, params: Tensors, first_conv: ForeignConv) -> ForeignDense:
    features, channels = params["weight"].shape[0], first_conv.in_channels
    size = math.isqrt(features // channels) if features % channels == 0 else 0
    if size < 1 or channels * size * size != features:
        raise DcganError(
            f"the dense layer {path} makes {features} features but the first ConvTranspose2d ({first_conv.path}) "
            f"takes {channels} channels: {features} is not {channels} x k x k, so the reshape between them "
            f"is not to a square map. {CONDITIONAL_REFUSAL.capitalize()}, nor dense layers elsewhere"
        )
    return ForeignDense(path, *_weight_and_bias(path, params, features), channels=channels, size=size)


def _attach_batchnorm(generator: ForeignGenerator, path: str, params: Tensors) -> None:
    """A BatchNorm belongs to the layer before it in key order: the dense layer or a conv."""
    dense, convs = generator.dense, generator.convs
    features = params["running_mean"].shape[0] if params["running_mean"].ndim == 1 else -1
    if not convs and dense is not None and dense.batchnorm is None:
        kinds = {dense.channels * dense.size**2: "1d", dense.channels: "2d"}  # "2d" wins when k = 1: the same
        if features not in kinds:
            raise DcganError(
                f"BatchNorm {path} has {features} features; after the dense layer {dense.path} it would have "
                f"{dense.channels * dense.size**2} (BatchNorm1d) or {dense.channels} (BatchNorm2d)"
            )
        dense.batchnorm, dense.batchnorm_kind = _batchnorm_tensors(params, features), kinds[features]
        dense.batchnorm_path = path
        return
    if not convs or convs[-1].batchnorm is not None:
        raise DcganError(
            f"BatchNorm {path} does not follow a ConvTranspose2d or the dense layer in key order; the layer "
            "order cannot be read from the key names"
        )
    conv = convs[-1]
    if "running_var" not in params or features != conv.out_channels:
        raise DcganError(f"BatchNorm {path} does not match the {conv.out_channels} channels of layer {conv.path}")
    conv.batchnorm, conv.batchnorm_path = _batchnorm_tensors(params, features), path


def _batchnorm_tensors(params: Tensors, features: int) -> Tensors:
    if "running_var" not in params or params["running_var"].shape != (features,):
        raise DcganError("a BatchNorm layer lacks running_var of the size of its running_mean")
    # affine=False BatchNorm is exactly weight 1, bias 0; very old files lack num_batches_tracked.
    return {
        "weight": _as_float32(params.get("weight", torch.ones(features))),
        "bias": _as_float32(params.get("bias", torch.zeros(features))),
        "running_mean": _as_float32(params["running_mean"]),
        "running_var": _as_float32(params["running_var"]),
        "num_batches_tracked": params.get("num_batches_tracked", torch.tensor(0)).to(torch.long),
    }


def _check_chain(convs: list[ForeignConv]) -> None:
    for previous, layer in zip(convs, convs[1:], strict=False):
        if previous.out_channels == layer.in_channels:
            continue
        # Conv2d weights are (out, in, k, k): a discriminator chains the other way round.
        if all(a.weight.shape[0] == b.weight.shape[1] for a, b in zip(convs, convs[1:], strict=False)):
            widths = [convs[0].weight.shape[1]] + [a.weight.shape[0] for a in convs]
            raise DcganError(
                f"these weights look like Conv2d layers (channels {' -> '.join(map(str, widths))}), {CONV2D}"
            )
        raise DcganError(
            f"layer {previous.path} makes {previous.out_channels} channels but the next one, {layer.path}, "
            f"takes {layer.in_channels}: these weights are not one ConvTranspose2d chain in key order"
        )
