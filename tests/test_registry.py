import io
import zipfile

import pytest
import torch

from dcgan.errors import DcganError
from dcgan.nets.config import ModelConfig, RunConfig, TrainConfig
from dcgan.nets.models import Generator
from dcgan.serve.model_uploads import import_upload
from dcgan.store.checkpoints import save_model_folder
from dcgan.store.registry import list_models, model_facts

CONFIG = ModelConfig(image_size=32, nc=1, nz=8, ngf=4, ndf=4)


@pytest.fixture
def model_dir(tmp_path):
    return save_model_folder(
        tmp_path / "checkpoints" / "tiny", Generator(CONFIG), RunConfig(CONFIG, TrainConfig(steps=5))
    )


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_lists_shipped_models_and_runs_but_not_other_folders(tmp_path, model_dir):
    (tmp_path / "checkpoints" / "judge").mkdir()
    (tmp_path / "checkpoints" / "judge" / "config.json").write_text('{"classifier": {}}')
    (tmp_path / "checkpoints" / "judge" / "model.safetensors").write_bytes(b"x")
    save_model_folder(tmp_path / "runs" / "r1", Generator(CONFIG), RunConfig(CONFIG))
    entries = list_models(tmp_path / "checkpoints", tmp_path / "runs")
    assert [(e.label, e.source) for e in entries] == [("tiny", "shipped"), ("run: r1", "run")]


def test_facts(model_dir):
    facts = model_facts(model_dir)
    assert facts["image"] == "32x32x1" and facts["nz"] == 8 and facts["data"] == "fashion-mnist"
    assert facts["generator_parameters"] == sum(p.numel() for p in Generator(CONFIG).parameters())


@pytest.mark.parametrize("prefix", ["", "my-model/"])
def test_zip_upload_round_trip(tmp_path, model_dir, prefix):
    files = {prefix + name: (model_dir / name).read_bytes() for name in ("config.json", "model.safetensors")}
    upload = tmp_path / "upload.zip"
    upload.write_bytes(zip_bytes(files))
    folder = import_upload(upload, tmp_path / "uploads")
    z = torch.randn(2, 8)
    assert torch.equal(Generator.from_pretrained(folder)(z), Generator.from_pretrained(model_dir)(z))
    assert import_upload(upload, tmp_path / "uploads") == folder  # same file again: same folder


@pytest.mark.parametrize(
    "content,message",
    [
        ({"../evil/config.json": b"{}", "model.safetensors": b""}, "unexpected path"),
        ({"/abs/config.json": b"{}"}, "unexpected path"),
        ({"notes.txt": b"hi"}, "needs config.json"),
        ({"config.json": b"{}", "model.safetensors": b"junk"}, "config.json"),
    ],
)
def test_bad_zips_are_refused_and_leave_nothing(tmp_path, content, message):
    upload = tmp_path / "bad.zip"
    upload.write_bytes(zip_bytes(content))
    with pytest.raises(DcganError, match=message):
        import_upload(upload, tmp_path / "uploads")
    assert not any((tmp_path / "uploads").glob("*/model.safetensors"))
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("name,content", [("a.zip", b"not a zip"), ("a.exe", b"MZ"), ("a.pth", b"\x80\x04junk")])
def test_wrong_files_are_clear_errors(tmp_path, name, content):
    upload = tmp_path / name
    upload.write_bytes(content)
    with pytest.raises(DcganError):
        import_upload(upload, tmp_path / "uploads")


def test_pth_upload_is_imported(tmp_path):
    from torch import nn

    net = nn.Sequential(
        nn.ConvTranspose2d(8, 16, 4, 1, 0, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.ConvTranspose2d(16, 8, 4, 2, 1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.ConvTranspose2d(4, 1, 4, 2, 1, bias=False),
        nn.Tanh(),
    )  # 1 -> 4 -> 8 -> 16 -> 32
    torch.save(net.state_dict(), tmp_path / "netG.pth")
    folder = import_upload(tmp_path / "netG.pth", tmp_path / "uploads")
    z = torch.randn(2, 8)
    assert torch.equal(Generator.from_pretrained(folder)(z), net.eval()(z.view(2, 8, 1, 1)))


def test_the_app_opens_on_the_papers_fashion_model_whatever_the_names(tmp_path):
    """fashion-mnist-28-tutorial sorts before fashion-mnist-32; the default is still the paper-family one
    of the models trained on data the judge reads (the dataset registry says which)."""
    from dcgan.nets.config import ModelConfig, RunConfig, TrainConfig
    from dcgan.nets.models import Generator
    from dcgan.store.checkpoints import save_model_folder
    from dcgan.ui.model_cache import Catalog

    for name, config in (
        ("fashion-mnist-28-tutorial", ModelConfig(family="tutorial", image_size=28, nc=1, nz=8, ngf=8, ndf=8)),
        ("fashion-mnist-32", ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8)),
    ):
        save_model_folder(tmp_path / "checkpoints" / name, Generator(config), RunConfig(config, TrainConfig()))
    save_model_folder(  # an emoji model of the paper's family: not trained on Fashion-MNIST
        tmp_path / "checkpoints" / "a-emoji",
        Generator(ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8)),
        RunConfig(ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8), TrainConfig(data="emoji")),
    )
    catalog = Catalog(tmp_path / "checkpoints", tmp_path / "runs", tmp_path / "uploads")
    assert catalog.default_name() == "fashion-mnist-32"


def test_the_app_opens_on_a_shipped_faces_model_before_fashion(tmp_path):
    """The paper's headline figure is arithmetic on faces: a shipped faces model opens first; --model still wins."""
    from dcgan.nets.config import ModelConfig, RunConfig, TrainConfig
    from dcgan.nets.models import Generator
    from dcgan.store.checkpoints import save_model_folder
    from dcgan.ui.model_cache import Catalog

    grey, colour = (
        ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8),
        ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8),
    )
    for name, config, data in (
        ("a-emoji", colour, "emoji"),
        ("fashion-mnist-32", grey, "fashion-mnist"),
        ("my-faces", colour, "faces"),
        ("faces-judge-like", colour, "faces"),  # named like a judge: never the one the app opens on
    ):
        save_model_folder(tmp_path / "checkpoints" / name, Generator(config), RunConfig(config, TrainConfig(data=data)))
    (tmp_path / "checkpoints" / "faces-judge-like").rename(tmp_path / "checkpoints" / "a-faces-judge")
    catalog = Catalog(tmp_path / "checkpoints", tmp_path / "runs", tmp_path / "uploads")
    assert catalog.default_name() == "my-faces"
    first = Catalog(
        tmp_path / "checkpoints", tmp_path / "runs", tmp_path / "uploads", [str(tmp_path / "checkpoints" / "a-emoji")]
    )
    assert first.default_name() == "a-emoji"
