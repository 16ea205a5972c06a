"""The pytorch/examples-style baseline in bench/: it trains, and our importer reads what it saves exactly."""

import sys
from pathlib import Path

import torch
from helpers import blob_images

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from plain_dcgan import PlainDiscriminator, PlainGenerator, train_plain  # noqa: E402

from dcgan.interop.convert import import_generator  # noqa: E402
from dcgan.store.checkpoints import load_generator  # noqa: E402


def test_baseline_trains_and_imports_as_our_model_with_identical_outputs(tmp_path):
    pixels = blob_images(64, size=28)
    netG, netD, _, log = train_plain(pixels, steps=3, image_size=32, nc=1, batch_size=16, workers=0, ngf=8, ndf=8)
    assert [line["step"] for line in log] == [3]
    assert netD(torch.zeros(2, 1, 32, 32)).shape == (2,)
    torch.save(netG.state_dict(), tmp_path / "netG.pth")
    ours = load_generator(import_generator(tmp_path / "netG.pth", tmp_path / "model"), device="cpu").eval()
    z = torch.randn(5, 100)
    with torch.no_grad():
        assert torch.equal(netG.eval()(z[:, :, None, None]), ours(z))


def test_baseline_layers_follow_the_image_size():
    for size in (32, 64):
        image = PlainGenerator(nz=4, ngf=4, nc=3, image_size=size)(torch.randn(2, 4, 1, 1))
        assert image.shape == (2, 3, size, size)
        assert PlainDiscriminator(ndf=4, nc=3, image_size=size)(image).shape == (2,)
