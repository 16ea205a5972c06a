import pytest
import torch
from torch import nn

from dcgan.errors import DcganError
from dcgan.nets.config import ModelConfig
from dcgan.nets.models import Discriminator, Generator

FAMILY_SIZES = [("paper", 32), ("paper", 64), ("paper", 128), ("tutorial", 28)]


def tiny(family: str, size: int, nc: int = 3, **overrides) -> ModelConfig:
    return ModelConfig(family=family, image_size=size, nc=nc, nz=16, ngf=8, ndf=8, **overrides)


@pytest.mark.parametrize("family,size", FAMILY_SIZES)
@pytest.mark.parametrize("nc", [1, 3])
@pytest.mark.parametrize("upsample", ["transposed", "resize"])
def test_shapes_and_range(family, size, nc, upsample):
    config = tiny(family, size, nc, upsample=upsample)
    generator, discriminator = Generator(config).eval(), Discriminator(config).eval()
    images = generator(torch.randn(3, 16))
    assert images.shape == (3, nc, size, size)
    assert images.min() >= -1 and images.max() <= 1
    logits, features = discriminator(images, return_features=True)
    assert logits.shape == (3,)
    assert len(features) == len(discriminator.blocks) and all(f.dim() == 4 for f in features)
    assert torch.equal(discriminator(images), logits)


@pytest.mark.parametrize("family,size", FAMILY_SIZES)
def test_batchnorm_placement_follows_the_paper(family, size):
    generator, discriminator = Generator(tiny(family, size)), Discriminator(tiny(family, size))
    # G: BN after every hidden layer, never on the output block, which ends in tanh.
    assert not any(isinstance(m, nn.BatchNorm2d) for m in generator.blocks[-1])
    assert isinstance(generator.blocks[-1][-1], nn.Tanh)
    for block in list(generator.blocks)[:-1]:
        assert any(isinstance(m, nn.BatchNorm2d) for m in block)
        assert any(isinstance(m, nn.ReLU) for m in block)
    # D: no BN on the input block; BN on the others; LeakyReLU(0.2) everywhere.
    assert not any(isinstance(m, nn.BatchNorm2d) for m in discriminator.blocks[0])
    for block in list(discriminator.blocks)[1:]:
        assert any(isinstance(m, nn.BatchNorm2d) for m in block)
    leaky = [m for m in discriminator.modules() if isinstance(m, nn.LeakyReLU)]
    assert leaky and all(m.negative_slope == 0.2 for m in leaky)
    assert not any(isinstance(m, nn.Sigmoid) for m in discriminator.modules())


def test_batchnorm_can_be_switched_off():
    config = tiny("paper", 32, g_batchnorm=False, d_batchnorm=False)
    for net in (Generator(config), Discriminator(config)):
        assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def test_paper_init_statistics():
    torch.manual_seed(0)
    config = ModelConfig(family="paper", image_size=64, nc=3)  # full size: enough weights for tight stats
    for net in (Generator(config), Discriminator(config)):
        convs = [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        weights = torch.cat([w.flatten() for w in convs])
        assert abs(weights.mean().item()) < 1e-3
        assert abs(weights.std().item() - 0.02) < 1e-3
        scales = torch.cat([m.weight for m in net.modules() if isinstance(m, nn.BatchNorm2d)])
        assert abs(scales.mean().item() - 1) < 0.01 and abs(scales.std().item() - 0.02) < 0.01


def test_paper_widths_match_pytorch_examples():
    # pytorch/examples dcgan at 64x64x3, nz 100, ngf = ndf = 64: 3,576,704 G / 2,765,568 D weights.
    config = ModelConfig(family="paper", image_size=64, nc=3)
    g_params = sum(p.numel() for p in Generator(config).parameters())
    d_params = sum(p.numel() for p in Discriminator(config).parameters())
    assert g_params == 3_576_704 + 3  # our G's output conv keeps its bias (it has no BN after it)
    assert d_params == 2_765_568 + 64 + 1  # and so do D's input conv (no BN) and final conv


def test_tutorial_family_layout():
    config = ModelConfig(family="tutorial", image_size=28, nc=1, d_dropout=0.3)
    generator, discriminator = Generator(config), Discriminator(config)
    dense = generator.stem[0]
    assert isinstance(dense, nn.Linear) and dense.out_features == 7 * 7 * 256
    kernels = [m.kernel_size for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert kernels == [(5, 5)] * 3
    dropouts = [m for m in discriminator.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 2 and all(m.p == 0.3 for m in dropouts)


def test_resize_upsampling_has_no_transposed_convs_after_the_first():
    generator = Generator(tiny("paper", 64, upsample="resize"))
    transposed = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(transposed) == 1  # only the 1x1 -> 4x4 projection
    assert any(isinstance(m, nn.Upsample) for m in generator.modules())


@pytest.mark.parametrize(
    "overrides",
    [
        dict(family="paper", image_size=48),
        dict(family="tutorial", image_size=32),
        dict(family="gan"),
        dict(nc=2),
        dict(upsample="bilinear"),
        dict(noise="cauchy"),
        dict(d_dropout=1.5),
        dict(family="chain"),
    ],
)
def test_bad_configs_are_clear_errors(overrides):
    with pytest.raises(DcganError):
        ModelConfig(**overrides)
