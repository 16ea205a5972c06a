"""Every picture the app shows downloads under a unique, descriptive name with its model and settings inside
(PNG text chunks, the GIF's comment): the handlers are called as the page's events call them, on tiny models.

One model has a long name (past the 60 characters names were once cut at) and no judge (fast to prepare); the
class vector needs the Fashion-MNIST judge, so it runs on a second tiny model.
"""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("gradio")
import gradio as gr  # noqa: E402
from browser.app_server import TINY, tiny_model_folder  # noqa: E402

from dcgan.nets.config import RunConfig, TrainConfig  # noqa: E402
from dcgan.nets.models import Discriminator, Generator  # noqa: E402
from dcgan.store.checkpoints import save_model_folder  # noqa: E402
from dcgan.training.run_writer import RunWriter  # noqa: E402
from dcgan.ui.common import export_stem  # noqa: E402
from dcgan.ui.session import VisitorState  # noqa: E402

LONG_NAME = "a-lecturers-model-with-a-rather-long-descriptive-name-blobs-32px"
MAX_NAME = 120


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """{api_name: handler} of the whole app, its folders, and a model with a long name and no judge."""
    from dcgan.ui import build_app

    root = tmp_path_factory.mktemp("exports")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        generator, discriminator = Generator(TINY), Discriminator(TINY)
        with torch.no_grad():
            for layer in generator.modules():
                if isinstance(layer, torch.nn.ConvTranspose2d):
                    layer.weight.normal_(0.0, 0.2)  # as tiny_model_folder: seeds must draw different pictures
    config = RunConfig(TINY, TrainConfig(data="blobs", steps=20))
    save_model_folder(root / "checkpoints" / LONG_NAME, generator, config, discriminator)
    tiny_model_folder(root / "checkpoints" / "tiny-fashion")
    demo = build_app(root / "checkpoints", root / "runs", root / "uploads", warm_default=False)
    handlers = {block_fn.api_name: block_fn.fn for block_fn in demo.fns.values() if block_fn.api_name}
    return handlers, root


def loaded(root: Path, name: str):
    """The app's loaded model of that name (the one its handlers use)."""
    from dcgan.ui.model_cache import Catalog, get_model

    return get_model(Catalog(root / "checkpoints", root / "runs", root / "uploads"), name)


def text_of(path: str) -> dict[str, str]:
    assert isinstance(path, str) and Path(path).is_file(), path
    return Image.open(path).text


def names(paths) -> list[str]:
    return [Path(path).name for path in paths]


def check_named(paths, model: str = LONG_NAME) -> None:
    """Each is a readable PNG named for what it shows, of a sane length, with the model inside."""
    for path in paths:
        name = Path(path).name
        assert name.endswith(".png") and name != "image.png" and len(name) <= MAX_NAME, name
        assert text_of(path)["model"] == model


def test_long_stems_keep_their_distinguishing_tail_and_stay_unique():
    head = f"inside-{LONG_NAME}-generated-seed-3-layer1-channel5"
    trained, untrained = export_stem(f"{head}-guided-backprop"), export_stem(f"{head}-guided-backprop-untrained-D")
    assert trained != untrained and untrained.endswith("-guided-backprop-untrained-D")
    assert max(len(trained), len(untrained)) <= 100 and trained.startswith("inside-a-lecturers-model")
    assert export_stem("walk: z5+0.50") == "walk-z5+0.50" != export_stem("walk: z5-0.50")  # signs stay apart
    middle = [export_stem(f"{head}-{n}-{'x' * 80}-end") for n in range(3)]  # differ only in the cut middle
    assert len(set(middle)) == 3


def test_walk_image_and_strip_are_named_by_seed_and_sliders(app):
    from dcgan.ui import walk
    from dcgan.ui.common import render

    handlers, root = app
    state = VisitorState(model=LONG_NAME)
    first = handlers["walk_seed"](state, 5)
    image, strip = first[2], first[-3]
    check_named([image, strip])
    assert Path(image).name == f"walk-{LONG_NAME}-seed5.png" and text_of(image)["seed"] == "5"
    assert Path(strip).name == f"walk-{LONG_NAME}-seed5-direction-0.png" and text_of(strip)["along"] == "direction 0"
    # The file holds exactly the picture the tab drew before (PNG, nearest-neighbour upscaled).
    explorer = loaded(root, LONG_NAME)
    drawn = render(explorer, walk.walk_z(explorer, state.walk))
    assert np.array_equal(np.asarray(Image.open(image)), np.asarray(drawn))

    moved_up = handlers["walk_dim_0"](state, 2.5)[1]
    moved_down = handlers["walk_dim_0"](state, -2.5)[1]
    along = handlers["walk_direction_0"](state, 1.5)[1]
    check_named([moved_up, moved_down, along])
    dim = state.walk.dims[0]
    assert Path(moved_up).name == f"walk-{LONG_NAME}-seed5-z{dim}+2.50.png"
    assert Path(moved_down).name == f"walk-{LONG_NAME}-seed5-z{dim}-2.50.png"
    assert Path(along).name == f"walk-{LONG_NAME}-seed5-z{dim}-2.50-d0+1.50.png"
    assert text_of(along)["offsets"] == "{0: 1.5}" and f"{dim}: -2.5" in text_of(along)["edits"]
    _, new_strip, _ = handlers["walk_strip"](state, "direction 1")
    stem = f"walk-{LONG_NAME}-seed5-z{dim}-2.50-d0+1.50-direction-1"  # over 100 characters: hashed in the middle
    assert Path(new_strip).name == f"{export_stem(stem)}.png" and new_strip.endswith("-d0+1.50-direction-1.png")
    other = handlers["walk_seed"](state, 6)
    assert len(set(names([image, strip, other[2], other[-3], moved_up, moved_down, along, new_strip]))) == 8


def test_interpolation_strips_are_named_by_their_settings(app):
    handlers, _ = app
    state = VisitorState(model=LONG_NAME)
    lerp, slerp = handlers["interpolate"](state, 1, 2, "seed", "seed", 5, 3)[4:6]
    check_named([lerp, slerp])
    stem = f"interpolation-{LONG_NAME}-seeds1-2-rows3-steps5"
    assert names([lerp, slerp]) == [f"{export_stem(stem + '-lerp')}.png", f"{export_stem(stem + '-slerp')}.png"]
    assert text_of(slerp)["method"] == "slerp" and text_of(slerp)["seeds"].startswith("1+i -> 2+i")
    assert Image.open(lerp).size == (5 * 34 + 2, 3 * 34 + 2)  # shown at 1x, as before
    other = handlers["interpolate"](state, 1, 2, "seed", "seed", 6, 3)[4:6]
    assert len(set(names([lerp, slerp, *other]))) == 4


def test_arithmetic_panels_carry_the_picks_in_their_names(app):
    handlers, _ = app
    state = VisitorState(model=LONG_NAME)
    handlers["arithmetic_batch"](state, 3)
    for group, index in (("A", 0), ("A", 1), ("B", 2), ("C", 3)):
        first = handlers["arithmetic_pick"](state, group, index)
    panels = first[2:-1]  # A picks, A mean, B picks, B mean, C picks, C mean, averaged, single, neighbourhood
    check_named(panels)
    assert len(set(names(panels))) == 9
    assert Path(panels[0]).name == f"arithmetic-{LONG_NAME}-A3.0+3.1-picks.png"
    averaged = panels[6]
    assert Path(averaged).name == export_stem(f"arithmetic-{LONG_NAME}-A3.0+3.1-B3.2+C3.3-averaged") + ".png"
    assert "A3.0+3.1-B3.2+C3.3-averaged" in Path(averaged).name  # the picks survive a long model name
    assert text_of(averaged)["A"] == "batch 3, #0; batch 3, #1" and text_of(panels[3])["B"] == "batch 3, #2"
    handlers["arithmetic_clear_group"](state, "C")
    second = handlers["arithmetic_pick"](state, "C", 4)[2:-1]
    assert names(second[:4]) == names(panels[:4])  # A and B unchanged: the same names
    assert not set(names(second[4:])) & set(names(panels[4:]))  # C and the results differ


def test_class_vector_name_starts_from_the_seed_its_caption_names(app):
    from dcgan.explore.arithmetic import first_seed_of_class
    from dcgan.quality.classifier import JUDGE_DIR

    if not (JUDGE_DIR / "model.safetensors").is_file():
        pytest.skip("no shipped judge classifier")
    handlers, root = app
    state = VisitorState(model="tiny-fashion")
    handlers["arithmetic_batch"](state, 0)
    model = loaded(root, "tiny-fashion")
    class_names, _, counts = model.class_means()
    drawn = [name for name, count in zip(class_names, counts.tolist(), strict=True) if count > 0]
    # A source class whose first seed from 0 on is not 0: the name once said "seed0" there.
    source = next((n for n in drawn if first_seed_of_class(model, class_names.index(n), 0)[0] > 0), drawn[0])
    target = next(name for name in drawn if name != source)
    strip, caption, gif = handlers["class_vector"](state, source, target, 0, None)
    seed = re.match(r"seed (\d+) ", caption).group(1)
    assert Path(strip).name == export_stem(f"class-vector-tiny-fashion-{source}-to-{target}-seed{seed}") + ".png"
    assert text_of(strip)["seed"] == seed and Image.open(gif).info["comment"].decode().count(f"seed={seed};") == 1


def test_inside_figures_are_unique_trained_and_untrained_alike(app):
    handlers, _ = app
    state = VisitorState(model=LONG_NAME)
    looked = handlers["inside_look"](state, "generated", 3, None, None)
    figures = looked[2:5]  # what D sees, saliency, guided backprop
    check_named(figures)
    assert text_of(figures[0])["image"] == "generated, seed 3"
    clicked = gr.SelectData(None, {"index": 0, "value": {"caption": "ch 5"}})
    channel = handlers["pick_channel_of_layer_1"](state, clicked, None)[2:-1]
    check_named(channel)
    guided, untrained = Path(channel[1]).name, Path(channel[2]).name
    assert guided != untrained and untrained.endswith("-guided-backprop-untrained-D.png")
    assert guided.endswith("-guided-backprop.png") and "channel5" in guided
    assert len(set(names([*figures, *channel]))) == 9

    before = handlers["ablate"](state, "layer 1 (16 channels)", "0, 3", "", 0, None)[1:4]
    fewer = handlers["ablate"](state, "layer 1 (16 channels)", "0", "", 0, None)[1:4]
    check_named([*before, *fewer])
    assert Path(before[0]).name == f"ablation-{LONG_NAME}-layer1-ch0+3-seed0-before.png"
    assert text_of(before[1])["channels"] == "0,3" and not set(names(before)) & set(names(fewer))


def test_training_grids_and_progress_gif_download_named_with_metadata(app, monkeypatch):
    """The Train tab (with no job, the newest finished run): named copies made once per version of a file."""
    from dcgan.ui import training

    handlers, root = app
    run_dir = root / "runs" / "blobs-20261201-101010"
    writer = RunWriter(run_dir)
    writer.begin(RunConfig(TINY, TrainConfig(data="blobs", steps=20, seed=7)), 0)
    for step in (10, 20):
        record = {"step": step, "loss_d": 1.0, "loss_g": 2.0, "d_real": 0.5, "d_fake": 0.5, "images_per_s": 9.0}
        writer.log(record)
        writer.grid(torch.rand(4, 1, 32, 32) * 2 - 1, f"step_{step:07d}", step)
    source_gif = writer.finish()
    monkeypatch.setattr(training.MANAGER, "snapshot", lambda owner_key=None: None)  # no job: the finished run

    _, _, latest, _, film, _, gif, _ = handlers["train_status"](0, True, None)
    assert Path(latest).name == "train-blobs-20261201-101010-paper-32px-step20-grid.png" and film == latest
    assert np.array_equal(np.asarray(Image.open(latest)), np.asarray(Image.open(run_dir / "samples/step_0000020.png")))
    grid_text = text_of(latest)
    assert grid_text["model"] == "run: blobs-20261201-101010" and grid_text["step"] == "20"
    assert '"seed": 7' in grid_text["train config"] and '"nz": 16' in grid_text["model config"]
    scrubbed = handlers["train_status"](0, False, None)[4]
    assert Path(scrubbed).name == "train-blobs-20261201-101010-paper-32px-step10-grid.png"

    assert Path(gif).name == "train-blobs-20261201-101010-paper-32px-step20-progress.gif"
    comment = Image.open(gif).info["comment"].decode()
    assert "model=run: blobs-20261201-101010" in comment and "step=20" in comment and '"seed": 7' in comment
    copy, original = Image.open(gif), Image.open(source_gif)
    assert copy.n_frames == original.n_frames
    for frame in range(original.n_frames):  # copied, not re-encoded: every frame as the run wrote it
        copy.seek(frame)
        original.seek(frame)
        assert np.array_equal(np.asarray(copy.convert("RGB")), np.asarray(original.convert("RGB")))

    again = handlers["train_status"](0, True, None)
    assert (again[2], again[6]) == (latest, gif)  # the timer's next tick: the same copies, nothing made
    writer.finish()  # the run's GIF written again (a resumed run): a new copy
    assert handlers["train_status"](0, True, None)[6] != gif


def test_projection_target_and_reconstruction_are_named_with_z_inside(app, tmp_path):
    from dcgan.ui.common import render

    handlers, root = app
    state = VisitorState(model=LONG_NAME)
    upload = tmp_path / "my photo.png"
    Image.new("RGB", (40, 40), (200, 30, 30)).save(upload)
    *_, last = handlers["project"](state, str(upload), False, 20, None)
    _, target, reconstruction, _, _ = last
    check_named([target, reconstruction])
    assert Path(target).name == f"projection-{LONG_NAME}-my-photo-1-target.png"
    assert Path(reconstruction).name == f"projection-{LONG_NAME}-my-photo-1-step20.png"
    assert text_of(reconstruction)["step"] == "20/20" and text_of(target)["image"] == "my photo #1"
    # the z inside draws the downloaded picture again
    z = torch.tensor([float(value) for value in text_of(reconstruction)["z"].split(",")])
    redrawn = np.asarray(render(loaded(root, LONG_NAME), z[None])).astype(int)
    assert np.abs(redrawn - np.asarray(Image.open(reconstruction)).astype(int)).max() <= 1
