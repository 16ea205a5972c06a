"""Generator and Discriminator: the paper's all-conv family, the TF tutorial's 28x28 family,
and a plain ConvTranspose2d chain for generators imported from other projects.

Both nets are `stem` + `blocks` (+ `head` in D) so that forward hooks (dcgan/explore/features.py)
can name every layer. z has shape (N, nz); G reshapes it itself. Images are NCHW in [-1, 1].
`Generator.from_pretrained` / `save_pretrained` read and write model folders, which is dcgan/store/'s job:
they are defined in dcgan/store/pretrained.py and attached to the class when `dcgan` is imported.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from dcgan.nets.config import ModelConfig, TrainConfig


def _activation_g(config: ModelConfig) -> nn.Module:
    return nn.ReLU(inplace=True) if config.activation == "relu" else nn.LeakyReLU(config.leaky_slope, inplace=True)


def _up_block(
    config: ModelConfig, in_ch: int, out_ch: int, last: bool, kernel: int = 4, resize_kernel: int = 3
) -> nn.Sequential:
    """x2 upsampling: ConvTranspose2d(4, 2, 1) (paper), or nearest x2 then a 3x3 conv."""
    use_bn = config.g_batchnorm and not last  # paper: no BN on G's output layer
    if config.upsample == "transposed":
        padding = (kernel - 2 + 1) // 2  # 4 -> 1, 5 -> 2 (with output_padding 1)
        output_padding = kernel % 2
        conv = nn.ConvTranspose2d(in_ch, out_ch, kernel, 2, padding, output_padding, bias=not use_bn)
        layers: list[nn.Module] = [conv]
    else:
        pad = resize_kernel // 2
        layers = [
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(in_ch, out_ch, resize_kernel, 1, pad, bias=not use_bn),
        ]
    if use_bn:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(nn.Tanh() if last else _activation_g(config))
    return nn.Sequential(*layers)


def _dense_stem(config: ModelConfig) -> nn.Sequential:
    """z -> Linear(nz, C*k*k) [-> BatchNorm1d] -> (C, k, k) [-> BatchNorm2d] [-> activation]; named parts,
    so that the state dict says what each tensor is (stem.linear.weight, stem.bn1d.running_mean)."""
    dense = config.dense
    channels, size = dense["out_channels"], dense["size"]
    parts: dict[str, nn.Module] = {
        "flatten": nn.Flatten(),
        "linear": nn.Linear(config.nz, channels * size * size, bias=dense["bias"]),
    }
    if dense["batchnorm"] == "1d":
        parts["bn1d"] = nn.BatchNorm1d(channels * size * size)
    parts["unflatten"] = nn.Unflatten(1, (channels, size, size))
    if dense["batchnorm"] == "2d":
        parts["bn2d"] = nn.BatchNorm2d(channels)
    if dense["activation"] != "none":
        parts["activation"] = nn.ReLU() if dense["activation"] == "relu" else nn.LeakyReLU(config.leaky_slope)
    return nn.Sequential(OrderedDict(parts))


class Generator(nn.Module):
    """z (N, nz) -> image (N, nc, S, S) in [-1, 1]."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        builders = {"paper": self._build_paper, "tutorial": self._build_tutorial, "chain": self._build_chain}
        self.stem, blocks = builders[config.family](config)
        self.blocks = nn.ModuleList(blocks)
        init_weights(self)
        # What from_pretrained found beside the weights, so that save_pretrained writes it again.
        self.train_config: TrainConfig | None = None
        self.card: str | None = None

    @staticmethod
    def _build_paper(config: ModelConfig) -> tuple[nn.Module, list[nn.Module]]:
        # z (N, nz, 1, 1) -> 4x4 with ngf * 2^(n-1) channels, then n x2 stages down to ngf, then nc.
        n = config.n_upsamplings
        widths = [config.ngf * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 64px: 8,4,2,1 x ngf
        use_bn = config.g_batchnorm
        first = [nn.ConvTranspose2d(config.nz, widths[0], 4, 1, 0, bias=not use_bn)]
        if use_bn:
            first.append(nn.BatchNorm2d(widths[0]))
        first.append(_activation_g(config))
        blocks: list[nn.Module] = [nn.Sequential(*first)]
        for i in range(n - 1):
            blocks.append(_up_block(config, widths[i], widths[i + 1], last=False))
        blocks.append(_up_block(config, widths[-1], config.nc, last=True))
        return nn.Unflatten(1, (config.nz, 1, 1)), blocks

    @staticmethod
    def _build_tutorial(config: ModelConfig) -> tuple[nn.Module, list[nn.Module]]:
        # TensorFlow DCGAN tutorial: Dense(7*7*256) -> 5x5 transposed convs 7 -> 7 -> 14 -> 28.
        wide, mid, narrow = config.ngf * 4, config.ngf * 2, config.ngf
        use_bn = config.g_batchnorm
        stem_layers: list[nn.Module] = [nn.Linear(config.nz, wide * 7 * 7, bias=not use_bn)]
        if use_bn:
            stem_layers.append(nn.BatchNorm1d(wide * 7 * 7))
        stem_layers += [_activation_g(config), nn.Unflatten(1, (wide, 7, 7))]
        same = [nn.ConvTranspose2d(wide, mid, 5, 1, 2, bias=not use_bn)]
        if use_bn:
            same.append(nn.BatchNorm2d(mid))
        same.append(_activation_g(config))
        blocks = [
            nn.Sequential(*same),
            _up_block(config, mid, narrow, last=False, kernel=5, resize_kernel=5),
            _up_block(config, narrow, config.nc, last=True, kernel=5, resize_kernel=5),
        ]
        return nn.Sequential(*stem_layers), blocks

    @staticmethod
    def _build_chain(config: ModelConfig) -> tuple[nn.Module, list[nn.Module]]:
        # Imported: [dense stem], then ConvTranspose2d (+ BatchNorm2d) + activation per layer, tanh at the end.
        # Flatten first: the stem takes z as (N, nz) or, as other projects feed it, (N, nz, 1, 1).
        if config.dense is not None:
            stem, in_ch = _dense_stem(config), config.dense["out_channels"]
        else:
            stem, in_ch = nn.Sequential(nn.Flatten(), nn.Unflatten(1, (config.nz, 1, 1))), config.nz
        blocks: list[nn.Module] = []
        for index, layer in enumerate(config.layers or []):
            last = index == len(config.layers) - 1
            conv = nn.ConvTranspose2d(
                in_ch,
                layer["out_channels"],
                layer["kernel"],
                layer["stride"],
                layer["padding"],
                layer.get("output_padding", 0),
                bias=layer.get("bias", False),
            )
            parts: list[nn.Module] = [conv]
            if layer.get("batchnorm", not last):
                parts.append(nn.BatchNorm2d(layer["out_channels"]))
            parts.append(nn.Tanh() if last else _activation_g(config))
            blocks.append(nn.Sequential(*parts))
            in_ch = layer["out_channels"]
        return stem, blocks

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.stem(z)
        for block in self.blocks:
            h = block(h)
        return h


class Discriminator(nn.Module):
    """image (N, nc, S, S) -> logits (N,). Use BCE-with-logits; no sigmoid inside."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        if config.family == "tutorial":
            blocks, self.head = self._build_tutorial(config)
        else:
            blocks, self.head = self._build_paper(config)
        self.blocks = nn.ModuleList(blocks)
        init_weights(self)

    @staticmethod
    def _down_block(config: ModelConfig, in_ch: int, out_ch: int, first: bool, kernel: int = 4) -> nn.Sequential:
        use_bn = config.d_batchnorm and not first  # paper: no BN on D's input layer
        padding = (kernel - 1) // 2
        layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, 2, padding, bias=not use_bn)]
        if use_bn:
            layers.append(nn.BatchNorm2d(out_ch))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        if config.d_dropout > 0:
            layers.append(nn.Dropout(config.d_dropout))
        return nn.Sequential(*layers)

    @classmethod
    def _build_paper(cls, config: ModelConfig) -> tuple[list[nn.Module], nn.Module]:
        # Mirror of G: S -> S/2 -> ... -> 4x4, widths ndf, 2ndf, ...; then a 4x4 conv to one logit.
        # Imported ("chain") generators get a paper D of the same image size for the app's D panel.
        n = max(1, (config.image_size // 4).bit_length() - 1)
        widths = [config.ndf * 2**i for i in range(n)]
        blocks = [cls._down_block(config, config.nc, widths[0], first=True)]
        for i in range(n - 1):
            blocks.append(cls._down_block(config, widths[i], widths[i + 1], first=False))
        final_size = config.image_size // 2**n
        head = nn.Sequential(nn.Conv2d(widths[-1], 1, final_size, 1, 0), nn.Flatten(0))
        return blocks, head

    @classmethod
    def _build_tutorial(cls, config: ModelConfig) -> tuple[list[nn.Module], nn.Module]:
        # TF tutorial: 5x5 stride-2 convs 28 -> 14 -> 7, LeakyReLU, dropout; dense to one logit.
        # The tutorial has no BN in D; d_batchnorm adds it to the second conv only (never the input).
        blocks = [
            cls._down_block(config, config.nc, config.ndf, first=True, kernel=5),
            cls._down_block(config, config.ndf, config.ndf * 2, first=False, kernel=5),
        ]
        head = nn.Sequential(nn.Flatten(), nn.Linear(config.ndf * 2 * 7 * 7, 1), nn.Flatten(0))
        return blocks, head

    def forward(
        self, x: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits (N,); with return_features, also each block's output (N, C_i, H_i, W_i)."""
        features = []
        h = x
        for block in self.blocks:
            h = block(h)
            features.append(h)
        logits = self.head(h)
        return (logits, features) if return_features else logits


def init_weights(module: nn.Module) -> None:
    """The paper's init: conv/linear weights N(0, 0.02), BN scales N(1, 0.02), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
