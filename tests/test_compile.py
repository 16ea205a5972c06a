"""--compile: a compiled Trainer trains the weights an uncompiled one does, and saves them the same way."""

import pytest
import torch
from helpers import blob_images

from dcgan.data.dataset import ImageDataset
from dcgan.errors import DcganError
from dcgan.nets.config import ModelConfig, TrainConfig
from dcgan.training.trainer import Trainer

STEPS = 4
LR = 2e-4


def tiny_dataset() -> ImageDataset:
    pixels = torch.from_numpy(blob_images(64, size=32)).float()
    return ImageDataset(pixels[:, None] / 127.5 - 1, None, None, "blobs")


def tiny_trainer(run_dir, compile: bool) -> Trainer:
    model = ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8)
    train = TrainConfig(data="unused", batch_size=16, steps=STEPS, lr_g=LR, lr_d=LR, compile=compile)
    return Trainer(model, train, run_dir, dataset=tiny_dataset())


def trained_weights(trainer: Trainer) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Both nets' state after the run (parameters and BN buffers) and the kinds of events it yielded."""
    kinds = [event.kind for event in trainer.run()]
    state = {f"g.{k}": v.clone() for k, v in trainer.generator.state_dict().items()}
    state |= {f"d.{k}": v.clone() for k, v in trainer.discriminator.state_dict().items()}
    return state, kinds


@pytest.mark.slow  # compiling G and D takes ~3 s with inductor's cache warm, ~45 s cold (a fresh machine)
def test_compiled_trainer_trains_the_uncompiled_weights(tmp_path):
    torch._dynamo.reset()
    initial = {f"g.{k}": v.clone() for k, v in tiny_trainer(tmp_path / "init", False).generator.state_dict().items()}
    eager, eager_kinds = trained_weights(tiny_trainer(tmp_path / "eager", compile=False))
    compiled_trainer = tiny_trainer(tmp_path / "compiled", compile=True)
    compiled, compiled_kinds = trained_weights(compiled_trainer)

    assert compiled_kinds == eager_kinds and compiled_kinds[-1] == "done"
    # The compiled D is the plain module compiled in place: same keys, so checkpoints and resume are unchanged.
    assert list(compiled) == list(eager)
    assert compiled_trainer.train_generator is not compiled_trainer.generator  # G trains through its wrapper
    # Inductor fuses BatchNorm and the pointwise ops and sums in another order: float32 rounding, ~1e-7
    # relative per op. Adam's first steps move each weight by about lr * sign(gradient), so a rounding
    # difference grows only where a gradient is ~0 and its sign can flip: at most 2 * lr per step there.
    # Hence that bound on the worst weight, and a tight one on the typical weight (the median), which a
    # wrong compiled step (a missed update, D trained in G's step) would break by orders of magnitude.
    # Measured on this CPU (torch 2.13): here max 1.2e-7, median 0; with ngf = ndf = 64 on Fashion-MNIST,
    # 4 steps, max 4.7e-4 (sign flips, under 2 * lr * steps = 1.6e-3) and median 4e-6.
    differences = torch.cat([(compiled[k].float() - eager[k].float()).abs().flatten() for k in eager])
    assert differences.max() <= 2 * LR * STEPS
    assert differences.median() <= 1e-5
    moved = torch.cat([(eager[k] - initial[k]).abs().flatten() for k in initial if k.endswith("weight")])
    assert moved.median() > 20 * 1e-5  # ~4.5e-4: the weights did move, so the bounds above are not vacuous


def test_compile_without_a_compiler_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr("dcgan.training.trainer.shutil.which", lambda name: None)
    with pytest.raises(DcganError, match="needs a C\\+\\+ compiler"):
        tiny_trainer(tmp_path / "run", compile=True)
