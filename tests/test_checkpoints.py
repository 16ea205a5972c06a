import pytest
import torch

from dcgan.errors import DcganError
from dcgan.nets.config import ModelConfig, RunConfig
from dcgan.nets.models import Discriminator, Generator
from dcgan.store.checkpoints import load_discriminator, load_generator, save_model_folder
from dcgan.store.model_files import GENERATOR_FILE, resolve_model_folder, save_tensors


def tiny_config(**overrides) -> ModelConfig:
    return ModelConfig(**({"family": "paper", "image_size": 32, "nc": 1, "nz": 8, "ngf": 4, "ndf": 4} | overrides))


def trained_looking(module):
    """Random weights and BN statistics, so a load that silently skipped anything would show."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if tensor.dtype.is_floating_point:
                tensor.copy_(torch.rand_like(tensor) + 0.5 if "running_var" in name else torch.randn_like(tensor))
    return module


@pytest.fixture
def model_folder(tmp_path):
    config = tiny_config()
    generator, discriminator = trained_looking(Generator(config)), trained_looking(Discriminator(config))
    folder = save_model_folder(tmp_path / "model", generator, RunConfig(config), discriminator)
    return folder, generator.eval(), discriminator.eval()


def test_round_trip_gives_identical_outputs_in_eval_mode(model_folder):
    folder, generator, discriminator = model_folder
    loaded = Generator.from_pretrained(folder)
    assert not loaded.training
    z = torch.randn(4, 8)
    assert torch.equal(loaded(z), generator(z))
    images = generator(z)
    assert torch.equal(load_discriminator(folder)(images), discriminator(images))


def test_shape_mismatch_is_a_clear_error_not_a_partial_load(model_folder):
    folder, _, _ = model_folder
    RunConfig(tiny_config(ngf=8)).save(folder / "config.json")
    with pytest.raises(DcganError, match="does not match its config.json"):
        load_generator(folder)


def test_missing_and_extra_tensors_are_named(model_folder):
    folder, generator, _ = model_folder
    tensors = dict(generator.state_dict())
    tensors.pop("blocks.0.1.running_mean")
    tensors["surprise"] = torch.zeros(1)
    save_tensors(folder / GENERATOR_FILE, tensors)
    with pytest.raises(DcganError, match=r"missing.*running_mean.*unexpected.*surprise"):
        load_generator(folder)


@pytest.mark.parametrize("content", [b"", b"\x00" * 100, b"garbage that is not safetensors", b"PK\x03\x04 pickled?"])
def test_corrupt_weights_are_a_clear_error(model_folder, content):
    folder, _, _ = model_folder
    (folder / GENERATOR_FILE).write_bytes(content)
    with pytest.raises(DcganError, match="safetensors"):
        load_generator(folder)


def test_missing_discriminator_is_explained(tmp_path):
    folder = save_model_folder(tmp_path / "g_only", Generator(tiny_config()), RunConfig(tiny_config()))
    with pytest.raises(DcganError, match="without its discriminator"):
        load_discriminator(folder)


@pytest.mark.parametrize("bad", ["no/such/dir/at/all", "not a hub id!", "file"])
def test_bad_model_names(tmp_path, bad):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DcganError):
        resolve_model_folder(tmp_path / bad if bad == "file" else bad)


def test_hub_id_resolves_from_the_local_cache_offline(model_folder, tmp_path, monkeypatch):
    """The Hub path, tested with a hand-made HF cache and offline mode: no network involved."""
    from huggingface_hub import constants

    folder, generator, _ = model_folder
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_cache = tmp_path / "hub" / "models--someone--tiny-dcgan"
    snapshot = repo_cache / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name in ("config.json", GENERATOR_FILE):
        (snapshot / name).write_bytes((folder / name).read_bytes())
    (repo_cache / "refs").mkdir()
    (repo_cache / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    loaded = load_generator("someone/tiny-dcgan")
    z = torch.randn(2, 8)
    assert torch.equal(loaded(z), generator(z))
    with pytest.raises(DcganError, match="Hugging Face Hub"):
        load_generator("someone/not-cached")
