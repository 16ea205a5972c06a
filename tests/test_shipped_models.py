"""The models in checkpoints/: small, loadable, and their cards state the numbers their eval.json holds."""

import json
from pathlib import Path

import pytest
import torch

from dcgan.cards import metrics_table
from dcgan.checkpoints import load_generator
from dcgan.latent import generate, sample_noise

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
GENERATORS = sorted(p for p in CHECKPOINTS.iterdir() if (p / "model.safetensors").is_file() and "judge" not in p.name)


def test_there_is_a_shipped_fashion_mnist_generator():
    assert any(p.name.startswith("fashion-mnist") for p in GENERATORS)


@pytest.mark.parametrize("folder", GENERATORS, ids=lambda p: p.name)
def test_shipped_model_is_small_loads_and_draws(folder):
    for file in folder.glob("*.safetensors"):
        assert file.stat().st_size < 20 * 2**20, file
    generator = load_generator(folder, device="cpu")
    images = generate(generator, sample_noise(4, generator.config.nz, generator.config.noise, seed=0))
    assert images.shape[1:] == (generator.config.nc, generator.config.image_size, generator.config.image_size)
    assert images.std() > 0.1 and torch.isfinite(images).all()  # draws something, not a flat grey


@pytest.mark.parametrize("folder", GENERATORS, ids=lambda p: p.name)
def test_card_states_the_numbers_of_its_eval(folder):
    card = (folder / "README.md").read_text()
    evaluation = json.loads((folder / "eval.json").read_text())
    assert Path(evaluation["model"]).name == folder.name  # measured on this very folder
    assert metrics_table(evaluation) in card
    assert (CHECKPOINTS.parent / "assets" / folder.name / "samples.png").is_file()
    assert (CHECKPOINTS.parent / "assets" / folder.name / "progress.gif").is_file()


@pytest.mark.parametrize("folder", GENERATORS, ids=lambda p: p.name)
def test_card_states_the_default_seed_the_rule_gives(folder):
    """The app opens each shipped model at the seed its stated rule picks; the card says which and why."""
    from dcgan.explore import Explorer, default_seed

    seed, _ = default_seed(Explorer.load(folder))
    card = (folder / "README.md").read_text()
    assert f"the app opens this model at seed {seed}, by a stated rule" in card
    assert "whose sample the" in card and "is surest about" in card
