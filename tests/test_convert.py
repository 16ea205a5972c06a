"""Importing other projects' generators: exact outputs after conversion, and safe refusal of bad files."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from dcgan.errors import DcganError
from dcgan.interop.convert import import_generator, infer_chain
from dcgan.interop.foreign_files import read_foreign_state_dict
from dcgan.interop.layer_spec import choose_geometry
from dcgan.store.checkpoints import load_generator


class ExamplesGenerator(nn.Module):
    """pytorch/examples dcgan/main.py (and the official tutorial) Generator, 64x64."""

    def __init__(self, nz: int = 100, ngf: int = 8, nc: int = 3, bias: bool = False):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=bias),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=bias),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=bias),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=bias),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=bias),
            nn.Tanh(),
        )

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.main(input)


def mnist_sequential(nz: int = 16, nc: int = 1) -> nn.Sequential:
    """A bare-Sequential MNIST generator: 1 -> 4 -> 7 -> 14 -> 28, LeakyReLU, no BN on layer 2."""
    return nn.Sequential(
        nn.ConvTranspose2d(nz, 32, 4, 1, 0, bias=False),
        nn.BatchNorm2d(32),
        nn.LeakyReLU(0.2, inplace=True),
        nn.ConvTranspose2d(32, 16, 3, 2, 1, bias=True),
        nn.LeakyReLU(0.2, inplace=True),
        nn.ConvTranspose2d(16, 8, 4, 2, 1, bias=False),
        nn.BatchNorm2d(8),
        nn.LeakyReLU(0.2, inplace=True),
        nn.ConvTranspose2d(8, nc, 4, 2, 1, bias=False),
        nn.Tanh(),
    )


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BN running stats, so eval-mode BN changes the output noticeably."""
    torch.manual_seed(seed)
    for layer in model.modules():
        if isinstance(layer, nn.BatchNorm2d):
            if layer.affine:
                layer.weight.data.normal_(1.0, 0.2)
                layer.bias.data.normal_(0.0, 0.2)
            layer.running_mean.normal_(0.0, 0.5)
            layer.running_var.uniform_(0.5, 2.0)
            layer.num_batches_tracked.fill_(123)
        elif isinstance(layer, nn.ConvTranspose2d) and layer.bias is not None:
            layer.bias.data.normal_(0.0, 0.1)
    return model.eval()


def assert_same_outputs(original: nn.Module, folder: Path, nz: int, size: int, nc: int) -> None:
    z = torch.randn(4, nz, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = original(z.view(4, nz, 1, 1))
        imported = load_generator(folder, device="cpu")(z)
    assert expected.shape == (4, nc, size, size)
    assert imported.shape == expected.shape
    # Same ops, same weights, same order: bit-for-bit equal, not merely close.
    assert torch.equal(imported, expected)


def layer_geometry(folder: Path) -> list[tuple[int, int, int]]:
    config = load_generator(folder, device="cpu").config
    return [(layer["stride"], layer["padding"], layer["output_padding"]) for layer in config.layers]


@pytest.mark.parametrize(("ngf", "nc"), [(8, 3), (16, 1)])
def test_pytorch_examples_generator_imports_exactly(tmp_path: Path, ngf: int, nc: int) -> None:
    original = randomise(ExamplesGenerator(nz=100, ngf=ngf, nc=nc))
    torch.save(original.state_dict(), tmp_path / "netG.pth")

    folder = import_generator(tmp_path / "netG.pth", tmp_path / "imported")

    assert folder == tmp_path / "imported"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors", "preview.png"]
    config = load_generator(folder, device="cpu").config
    assert (config.family, config.image_size, config.nz, config.nc, config.ngf) == ("chain", 64, 100, nc, ngf)
    assert layer_geometry(folder) == [(1, 0, 0)] + [(2, 1, 0)] * 4
    assert [layer["batchnorm"] for layer in config.layers] == [True] * 4 + [False]
    assert_same_outputs(original, folder, nz=100, size=64, nc=nc)


def test_bare_sequential_mnist_28_with_leakyrelu(tmp_path: Path) -> None:
    original = randomise(mnist_sequential())
    torch.save(original.state_dict(), tmp_path / "G.pt")

    folder = import_generator(tmp_path / "G.pt", tmp_path / "out", activation="leakyrelu")

    # The k=3, s=2, p=1 layer maps 4 -> 7, so the chain ends at 28, not 32.
    assert layer_geometry(folder) == [(1, 0, 0), (2, 1, 0), (2, 1, 0), (2, 1, 0)]
    config = load_generator(folder, device="cpu").config
    assert [layer["bias"] for layer in config.layers] == [False, True, False, False]
    assert [layer["batchnorm"] for layer in config.layers] == [True, False, True, False]
    assert_same_outputs(original, folder, nz=16, size=28, nc=1)


def test_dataparallel_prefix_and_conv_bias(tmp_path: Path) -> None:
    original = randomise(ExamplesGenerator(nz=100, ngf=8, nc=3, bias=True))
    state_dict = nn.DataParallel(original).state_dict()  # CPU: keeps the "module." prefix
    assert next(iter(state_dict)) == "module.main.0.weight"
    torch.save(state_dict, tmp_path / "dp.pth")

    folder = import_generator(tmp_path / "dp.pth", tmp_path / "out")

    assert all(layer["bias"] for layer in load_generator(folder, device="cpu").config.layers)
    assert_same_outputs(original, folder, nz=100, size=64, nc=3)


def test_old_non_zip_format_loads_with_weights_only(tmp_path: Path) -> None:
    original = randomise(ExamplesGenerator(nz=100, ngf=8, nc=3))
    path = tmp_path / "legacy.pth"
    torch.save(original.state_dict(), path, _use_new_zipfile_serialization=False)
    assert not path.read_bytes().startswith(b"PK")  # really the pre-1.6 format, not a zip

    folder = import_generator(path, tmp_path / "out")

    assert_same_outputs(original, folder, nz=100, size=64, nc=3)


def test_checkpoint_dict_gives_the_generator(tmp_path: Path) -> None:
    original = randomise(ExamplesGenerator(nz=100, ngf=8, nc=3))
    checkpoint = {
        "epoch": 3,
        "netG": original.state_dict(),
        "netD": nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.Conv2d(8, 1, 4, 1, 0)).state_dict(),
        "optimizerG": {"state": {}, "param_groups": [{"lr": 2e-4, "betas": (0.5, 0.999), "params": [0, 1]}]},
    }
    torch.save(checkpoint, tmp_path / "checkpoint.pth")

    folder = import_generator(tmp_path / "checkpoint.pth", tmp_path / "out")

    assert_same_outputs(original, folder, nz=100, size=64, nc=3)


def test_generator_and_discriminator_in_one_flat_dict(tmp_path: Path) -> None:
    # Lightning-style: one state dict, the two nets under "generator." and "discriminator.".
    original = randomise(ExamplesGenerator(nz=100, ngf=8, nc=3))
    discriminator = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.BatchNorm2d(8), nn.Conv2d(8, 1, 4, 1, 0))
    combined = {f"generator.{k}": v for k, v in original.state_dict().items()}
    combined |= {f"discriminator.{k}": v for k, v in discriminator.state_dict().items()}
    torch.save({"state_dict": combined, "epoch": 7}, tmp_path / "lightning.ckpt")

    folder = import_generator(tmp_path / "lightning.ckpt", tmp_path / "out")

    assert_same_outputs(original, folder, nz=100, size=64, nc=3)


def test_batchnorm_without_affine_or_counter(tmp_path: Path) -> None:
    # affine=False BN (no weight/bias) and pre-0.4.1 files (no num_batches_tracked) still import exactly.
    original = nn.Sequential(
        nn.ConvTranspose2d(10, 8, 7, 1, 0, bias=False),
        nn.BatchNorm2d(8, affine=False),
        nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 4, 2, 1),
        nn.ReLU(),
        nn.ConvTranspose2d(4, 3, 4, 2, 1),
        nn.Tanh(),
    )
    randomise(original)
    state_dict = {k: v for k, v in original.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state_dict, tmp_path / "g.pth")

    folder = import_generator(tmp_path / "g.pth", tmp_path / "out")

    assert_same_outputs(original, folder, nz=10, size=28, nc=3)


def test_ambiguous_checkpoint_lists_its_keys(tmp_path: Path) -> None:
    state_dict = ExamplesGenerator().state_dict()
    torch.save({"first": state_dict, "second": state_dict, "epoch": 1}, tmp_path / "two.pth")
    with pytest.raises(DcganError, match=r"\['epoch', 'first', 'second'\]"):
        read_foreign_state_dict(tmp_path / "two.pth")


def test_safetensors_source(tmp_path: Path) -> None:
    original = randomise(mnist_sequential(nc=3))
    # safetensors stores keys sorted as text ("10.weight" before "2.weight"); order comes from the integers.
    save_file({k: v.contiguous() for k, v in original.state_dict().items()}, str(tmp_path / "g.safetensors"))

    folder = import_generator(tmp_path / "g.safetensors", tmp_path / "out", activation="leakyrelu")

    assert_same_outputs(original, folder, nz=16, size=28, nc=3)


def test_image_size_forces_the_geometry(tmp_path: Path) -> None:
    state_dict = mnist_sequential().state_dict()
    config, _ = infer_chain(state_dict, activation="leakyrelu", image_size=32)
    # 4 -> 8 -> 16 -> 32: the k=3 layer now doubles, with output_padding.
    assert config.image_size == 32
    assert (config.layers[1]["stride"], config.layers[1]["padding"], config.layers[1]["output_padding"]) == (2, 1, 1)
    with pytest.raises(DcganError, match="no stride/padding choice makes 50x50"):
        infer_chain(state_dict, image_size=50)


def test_image_size_no_standard_layout_makes_lists_the_candidates() -> None:
    state_dict = mnist_sequential().state_dict()
    # No standard layout of kernels 4, 3, 4, 4 makes 30x30; several others do: none is guessed.
    with pytest.raises(DcganError, match="no standard DCGAN layout makes 30x30") as refusal:
        infer_chain(state_dict, activation="leakyrelu", image_size=30)
    assert "--layers k4s1p0,k3s2p1,k4s2p1,k4s2p0   -> 30x30" in str(refusal.value)
    config, _ = infer_chain(state_dict, layers="k4s1p0,k3s2p1,k4s2p1,k4s2p0", activation="leakyrelu")
    assert config.image_size == 30


def test_unknown_size_asks_for_image_size() -> None:
    state_dict = nn.Sequential(nn.ConvTranspose2d(8, 4, 5), nn.ConvTranspose2d(4, 3, 4)).state_dict()
    with pytest.raises(DcganError, match="--image-size"):
        infer_chain(state_dict)


@pytest.mark.parametrize(
    ("kernels", "size", "steps"),
    [
        ([4, 4, 4, 4, 4, 4], 128, [(1, 0, 0)] + [(2, 1, 0)] * 5),
        ([7, 4, 4], 28, [(1, 0, 0), (2, 1, 0), (2, 1, 0)]),
        # TensorFlow tutorial's convs: 7 -> 7 (same) -> 14 -> 28, k=5 with output_padding 1.
        ([7, 5, 5, 5], 28, [(1, 0, 0), (1, 2, 0), (2, 2, 1), (2, 2, 1)]),
        ([4, 5, 5, 5, 5], 64, [(1, 0, 0)] + [(2, 2, 1)] * 4),
    ],
)
def test_choose_geometry(kernels: list[int], size: int, steps: list[tuple[int, int, int]]) -> None:
    chosen, final_size = choose_geometry(kernels)
    assert final_size == size
    assert [(s.stride, s.padding, s.output_padding) for s in chosen] == steps


def test_discriminator_is_refused(tmp_path: Path) -> None:
    discriminator = nn.Sequential(
        nn.Conv2d(3, 8, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2),
        nn.Conv2d(8, 16, 4, 2, 1, bias=False),
        nn.BatchNorm2d(16),
        nn.LeakyReLU(0.2),
        nn.Conv2d(16, 1, 4, 1, 0, bias=False),
    )
    torch.save(discriminator.state_dict(), tmp_path / "netD.pth")
    with pytest.raises(DcganError, match="discriminator"):
        import_generator(tmp_path / "netD.pth", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_whole_pickled_module_is_refused(tmp_path: Path) -> None:
    torch.save(ExamplesGenerator(), tmp_path / "whole.pth")  # torch.save(model), not model.state_dict()
    with pytest.raises(DcganError, match=r"ExamplesGenerator.*torch.save\(model\).*state_dict\(\)"):
        import_generator(tmp_path / "whole.pth", tmp_path / "out")


@pytest.mark.parametrize(
    "content",
    [os.urandom(2048), b"this is a text file, not weights\n" * 10, b""],
    ids=["random-bytes", "text", "empty"],
)
def test_files_that_are_not_weights_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(DcganError, match="not a PyTorch weights file"):
        import_generator(path, tmp_path / "out")


class WritesMarker:
    """Unpickling this runs code that creates a file: what a malicious checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


@pytest.mark.parametrize("writer", ["pickle", "torch-zip", "torch-legacy"])
def test_malicious_pickle_does_not_run(tmp_path: Path, writer: str) -> None:
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.pth"
    if writer == "pickle":
        path.write_bytes(pickle.dumps({"main.0.weight": WritesMarker(marker)}, protocol=2))
    else:
        payload = {"boom": WritesMarker(marker), "main.0.weight": torch.zeros(1)}
        torch.save(payload, path, _use_new_zipfile_serialization=writer == "torch-zip")
    assert not marker.exists()  # writing the file did not trigger it

    with pytest.raises(DcganError, match=r"holds pickled Python objects \(exec\)"):
        import_generator(path, tmp_path / "out")
    assert not marker.exists()

    # The payload is live: an unsafe load would have run it.
    pickle.loads(pickle.dumps(WritesMarker(tmp_path / "proof.txt")))
    assert (tmp_path / "proof.txt").read_text() == "pwned"


def test_only_weights_only_loading_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.save(ExamplesGenerator().state_dict(), tmp_path / "g.pth")
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    read_foreign_state_dict(tmp_path / "g.pth")
    assert calls == [{"map_location": "cpu", "weights_only": True}]


def test_missing_file_and_non_empty_out_dir(tmp_path: Path) -> None:
    with pytest.raises(DcganError, match="no file"):
        import_generator(tmp_path / "nope.pth", tmp_path / "out")
    torch.save(ExamplesGenerator().state_dict(), tmp_path / "g.pth")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "discriminator.safetensors").write_bytes(b"old")
    with pytest.raises(DcganError, match="not an empty folder"):
        import_generator(tmp_path / "g.pth", tmp_path / "taken")
