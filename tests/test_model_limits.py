"""dcgan/nets/limits.py: a ModelConfig is checked, from arithmetic alone, before anything is built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dcgan.errors import DcganError
from dcgan.nets import limits
from dcgan.nets.config import ModelConfig, RunConfig
from dcgan.nets.limits import discriminator_cost, generator_cost
from dcgan.nets.models import Discriminator, Generator
from dcgan.store.checkpoints import load_generator
from dcgan.store.model_files import GENERATOR_FILE, check_hub_file_sizes

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def layer(out_channels: int, kernel: int = 4, stride: int = 2, padding: int = 1, **extra) -> dict:
    return {"out_channels": out_channels, "kernel": kernel, "stride": stride, "padding": padding, **extra}


# z 1x1 -> 4 -> 7 -> 14 -> 28, as convert.py infers for an MNIST generator.
MNIST_CHAIN = [
    layer(32, stride=1, padding=0),
    layer(16, kernel=3, bias=True, batchnorm=False),
    layer(8, output_padding=0),
    layer(1),
]


def dense(channels: int, size: int, batchnorm: str = "none", bias: bool = True, activation: str = "relu") -> dict:
    return {"out_channels": channels, "size": size, "bias": bias, "batchnorm": batchnorm, "activation": activation}


def chain(layers: list[dict], image_size: int = 28, **overrides) -> ModelConfig:
    return ModelConfig(
        **({"family": "chain", "image_size": image_size, "nc": 1, "nz": 16, "layers": layers} | overrides)
    )


def state_bytes(module: torch.nn.Module) -> int:
    return sum(tensor.numel() * tensor.element_size() for tensor in module.state_dict().values())


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(image_size=32, nc=1, nz=8, ngf=4, ndf=4),
        ModelConfig(image_size=64, nc=3, nz=8, ngf=4, ndf=6, upsample="resize"),
        ModelConfig(image_size=128, nc=3, nz=8, ngf=2, ndf=2, g_batchnorm=False, d_batchnorm=False),
        ModelConfig(family="tutorial", image_size=28, nc=1, nz=8, ngf=4, ndf=4, d_dropout=0.3),
        ModelConfig(family="tutorial", image_size=28, nc=3, nz=8, ngf=4, ndf=4, upsample="resize", g_batchnorm=False),
        chain(MNIST_CHAIN),
        chain([layer(8, kernel=5, stride=1, padding=0), layer(3, kernel=5, padding=2, output_padding=1)], 10, nc=3),
        chain(
            [layer(8, kernel=5, padding=2, output_padding=1), layer(1, kernel=5, padding=2, output_padding=1)],
            dense=dense(16, 7, batchnorm="1d"),
        ),
        chain([layer(8, bias=False, batchnorm=True), layer(3, bias=True)], 16, nc=3, dense=dense(32, 4, "2d", False)),
    ],
    ids=[
        "paper32",
        "paper64-resize",
        "paper128-nobn",
        "tutorial",
        "tutorial-resize",
        "chain28",
        "chain10",
        "dense-bn1d",
        "dense-bn2d",
    ],
)
def test_the_arithmetic_counts_what_the_models_build(config: ModelConfig) -> None:
    generator, discriminator = Generator(config), Discriminator(config)
    for cost, module in ((generator_cost(config), generator), (discriminator_cost(config), discriminator)):
        assert cost.parameters == sum(p.numel() for p in module.parameters())
        assert cost.state_bytes == state_bytes(module)
    z = torch.zeros(1, config.nz)
    with torch.inference_mode():
        image = generator.eval()(z)
    assert image.shape == (1, config.nc, config.image_size, config.image_size)
    assert generator_cost(config).largest_activation >= image.numel()
    # Each block's output, as the workload budget counts it (GANSpace keeps block 0's for 2,000 samples).
    with torch.inference_mode():
        h, block_sizes = generator.stem(z), []
        for block in generator.blocks:
            h = block(h)
            block_sizes.append(h.numel())
    assert generator_cost(config).block_outputs == block_sizes


def test_the_papers_largest_family_passes_and_is_costed() -> None:
    for upsample in ("transposed", "resize"):
        config = ModelConfig(image_size=128, nc=3, ngf=128, ndf=128, upsample=upsample)  # validated, nothing built
        g, d = generator_cost(config), discriminator_cost(config)
        assert g.parameters < limits.MAX_PARAMETERS and d.parameters < limits.MAX_PARAMETERS
        assert g.forward_flops < limits.MAX_FORWARD_FLOPS and d.forward_flops < limits.MAX_FORWARD_FLOPS
    config = ModelConfig(image_size=128, nc=3, ngf=128, ndf=128)
    # ConvTranspose2d(100, 2048, 4) then four 4x4 stride-2 stages halving the width, then to RGB.
    assert generator_cost(config).parameters == 47_855_363
    assert 4.3e9 < generator_cost(config).forward_flops < 4.4e9  # 2 x 2.18 G multiply-adds


def shipped_generators() -> list[Path]:
    # Not the judge classifier: its config.json has no "model" section.
    folders = sorted(p for p in CHECKPOINTS.iterdir() if (p / GENERATOR_FILE).is_file())
    return [p for p in folders if "model" in json.loads((p / "config.json").read_text())]


@pytest.mark.parametrize("folder", shipped_generators(), ids=lambda p: p.name)
def test_shipped_models_fit_their_limits(folder: Path) -> None:
    config = RunConfig.load(folder / "config.json").model
    cost = generator_cost(config)
    assert (folder / GENERATOR_FILE).stat().st_size <= limits.weights_file_limit(cost)
    load_generator(folder, device="cpu")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(ngf=5000), "ngf is 5000; it must be between 1 and 1024"),
        (dict(ndf=2000), "ndf is 2000; it must be between 1 and 1024"),
        (dict(nz=0), "nz is 0; it must be between 1"),
        (dict(nz=100_000), "nz is 100000; it must be between 1 and 1024"),
        (dict(ngf="64"), "ngf must be an integer, got '64'"),
        (dict(image_size=64.0), "image_size must be an integer"),
        (dict(nz=True), "nz must be an integer"),
        # The widths are each allowed, the network is not: ~185M parameters in G.
        (dict(image_size=128, ngf=256), r"generator would have 184\.8 million parameters; the limit is 64 million"),
        (dict(image_size=128, ndf=256), "discriminator would have .* million parameters; the limit is 64 million"),
    ],
)
def test_bounds_and_costs_are_refused_with_the_limit(overrides: dict, message: str) -> None:
    with pytest.raises(DcganError, match=message):
        ModelConfig(**({"image_size": 64, "nc": 3} | overrides))


@pytest.mark.parametrize(
    ("layers", "image_size", "message"),
    [
        # The 534-byte model of issue 12: passed validation, its first forward ran for minutes.
        ([layer(32, stride=1, padding=0), layer(1, stride=1000)], 28, "stride is 1000; it must be between 1 and 4"),
        ([layer(8, stride=1, padding=0)] * 13, 28, "1 to 12 layers, this config has 13"),
        ([], 28, "needs its 'layers' list"),
        ([layer(32, stride=1, padding=0), layer(1, kernel=0)], 28, "kernel is 0; it must be between 1 and 16"),
        ([layer(32, stride=1, padding=0), layer(1, padding=4)], 28, "padding is 4; it must be between 0 and 3"),
        ([layer(32, stride=1, padding=0), layer(1, output_padding=2)], 28, "output_padding is 2; it must be between 0"),
        ([layer(32, stride=1, padding=0), layer(9000)], 28, "out_channels is 9000"),
        ([layer(32, stride=1, padding=0), layer(1, dilation=2)], 28, r"unknown keys \['dilation'\]"),
        ([layer(32, stride=1, padding=0), layer(1, bias="yes")], 28, "bias must be true or false"),
        ([layer(32, stride=1, padding=0), {"kernel": 4}], 28, r"missing keys \['out_channels', 'padding', 'stride'\]"),
        # 4 -> 8 images, but the config says 28: a lie about the size is refused, not trusted.
        ([layer(32, stride=1, padding=0), layer(1)], 28, "the chain's layers make 8x8 images but image_size is 28"),
        ([layer(32, stride=1, padding=0), layer(3)], 8, "makes 3 channels but nc is 1"),
        # Every hidden size is bounded, not just the last one (a big map cropped back down).
        (
            [layer(8, 16, 1, 0)] + [layer(8, 4, 4, 0)] * 3 + [layer(1, 16, 1, 15)],
            8,
            "chain layer 3 makes 1024x1024 maps",
        ),
        (MNIST_CHAIN, 300, "image_size is 300; it must be between 8 and 256"),
    ],
)
def test_bad_chains_are_refused(layers: list[dict], image_size: int, message: str) -> None:
    with pytest.raises(DcganError, match=message):
        chain(layers, image_size)


def test_a_wide_chain_is_refused_by_its_activation_or_flops() -> None:
    # 4096 channels at 64x64 is 16.8M values per image: each width is allowed, the tensor is not.
    wide = [layer(64, 4, 1, 0), layer(64), layer(64), layer(64), layer(4096), layer(1, 3, 1, 1)]
    with pytest.raises(DcganError, match="16.8 million-value tensor per image; the limit is 8 million"):
        chain(wide, 64)
    # 1024 -> 1024 channels at 64x64 with 9x9 kernels: few parameters, ~100 GFLOP per image.
    slow = [layer(64, 4, 1, 0), layer(64), layer(64), layer(512), layer(512, 9, 1, 4), layer(1, 3, 1, 1)]
    with pytest.raises(DcganError, match=r"GFLOP per image; the limit is 24 GFLOP"):
        chain(slow, 32)


@pytest.mark.parametrize(
    ("dense_layer", "message"),
    [
        (dense(8, 300), "dense layer size is 300; it must be between 1 and 256"),
        (dense(8, 4, batchnorm="3d"), r"dense layer batchnorm must be one of \('none', '1d', '2d'\)"),
        (dense(8, 4, activation="gelu"), "dense layer activation must be one of"),
        ({"out_channels": 8, "size": 4}, r"missing keys \['activation', 'batchnorm', 'bias'\]"),
        # 4 -> 8 -> 16 after a 4x4 dense map, but the config says 28.
        (dense(8, 4), "the chain's layers make 16x16 images but image_size is 28"),
    ],
)
def test_bad_dense_layers_are_refused_before_building(dense_layer: dict, message: str) -> None:
    with pytest.raises(DcganError, match=message):
        chain([layer(8), layer(1)], 28, dense=dense_layer)


def test_a_huge_dense_layer_is_refused_from_the_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_building(*args, **kwargs):
        raise AssertionError("a Linear layer was built")

    monkeypatch.setattr(torch.nn.Linear, "__init__", no_building)
    # Linear(1024 -> 4096 * 7 * 7): 206 million parameters (822 MB), refused before anything is allocated.
    with pytest.raises(DcganError, match="would have 206.5 million parameters; the limit is 64 million"):
        chain([layer(8, kernel=5, padding=2, output_padding=1), layer(1)], 28, nz=1024, dense=dense(4096, 7))


def test_a_dense_layer_belongs_to_chains_only() -> None:
    with pytest.raises(DcganError, match="only family 'chain'"):
        ModelConfig(image_size=32, nc=1, nz=8, ngf=4, ndf=4, dense=dense(8, 4))


def test_a_model_folder_whose_config_says_ngf_5000_is_refused_before_building(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    values = RunConfig(ModelConfig(image_size=32, nc=1, nz=8, ngf=4, ndf=4)).to_dict()
    values["model"]["ngf"] = 5000
    (folder / "config.json").write_text(json.dumps(values))
    (folder / GENERATOR_FILE).write_bytes(b"not read")
    with pytest.raises(DcganError, match="ngf is 5000; it must be between 1 and 1024"):
        load_generator(folder, device="cpu")


def test_a_weights_file_larger_than_its_config_is_refused_unread(tmp_path: Path) -> None:
    from dcgan.store.checkpoints import save_model_folder

    config = ModelConfig(image_size=32, nc=1, nz=8, ngf=4, ndf=4)
    folder = save_model_folder(tmp_path / "model", Generator(config), RunConfig(config))
    load_generator(folder, device="cpu")
    with open(folder / GENERATOR_FILE, "r+b") as handle:
        handle.truncate(64 * 2**20)  # sparse: 64 MB for a model of 5K parameters
    with pytest.raises(DcganError, match=r"is 64\.0 MB, but the paper model .* \(4,729 parameters\) fits in 1\.0 MB"):
        load_generator(folder, device="cpu")


def test_hub_file_sizes_are_checked_before_download() -> None:
    fine = [("config.json", 700), ("model.safetensors", 14_000_000), ("README.md", 3000), ("grid.png", 500_000)]
    check_hub_file_sizes("teacher/fashion-dcgan", fine + [("big-dataset.bin", 10**11)])  # never downloaded
    huge = 2 * limits.MAX_WEIGHTS_FILE_BYTES
    with pytest.raises(DcganError, match=r"model\.safetensors is .* MB; the limit for it is .* MB"):
        check_hub_file_sizes("someone/bomb", fine[:1] + [("model.safetensors", huge)])
    with pytest.raises(DcganError, match=r"config\.json is 5\.0 MB; the limit for it is 1\.0 MB"):
        check_hub_file_sizes("someone/bomb", [("config.json", 5 * 2**20)])
    many_pngs = [(f"samples/{index}.png", limits.MAX_EXTRA_FILE_BYTES) for index in range(100)]
    with pytest.raises(DcganError, match="its model files are .* MB; the limit is"):
        check_hub_file_sizes("someone/bomb", fine + many_pngs)
    with pytest.raises(DcganError, match="the size of model.safetensors is unknown"):
        check_hub_file_sizes("someone/odd", [("model.safetensors", None)])
