"""Issue 17, publishing: save_pretrained, `python -m dcgan publish ... --push-to-hub`, and the `dcgan` command.

No network: huggingface_hub's HfApi is replaced by a fake that records what it is asked and copies the
uploaded files into a local "Hub" folder, which must then load with Generator.from_pretrained.
"""

from __future__ import annotations

import fnmatch
import importlib
import logging
import shutil
from pathlib import Path

import huggingface_hub
import pytest
import torch

from dcgan.cli.main import main
from dcgan.errors import DcganError
from dcgan.nets.config import ModelConfig, RunConfig, TrainConfig
from dcgan.nets.models import Discriminator, Generator
from dcgan.store.checkpoints import save_model_folder
from dcgan.store.hub import push_to_hub

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "hf_secretTOKENthatmustNEVERbeshown123"
TINY = ModelConfig(image_size=32, nc=1, nz=8, ngf=4, ndf=4)


def tiny_generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(TINY).eval()


def outputs(generator: Generator) -> torch.Tensor:
    with torch.inference_mode():
        return generator.eval()(torch.randn(3, TINY.nz, generator=torch.Generator().manual_seed(1)))


class FakeHub:
    """Stands in for huggingface_hub.HfApi: records calls; upload_folder copies the allowed files to `root`."""

    root: Path
    calls: list[tuple[str, tuple, dict]]
    fail_with: Exception | None = None

    def __init__(self, *args, **kwargs) -> None:
        FakeHub.calls.append(("__init__", args, kwargs))

    def create_repo(self, *args, **kwargs):
        FakeHub.calls.append(("create_repo", args, kwargs))
        if FakeHub.fail_with is not None:
            raise FakeHub.fail_with
        return f"https://huggingface.co/{args[0]}"

    def upload_folder(self, **kwargs):
        FakeHub.calls.append(("upload_folder", (), kwargs))
        source = Path(kwargs["folder_path"])
        for path in source.rglob("*"):
            relative = path.relative_to(source).as_posix()
            if path.is_file() and any(fnmatch.fnmatch(relative, p) for p in kwargs["allow_patterns"]):
                target = FakeHub.root / kwargs["repo_id"] / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)


@pytest.fixture
def fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type[FakeHub]:
    FakeHub.root, FakeHub.calls, FakeHub.fail_with = tmp_path / "hub", [], None
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHub)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return FakeHub


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A finished run's folder: config with its training section, G and D."""
    torch.manual_seed(0)
    config = RunConfig(model=TINY, train=TrainConfig(data="fashion-mnist", steps=10))
    run = tmp_path / "runs" / "tiny"
    (run / "samples").mkdir(parents=True)
    (run / "samples" / "step-000010.png").write_bytes(b"a training grid, not for the Hub")
    return save_model_folder(run, tiny_generator(), config, Discriminator(TINY))


def test_save_pretrained_writes_what_from_pretrained_reads(tmp_path: Path) -> None:
    generator = tiny_generator()
    folder = generator.save_pretrained(tmp_path / "model", card="# My model\n")

    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    loaded = Generator.from_pretrained(folder, device="cpu")
    assert torch.equal(outputs(loaded), outputs(generator))
    assert loaded.config == generator.config and loaded.card == "# My model\n"
    # Loaded and saved again: the card and the training section come along.
    again = loaded.save_pretrained(tmp_path / "again")
    assert (again / "README.md").read_text() == "# My model\n"
    assert torch.equal(outputs(Generator.from_pretrained(again, device="cpu")), outputs(generator))


def test_save_pretrained_keeps_the_training_section(run_dir: Path, tmp_path: Path) -> None:
    copy = Generator.from_pretrained(run_dir, device="cpu").save_pretrained(tmp_path / "copy")
    assert RunConfig.load(copy / "config.json") == RunConfig.load(run_dir / "config.json")


def test_publish_pushes_the_model_folder_and_it_loads_back(
    run_dir: Path, tmp_path: Path, fake_hub: type[FakeHub], capsys, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out" / "tiny"

    status = main(["publish", str(run_dir), str(out), "--push-to-hub", "someone/tiny-dcgan", "--private"])

    assert status == 0
    calls = {name: (args, kwargs) for name, args, kwargs in fake_hub.calls}
    assert calls["__init__"] == ((), {})  # no token handed over: huggingface_hub finds the login
    assert calls["create_repo"] == (("someone/tiny-dcgan",), {"private": True, "repo_type": "model", "exist_ok": True})
    upload = calls["upload_folder"][1]
    assert upload["repo_id"] == "someone/tiny-dcgan" and upload["repo_type"] == "model" and "token" not in upload
    pushed = fake_hub.root / "someone" / "tiny-dcgan"
    assert sorted(p.name for p in pushed.iterdir()) == [
        "README.md",
        "config.json",
        "discriminator.safetensors",
        "model.safetensors",
        "samples.png",
    ]
    card = (pushed / "README.md").read_text()
    assert "![64 samples, seed 0](samples.png)" in card  # the image is in the repo, beside the card
    assert 'Generator.from_pretrained("someone/tiny-dcgan")' in card
    assert torch.equal(outputs(Generator.from_pretrained(pushed, device="cpu")), outputs(tiny_generator()))
    printed = capsys.readouterr()
    assert "https://huggingface.co/someone/tiny-dcgan (private)" in printed.out
    assert TOKEN not in printed.out + printed.err + caplog.text


def test_a_failed_push_is_one_line_without_the_token(
    run_dir: Path, tmp_path: Path, fake_hub: type[FakeHub], capsys, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_hub.fail_with = RuntimeError(f"401 Unauthorized: token {TOKEN} is not valid\nmore details")

    status = main(["publish", str(run_dir), str(tmp_path / "out"), "--push-to-hub", "someone/tiny-dcgan"])

    assert status == 2
    printed = capsys.readouterr()
    assert "could not publish to the Hub as someone/tiny-dcgan: 401 Unauthorized" in printed.err
    assert "hf auth login" in printed.err and "Traceback" not in printed.err
    assert TOKEN not in printed.out + printed.err + caplog.text


def test_push_refuses_bad_repo_ids_and_folders_that_do_not_load(tmp_path: Path, fake_hub: type[FakeHub]) -> None:
    folder = tiny_generator().save_pretrained(tmp_path / "model")
    with pytest.raises(DcganError, match="like 'owner/name'"):
        push_to_hub(folder, "not a repo id")
    (folder / "model.safetensors").write_bytes(b"broken")
    with pytest.raises(DcganError, match="not a readable safetensors file"):
        push_to_hub(folder, "someone/broken")
    assert fake_hub.calls == []  # nothing reached the Hub


def test_pyproject_gives_the_dcgan_command() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module_name, _, function_name = scripts["dcgan"].partition(":")
    entry = getattr(importlib.import_module(module_name), function_name)
    assert entry is main and callable(entry)
    with pytest.raises(SystemExit) as help_exit:
        entry(["--help"])
    assert help_exit.value.code == 0


def test_publishing_an_imported_model_keeps_its_import_record(tmp_path: Path, fake_hub: type[FakeHub]) -> None:
    from test_import_layouts import COURSERA_LAYERS, CourseraGenerator, randomise

    torch.save(randomise(CourseraGenerator()).state_dict(), tmp_path / "coursera.pth")
    source, imported = str(tmp_path / "coursera.pth"), str(tmp_path / "imported")
    assert main(["import", source, imported, "--layers", COURSERA_LAYERS]) == 0
    status = main(["publish", imported, str(tmp_path / "out"), "--push-to-hub", "someone/coursera"])

    assert status == 0
    card = (fake_hub.root / "someone" / "coursera" / "README.md").read_text()
    assert "### Imported generator: coursera.pth" in card and f"--layers {COURSERA_LAYERS}" in card and "sha256" in card
