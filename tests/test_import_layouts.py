"""Issue 17: generators as the courses build them, imported exactly, or refused with what to pass.

Each original is a real nn.Module written from its course's layer list; its state dict is saved,
imported, and the imported generator's output compared with the original's (eval mode, same z).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from dcgan.errors import DcganError
from dcgan.interop.convert import ImportOptions, import_generator, import_model
from dcgan.nets.models import Generator


def deconv(c_in: int, c_out: int, kernel: int, stride: int = 2, padding: int = 1, batch_norm: bool = True):
    """Udacity's helper: a ConvTranspose2d, with a BatchNorm2d, in a Sequential."""
    layers: list[nn.Module] = [nn.ConvTranspose2d(c_in, c_out, kernel, stride, padding, bias=False)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*layers)


class UdacityGenerator(nn.Module):
    """Udacity's face generation project: fc 100 -> 2048, view 128x4x4, three k4 s2 p1 ConvT, tanh; 32x32 RGB."""

    def __init__(self, z_size: int = 100, conv_dim: int = 32):
        super().__init__()
        self.conv_dim = conv_dim
        self.fc = nn.Linear(z_size, conv_dim * 4 * 4 * 4)
        self.t_conv1 = deconv(conv_dim * 4, conv_dim * 2, 4)
        self.t_conv2 = deconv(conv_dim * 2, conv_dim, 4)
        self.t_conv3 = deconv(conv_dim, 3, 4, batch_norm=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x).view(-1, self.conv_dim * 4, 4, 4)  # no activation after the dense layer
        x = F.relu(self.t_conv1(x))
        x = F.relu(self.t_conv2(x))
        return torch.tanh(self.t_conv3(x))


class FashionGenerator(nn.Module):
    """Fashion-MNIST (Keras layout ported): Linear + ReLU -> 128x7x7 -> ConvT k5 s2 p2 op1 with biases -> 28x28."""

    def __init__(self, nz: int = 64, batchnorm: str = "none"):
        super().__init__()
        dense: list[nn.Module] = [nn.Linear(nz, 128 * 7 * 7)]
        if batchnorm == "1d":
            dense.append(nn.BatchNorm1d(128 * 7 * 7))
        self.fc = nn.Sequential(*dense, nn.ReLU())
        self.bn2d = nn.BatchNorm2d(128) if batchnorm == "2d" else None
        self.net = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 5, 2, 2, output_padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 5, 2, 2, output_padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.bn2d is None:
            return self.net(self.fc(z).view(-1, 128, 7, 7))
        # BatchNorm2d after the reshape, then the activation
        return self.net(F.relu(self.bn2d(self.fc[0](z).view(-1, 128, 7, 7))))


class TutorialGenerator(nn.Module):
    """The TensorFlow DCGAN tutorial ported: Dense(7*7*256, no bias) + BN + LeakyReLU, ConvT k5 s1 p2,
    then k5 s2 p2 op1 twice, no biases; 28x28. Keras' LeakyReLU() has slope 0.3."""

    def __init__(self, nz: int = 100, width: int = 16, slope: float = 0.2):
        super().__init__()
        self.width, self.slope = width, slope
        self.dense = nn.Sequential(nn.Linear(nz, width * 4 * 49, bias=False), nn.BatchNorm1d(width * 4 * 49))
        self.convs = nn.Sequential(
            nn.ConvTranspose2d(width * 4, width * 2, 5, 1, 2, bias=False),
            nn.BatchNorm2d(width * 2),
            nn.LeakyReLU(slope),
            nn.ConvTranspose2d(width * 2, width, 5, 2, 2, output_padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.LeakyReLU(slope),
            nn.ConvTranspose2d(width, 1, 5, 2, 2, output_padding=1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.convs(F.leaky_relu(self.dense(z), self.slope).view(-1, self.width * 4, 7, 7))


class CourseraGenerator(nn.Module):
    """Coursera's GAN specialization DCGAN: a Sequential of Sequential blocks (gen.0.0.weight), conv biases,
    kernels 3, 4, 3, 4 with strides 2, 1, 2, 2 and padding 0: 1 -> 3 -> 6 -> 13 -> 28."""

    def __init__(self, z_dim: int = 10, im_chan: int = 1, hidden_dim: int = 8):
        super().__init__()
        self.z_dim = z_dim
        self.gen = nn.Sequential(
            self.block(z_dim, hidden_dim * 4),
            self.block(hidden_dim * 4, hidden_dim * 2, kernel_size=4, stride=1),
            self.block(hidden_dim * 2, hidden_dim),
            self.block(hidden_dim, im_chan, kernel_size=4, final_layer=True),
        )

    @staticmethod
    def block(c_in: int, c_out: int, kernel_size: int = 3, stride: int = 2, final_layer: bool = False):
        if final_layer:
            return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, kernel_size, stride), nn.Tanh())
        return nn.Sequential(
            nn.ConvTranspose2d(c_in, c_out, kernel_size, stride), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
        )

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.gen(noise.view(len(noise), self.z_dim, 1, 1))


COURSERA_LAYERS = "k3s2p0,k4s1p0,k3s2p0,k4s2p0"


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights, biases and BatchNorm statistics: eval-mode BN and biases change the output."""
    torch.manual_seed(seed)
    for layer in model.modules():
        if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            layer.weight.data.normal_(1.0, 0.2)
            layer.bias.data.normal_(0.0, 0.2)
            layer.running_mean.normal_(0.0, 0.5)
            layer.running_var.uniform_(0.5, 2.0)
        elif isinstance(layer, (nn.Linear, nn.ConvTranspose2d)):
            layer.weight.data.normal_(0.0, 0.1)
            if layer.bias is not None:
                layer.bias.data.normal_(0.0, 0.1)
    return model.eval()


def saved(model: nn.Module, path: Path, legacy: bool = False, drop_counters: bool = False) -> Path:
    state_dict = model.state_dict()
    if drop_counters:  # files from before PyTorch 0.4.1 have no num_batches_tracked
        state_dict = {key: value for key, value in state_dict.items() if not key.endswith("num_batches_tracked")}
    torch.save(state_dict, path, _use_new_zipfile_serialization=not legacy)
    return path


def assert_exact(original: nn.Module, folder: Path, nz: int, shape: tuple[int, int, int]) -> Generator:
    """The imported generator's output is the original's, for z as (N, nz) and as (N, nz, 1, 1)."""
    z = torch.randn(5, nz, generator=torch.Generator().manual_seed(7))
    imported = Generator.from_pretrained(folder, device="cpu")
    with torch.inference_mode():
        expected = original(z)
        assert expected.shape == (5, *shape)
        torch.testing.assert_close(imported(z), expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(imported(z.view(5, nz, 1, 1)), expected, rtol=0, atol=1e-6)
    return imported


def test_udacity_face_generator(tmp_path: Path) -> None:
    original = randomise(UdacityGenerator())
    source = saved(original, tmp_path / "generator.pt")

    report = import_model(source, tmp_path / "faces", ImportOptions(dense_activation="none", noise="uniform"))

    imported = assert_exact(original, report.folder, nz=100, shape=(3, 32, 32))
    assert report.spec == "k4s2p1,k4s2p1,k4s2p1"  # the standard layout: from 4x4, doublings
    config = imported.config
    assert config.noise == "uniform"
    assert config.dense == {"out_channels": 128, "size": 4, "bias": True, "batchnorm": "none", "activation": "none"}
    assert [layer["batchnorm"] for layer in config.layers] == [True, True, False]


def test_dense_layer_needs_its_activation_stated(tmp_path: Path) -> None:
    source = saved(randomise(UdacityGenerator()), tmp_path / "generator.pt")
    with pytest.raises(DcganError, match="--dense-activation: none .* relu or leakyrelu"):
        import_generator(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    plain = saved(randomise(CourseraGenerator()), tmp_path / "no-dense.pth")
    with pytest.raises(DcganError, match="no dense layer: leave it out"):
        import_generator(plain, tmp_path / "out", dense_activation="relu", layers=COURSERA_LAYERS)
    # A wrong statement is not caught by the shapes, but by the preview's numbers and the output:
    wrong = import_model(source, tmp_path / "relu", ImportOptions(dense_activation="relu"))
    right = import_model(source, tmp_path / "none", ImportOptions(dense_activation="none"))
    assert wrong.health != right.health


@pytest.mark.parametrize("batchnorm", ["none", "1d", "2d"])
def test_fashion_mnist_dense_relu_with_conv_biases(tmp_path: Path, batchnorm: str) -> None:
    original = randomise(FashionGenerator(batchnorm=batchnorm))
    source = saved(original, tmp_path / "G.pth")

    folder = import_generator(source, tmp_path / "out", dense_activation="relu")

    imported = assert_exact(original, folder, nz=64, shape=(1, 28, 28))
    assert imported.config.dense["batchnorm"] == batchnorm
    assert all(layer["bias"] for layer in imported.config.layers)
    assert [(layer["stride"], layer["padding"], layer["output_padding"]) for layer in imported.config.layers] == [
        (2, 2, 1),
        (2, 2, 1),
    ]


def test_tensorflow_tutorial_port(tmp_path: Path) -> None:
    original = randomise(TutorialGenerator())
    source = saved(original, tmp_path / "tutorial.pth")

    report = import_model(source, tmp_path / "out", ImportOptions(dense_activation="leakyrelu", activation="leakyrelu"))

    assert report.spec == "k5s1p2,k5s2p2o1,k5s2p2o1"  # 7 -> 7 -> 14 -> 28
    assert_exact(original, report.folder, nz=100, shape=(1, 28, 28))


def test_keras_leakyrelu_slope_is_stated(tmp_path: Path) -> None:
    original = randomise(TutorialGenerator(slope=0.3))
    source = saved(original, tmp_path / "tutorial.pth")
    options = ImportOptions(dense_activation="leakyrelu", activation="leakyrelu", leaky_slope=0.3)

    report = import_model(source, tmp_path / "out", options)

    assert_exact(original, report.folder, nz=100, shape=(1, 28, 28))
    assert "--leaky-slope 0.3" in (report.folder / "README.md").read_text()
    with pytest.raises(DcganError, match=r"leaky-slope must be in \[0, 1\)"):
        import_model(source, tmp_path / "bad", ImportOptions(dense_activation="none", leaky_slope=1.5))


def test_nested_sequentials_with_unusual_strides_are_refused_with_the_candidates(tmp_path: Path) -> None:
    original = randomise(CourseraGenerator())
    source = saved(original, tmp_path / "coursera.pth")
    assert "gen.0.0.weight" in original.state_dict()

    with pytest.raises(DcganError) as refusal:
        import_generator(source, tmp_path / "out")
    message = str(refusal.value)
    assert "kernels 3, 4, 3, 4" in message and "no standard DCGAN layout" in message
    assert f"--layers {COURSERA_LAYERS}   -> 28x28" in message  # ready to paste
    assert not (tmp_path / "out").exists()

    folder = import_generator(source, tmp_path / "out", layers=COURSERA_LAYERS)
    assert_exact(original, folder, nz=10, shape=(1, 28, 28))
    assert Generator.from_pretrained(folder).config.layers[1]["stride"] == 1


def test_a_stated_layout_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    source = saved(randomise(CourseraGenerator()), tmp_path / "coursera.pth")
    for layers, problem in [
        ("k3s2p0,k4s1p0,k3s2p0", "gives 3 layers but the weights have 4"),
        ("k3s2p0,k5s1p0,k3s2p0,k4s2p0", "layer 2 have kernel 4"),
        ("k3s2p0,k4s1p0o1,k3s2p0,k4s2p0", "output_padding must be less than the stride"),
        ("k3 s2 p0", "is not per ConvTranspose2d layer"),
    ]:
        with pytest.raises(DcganError, match=problem):
            import_generator(source, tmp_path / "out", layers=layers)
    with pytest.raises(DcganError, match="makes 28x28 images, not 32x32"):
        import_generator(source, tmp_path / "out", layers=COURSERA_LAYERS, image_size=32)


def test_legacy_file_without_batch_counters(tmp_path: Path) -> None:
    original = randomise(UdacityGenerator(conv_dim=16))
    source = saved(original, tmp_path / "legacy.pth", legacy=True, drop_counters=True)
    assert not source.read_bytes().startswith(b"PK")  # the pre-1.6 format, not a zip

    folder = import_generator(source, tmp_path / "out", dense_activation="none")

    assert_exact(original, folder, nz=100, shape=(3, 32, 32))


class NamedGenerator(nn.Module):
    """Names that do not sort in forward order ("norm1" < "project" < "up1"): registration order tells."""

    def __init__(self):
        super().__init__()
        self.project = nn.Linear(20, 32 * 4 * 4)
        self.up1 = nn.ConvTranspose2d(32, 16, 4, 2, 1, bias=False)
        self.norm1 = nn.BatchNorm2d(16)
        self.up2 = nn.ConvTranspose2d(16, 3, 4, 2, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.project(z)).view(-1, 32, 4, 4)
        return torch.tanh(self.up2(F.relu(self.norm1(self.up1(x)))))


def test_named_modules_in_registration_order(tmp_path: Path) -> None:
    original = randomise(NamedGenerator())
    source = saved(original, tmp_path / "g.pth")
    folder = import_generator(source, tmp_path / "out", dense_activation="relu", image_size=16)
    assert_exact(original, folder, nz=20, shape=(3, 16, 16))


@pytest.mark.parametrize("embedding", ["label_emb", "nested", "unnamed"])
def test_label_embedding_is_refused_as_conditional(tmp_path: Path, embedding: str) -> None:
    model = nn.Module()
    if embedding == "label_emb":  # eriklindernoren/PyTorch-GAN's cgan.py
        model.label_emb = nn.Embedding(10, 10)
    elif embedding == "nested":
        model.embed = nn.Sequential(nn.Embedding(10, 10))
    else:  # a name that says nothing: the widths still do not fit a dense layer taking z
        model.lookup = nn.Embedding(10, 10)
    model.main = nn.Sequential(nn.ConvTranspose2d(110, 16, 4, 1, 0), nn.ConvTranspose2d(16, 1, 4, 2, 1))
    with pytest.raises(DcganError, match="(?i)conditional generators"):
        import_generator(saved(model, tmp_path / "cgan.pth"), tmp_path / "out", dense_activation="none")


def test_every_import_writes_a_preview_and_a_card(tmp_path: Path, capsys) -> None:
    from dcgan.cli.main import main

    source = saved(randomise(UdacityGenerator(conv_dim=8)), tmp_path / "udacity.pt")
    out = tmp_path / "faces"
    status = main(["import", str(source), str(out), "--dense-activation", "none", "--noise", "uniform"])

    assert status == 0
    printed = capsys.readouterr().out
    assert str(out / "preview.png") in printed
    assert "output std" in printed and "saturated" in printed
    with Image.open(out / "preview.png") as preview:
        assert preview.size == (2 * (8 * 32 + 9 * 2),) * 2  # an 8x8 grid of 32 px, 2 px apart, shown x2
    card = (out / "README.md").read_text()
    import hashlib

    assert hashlib.sha256(source.read_bytes()).hexdigest() in card
    assert "--layers k4s2p1,k4s2p1,k4s2p1" in card and "uniform noise" in card and "--noise uniform" in card
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["noise"] == "uniform" and config["train"] is None


def test_cli_refusal_is_one_message_listing_every_missing_flag(tmp_path: Path, capsys) -> None:
    from dcgan.cli.main import main

    class DenseCoursera(nn.Module):  # a dense layer AND kernels no standard layout fits
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 32 * 3 * 3)
            self.gen = CourseraGenerator(z_dim=8).gen[1:]

    source = saved(randomise(DenseCoursera()), tmp_path / "g.pth")
    assert main(["import", str(source), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "--dense-activation" in error and "--layers" in error and "Traceback" not in error


def test_the_app_upload_takes_the_same_options(tmp_path: Path) -> None:
    from dcgan.serve.model_uploads import import_upload

    original = randomise(CourseraGenerator())
    source = saved(original, tmp_path / "coursera.pth")
    uploads = tmp_path / "uploads"
    with pytest.raises(DcganError, match=f"--layers {COURSERA_LAYERS}"):
        import_upload(source, uploads)
    assert not uploads.exists() or not any(uploads.iterdir())  # a refused upload leaves nothing

    folder = import_upload(source, uploads, ImportOptions(layers=COURSERA_LAYERS, noise="uniform"))
    assert_exact(original, folder, nz=10, shape=(1, 28, 28))
    assert (folder / "preview.png").is_file() and Generator.from_pretrained(folder).config.noise == "uniform"
    # The same file read another way is another model, not the first one from the cache.
    other = import_upload(source, uploads, ImportOptions(layers=COURSERA_LAYERS, noise="normal"))
    assert other != folder and import_upload(source, uploads, ImportOptions(COURSERA_LAYERS, noise="uniform")) == folder


class D2lBlock(nn.Module):
    """d2l.ai's G_block: attributes named conv2d_trans, batch_norm, activation ("batch_norm" sorts first)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2, padding: int = 1):
        super().__init__()
        self.conv2d_trans = nn.ConvTranspose2d(c_in, c_out, 4, stride, padding, bias=False)
        self.batch_norm = nn.BatchNorm2d(c_out)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.batch_norm(self.conv2d_trans(x)))


def test_d2l_blocks_whose_names_sort_batchnorm_first(tmp_path: Path) -> None:
    n_g = 4
    original = randomise(
        nn.Sequential(
            D2lBlock(16, n_g * 8, stride=1, padding=0),
            D2lBlock(n_g * 8, n_g * 4),
            D2lBlock(n_g * 4, n_g * 2),
            D2lBlock(n_g * 2, n_g),
            nn.ConvTranspose2d(n_g, 3, 4, 2, 1, bias=False),
            nn.Tanh(),
        )
    )
    folder = import_generator(saved(original, tmp_path / "d2l.pth"), tmp_path / "out")
    assert_exact(lambda z: original(z.view(-1, 16, 1, 1)), folder, nz=16, shape=(3, 64, 64))


def test_key_names_that_give_two_different_generators_are_refused(tmp_path: Path) -> None:
    model = nn.Module()  # forward: second -> first -> third; alphabetically first -> second -> third
    model.second = nn.ConvTranspose2d(16, 16, 4, 1, 0)
    model.first = nn.ConvTranspose2d(16, 16, 4, 2, 1)
    model.third = nn.ConvTranspose2d(16, 1, 4, 2, 1)
    with pytest.raises(DcganError, match="the layer order cannot be read from the key names"):
        import_generator(saved(model, tmp_path / "g.pth"), tmp_path / "out")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        # Udacity's MNIST GAN: fully connected layers only.
        (nn.Sequential(nn.Linear(100, 32), nn.LeakyReLU(0.2), nn.Linear(32, 784), nn.Tanh()), "MLP"),
        # eriklindernoren/PyTorch-GAN's dcgan.py: dense, then nn.Upsample + Conv2d.
        (
            nn.Sequential(
                nn.Linear(100, 16 * 7 * 7),
                nn.Unflatten(1, (16, 7, 7)),
                nn.BatchNorm2d(16),
                nn.Upsample(scale_factor=2),
                nn.Conv2d(16, 16, 3, 1, 1),
                nn.Upsample(scale_factor=2),
                nn.Conv2d(16, 8, 3, 1, 1),
                nn.Conv2d(8, 1, 3, 1, 1),
            ),
            r"nn.Upsample \+ Conv2d",
        ),
    ],
    ids=["mlp", "upsample-conv2d"],
)
def test_generators_that_are_not_convtranspose_chains_are_refused(tmp_path: Path, model, message: str) -> None:
    with pytest.raises(DcganError, match=message):
        import_generator(saved(model, tmp_path / "g.pth"), tmp_path / "out", dense_activation="relu")
