"""The explorer's math in the library (dcgan/explore/): the same pixels as the app, reachable without it."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from browser.app_server import running_app, tiny_model_folder
from PIL import Image

from dcgan.errors import DcganError
from dcgan.explore.ablation import (
    FORGET_SHOWN,
    ablate,
    describe_ablation,
    describe_forgetting,
    forget_class,
    forgetting_metadata,
    generator_layer_widths,
)
from dcgan.explore.arithmetic import (
    ARITHMETIC_GROUPS,
    arithmetic_images,
    arithmetic_latents,
    describe_arithmetic,
    seeds_z,
)
from dcgan.explore.explorer import Explorer, default_seed
from dcgan.explore.features import ablation_images, layer_features, linear_probe
from dcgan.explore.inside import inside_image, inside_metadata, look_at_channel, look_inside
from dcgan.explore.interpolation import (
    INTERPOLATION_METHODS,
    Interpolation,
    describe_contrast,
    describe_interpolation,
    interpolation_images,
    interpolation_metadata,
    interpolation_paths,
    path_contrast,
    path_norms,
)
from dcgan.explore.walk import STRIP_LENGTH, WalkState, strip_images, walk_along, walk_z
from dcgan.images import gradient_image, grid_image
from dcgan.nets.latent import generate, sample_noise
from dcgan.nets.workload import DEFAULT_SEED_POOL, PROBE_SAMPLES

ROOT = Path(__file__).resolve().parents[1]


def strip_pixels(explorer: Explorer, walk: WalkState, scale: int) -> np.ndarray:
    images, _ = strip_images(explorer, walk)
    return np.asarray(grid_image(images, nrow=STRIP_LENGTH, padding=2, scale=scale))


def test_the_library_strip_is_the_apps_strip(tmp_path):
    """/walk_seed and /walk_strip through the running app draw what strip_images draws for the same seed."""
    gradio_client = pytest.importorskip("gradio_client")
    with running_app(tmp_path) as url:
        client = gradio_client.Client(url, verbose=False)
        *_, app_strip, app_caption, _query = client.predict(5, api_name="/walk_seed")
        explorer = Explorer.load(tmp_path / "checkpoints" / "tiny-fashion", name="tiny-fashion")
        dim = explorer.ranked_dimensions()[0]
        dim_strip, dim_caption = client.predict(f"z[{dim}]", api_name="/walk_strip")

    scale = 96 // explorer.image_size  # the app's strip: ~96 px a frame
    walk = walk_along(explorer, 5)
    assert app_caption == strip_images(explorer, walk)[1]
    assert np.array_equal(np.asarray(Image.open(app_strip)), strip_pixels(explorer, walk, scale))
    walk = walk_along(explorer, 5, f"z[{dim}]")
    assert dim_caption == strip_images(explorer, walk)[1] and dim_caption.startswith(f"z[{dim}] swept")
    assert np.array_equal(np.asarray(Image.open(dim_strip)), strip_pixels(explorer, walk, scale))


def test_walks_are_plain_data(tmp_path):
    explorer = Explorer.load(tiny_model_folder(tmp_path / "tiny"))
    walk = walk_along(explorer, 3, "direction 2")
    assert walk.dims == explorer.ranked_dimensions()[:8] and walk.strip == "direction 2"
    start = walk_z(explorer, walk)
    walk.offsets = {0: 1.5}
    moved = walk_z(explorer, walk)
    assert torch.allclose(moved - start, 1.5 * explorer.directions()[0][0], atol=1e-6)
    images, caption = strip_images(explorer, walk)
    assert images.shape == (STRIP_LENGTH, 1, 32, 32) and caption.startswith("direction 2")
    with pytest.raises(DcganError, match=r"'z\[D\]' \(D from 0 to 15\)"):
        walk_along(explorer, 3, "z[16]")
    with pytest.raises(DcganError, match="K from 0 to 9"):
        walk_along(explorer, 3, "sideways")


def test_figure_walk_writes_the_strip_with_its_metadata(tmp_path):
    folder = tiny_model_folder(tmp_path / "tiny")
    out = tmp_path / "walk.png"
    command = [sys.executable, "-m", "dcgan", "figure", "walk", "--model", str(folder), "--seed", "5"]
    command += ["--along", "z[3]", "--out", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    image = Image.open(out)
    assert image.text["model"] == str(folder) and image.text["seed"] == "5" and image.text["along"] == "z[3]"
    assert image.text["caption"] == "z[3] swept from -3.0 to +3.0, the rest of z fixed"
    scale = 128 // 32  # as the app's export
    assert image.size == ((STRIP_LENGTH * (32 + 2) + 2) * scale, (32 + 4) * scale)  # 9 frames side by side
    explorer = Explorer.load(folder)
    assert np.array_equal(np.asarray(image), strip_pixels(explorer, walk_along(explorer, 5, "z[3]"), scale))

    bad = subprocess.run(command[:-2] + ["--out", str(tmp_path / "walk.jpg")], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "must end in .png" in bad.stderr


def test_the_library_imports_no_gradio():
    code = "import sys, dcgan.explore; print('gradio' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def interpolation_pixels(explorer: Explorer, interpolation: Interpolation, scale: int = 1) -> dict[str, np.ndarray]:
    images = interpolation_images(explorer, interpolation_paths(explorer, interpolation))
    return {
        method: np.asarray(grid_image(images[method].flatten(0, 1), nrow=interpolation.steps, padding=2, scale=scale))
        for method in INTERPOLATION_METHODS
    }


def test_the_library_interpolation_is_the_apps(tmp_path):
    """/interpolate, /interpolation_plot and /interpolation_export draw what the library computes."""
    gradio_client = pytest.importorskip("gradio_client")
    with running_app(tmp_path) as url:
        client = gradio_client.Client(url, verbose=False)
        _a, _b, app_caption, app_lerp, app_slerp, _query = client.predict(
            3, 8, "seed", "seed", 5, 3, api_name="/interpolate"
        )
        plot = client.predict(api_name="/interpolation_plot")
        files = client.predict(api_name="/interpolation_export")

    explorer = Explorer.load(tmp_path / "checkpoints" / "tiny-fashion", name="tiny-fashion")
    interpolation = Interpolation(seed_a=3, seed_b=8, steps=5, rows=3)
    images = interpolation_images(explorer, interpolation_paths(explorer, interpolation))
    contrast = path_contrast(images)
    assert app_caption == describe_interpolation(interpolation) + "\n\n" + describe_contrast(contrast)
    assert torch.allclose(contrast["lerp"], images["lerp"].flatten(2).std(dim=2).mean(dim=0))
    lerp_row = f"| lerp | {' | '.join(f'{value:.2f}' for value in contrast['lerp'].tolist())} |"
    assert lerp_row in app_caption and "| contrast (pixel std) | t=0.00 | t=0.25 |" in app_caption
    strips = interpolation_pixels(explorer, interpolation)  # the app sends them at 1x
    assert np.array_equal(np.asarray(Image.open(app_lerp)), strips["lerp"])
    assert np.array_equal(np.asarray(Image.open(app_slerp)), strips["slerp"])
    norms = path_norms(interpolation_paths(explorer, interpolation))
    traces = json.loads(plot["plot"])["data"]
    assert [trace["y"] for trace in traces] == [
        row for method in INTERPOLATION_METHODS for row in norms[method].tolist()
    ]
    exported = interpolation_pixels(explorer, interpolation, scale=2)  # exports: 64 px // 32 px
    for method in INTERPOLATION_METHODS:
        png = Image.open(next(f for f in files if f.endswith(f"-{method}.png")))
        contrast_text = " ".join(f"{value:.3f}" for value in contrast[method].tolist())
        assert png.text == {
            key: str(value) for key, value in interpolation_metadata(explorer, interpolation, method).items()
        } | {"contrast": contrast_text}
        assert np.array_equal(np.asarray(png), exported[method])
    table = Path(next(f for f in files if f.endswith("-norms.csv"))).read_text().splitlines()
    assert table[0] == "method,row,t,norm_z,contrast_mean_over_rows" and len(table) == 1 + 2 * 3 * 5
    method, row, t, norm, frame_contrast = table[-1].split(",")  # slerp, last row, last frame
    assert (method, row, t) == ("slerp", "2", "1.0000") and float(norm) == pytest.approx(
        float(norms["slerp"][2, 4]), abs=1e-4
    )
    assert float(frame_contrast) == pytest.approx(float(contrast["slerp"][4]), abs=1e-4)


def test_interpolation_rows_start_at_projected_images(tmp_path):
    explorer = Explorer.load(tiny_model_folder(tmp_path / "tiny"))
    projected = [0.5] * explorer.nz
    interpolation = Interpolation(seed_a=1, seed_b=2, steps=4, rows=2, start="my shoe", start_z=projected)
    paths = interpolation_paths(explorer, interpolation)
    assert paths["lerp"].shape == paths["slerp"].shape == (2, 4, explorer.nz)
    assert torch.equal(paths["lerp"][0, 0], torch.tensor(projected)) and torch.equal(
        paths["slerp"][0, 0], paths["lerp"][0, 0]
    )
    assert torch.equal(paths["lerp"][1, 0], interpolation_paths(explorer, Interpolation(1, 2, 4, 2))["lerp"][1, 0])
    assert describe_interpolation(interpolation).startswith(
        "Top row: **my shoe -> seed 2**; rows below: seeds 1+i -> 2+i"
    )
    norms = path_norms(paths)
    assert norms["slerp"].shape == (2, 4) and float(norms["lerp"][1, 1:-1].max()) < float(norms["slerp"][1, 1:-1].min())


def test_figure_interpolate_writes_lerp_above_slerp_with_the_exports_metadata(tmp_path):
    folder = tiny_model_folder(tmp_path / "tiny")
    out = tmp_path / "interpolation.png"
    command = [sys.executable, "-m", "dcgan", "figure", "interpolate", "--model", str(folder), "--seeds", "3", "8"]
    command += ["--steps", "5", "--rows", "3", "--out", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    image = Image.open(out)
    assert image.text["model"] == str(folder) and image.text["seeds"] == "3+i -> 8+i for i < 3"
    assert image.text["method"] == "lerp (rows 1-3) above slerp (rows 4-6)"
    assert (image.text["steps"], image.text["rows"]) == ("5", "3") and image.text["top_row"].startswith(
        "Top row: **seed 3"
    )
    scale, cell = 2, 32 + 2  # as the app's export: 64 px // 32 px
    assert image.size == ((5 * cell + 2) * scale, (6 * cell + 2) * scale)
    strips = interpolation_pixels(Explorer.load(folder), Interpolation(3, 8, 5, 3), scale=scale)
    pixels, half = np.asarray(image), 3 * cell * scale  # the slerp grid starts where the lerp grid's last padding does
    assert np.array_equal(pixels[: strips["lerp"].shape[0]], strips["lerp"])
    assert np.array_equal(pixels[half:], strips["slerp"])

    bad = subprocess.run(command[:-2] + ["--out", str(tmp_path / "i.gif")], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "must end in .png" in bad.stderr


def arithmetic_pixels(images: torch.Tensor, scale: int, nrow: int | None = None) -> np.ndarray:
    padding = 0 if len(images) == 1 else 2  # as the app's pictures
    return np.asarray(grid_image(images, nrow=nrow or len(images), padding=padding, scale=scale))


def test_the_library_arithmetic_is_the_apps(tmp_path):
    """/arithmetic_pick's pictures are what arithmetic_images draws for the same picks (as test_app's picks)."""
    gradio_client = pytest.importorskip("gradio_client")
    picks = (("A", 0), ("A", 1), ("B", 2), ("C", 3))
    with running_app(tmp_path) as url:
        client = gradio_client.Client(url, verbose=False)
        client.predict(3, api_name="/arithmetic_batch")
        for group, index in picks:
            result = client.predict(group, index, api_name="/arithmetic_pick")

    explorer = Explorer.load(tmp_path / "checkpoints" / "tiny-fashion", name="tiny-fashion")
    batch = sample_noise(24, explorer.nz, explorer.noise, seed=3)  # "batch 3, #i" is row i of seed 3
    groups = {group: batch[[index for g, index in picks if g == group]] for group in ARITHMETIC_GROUPS}
    images = arithmetic_images(explorer, groups)
    caption, *app_pictures, _query = result
    assert caption.startswith(f"**{describe_arithmetic({'A': 2, 'B': 1, 'C': 1})}**")
    assert caption.startswith("**(mean of 2 A) − B + C**")
    names = [f"{g} {kind}" for g in ARITHMETIC_GROUPS for kind in ("picks", "mean")]
    names += ["averaged", "single", "neighbourhood"]
    for name, app_picture in zip(names, app_pictures, strict=True):
        scale = {"picks": 2, "averaged": 6}.get(name.split()[-1], 4)  # 64, 192 or 128 px // 32 px
        expected = arithmetic_pixels(images[name], scale, nrow=3 if name == "neighbourhood" else None)
        assert np.array_equal(np.asarray(Image.open(app_picture)), expected), name
    averaged = Image.open(app_pictures[names.index("averaged")])  # a result downloads as a named PNG
    # the picks are in the name, so two worked examples never download under one name
    assert Path(averaged.filename).name == "arithmetic-tiny-fashion-A3.0+3.1-B3.2+C3.3-averaged.png"
    assert averaged.text["sum"] == "(mean of 2 A) − B + C" and averaged.text["model"] == "tiny-fashion"
    assert averaged.text["A"] == "batch 3, #0; batch 3, #1" and averaged.text["C"] == "batch 3, #3"

    latents = arithmetic_latents(explorer, groups)
    assert torch.equal(latents["A mean"][0], batch[:2].mean(0))
    assert torch.allclose(latents["neighbourhood"][0], batch[:2].mean(0) - batch[2] + batch[3])
    assert torch.allclose(latents["single"][0], batch[0] - batch[2] + batch[3])
    assert set(arithmetic_latents(explorer, {"A": groups["A"]})) == {"A picks", "A mean"}
    with pytest.raises(DcganError, match="this model's z has 16"):
        arithmetic_latents(explorer, {"A": torch.zeros(1, 5)})


def test_figure_arithmetic_writes_the_means_and_the_neighbourhood_with_metadata(tmp_path):
    folder = tiny_model_folder(tmp_path / "tiny")
    out = tmp_path / "arithmetic.png"
    command = [sys.executable, "-m", "dcgan", "figure", "arithmetic", "--model", str(folder)]
    command += ["--a", "1,2,3", "--b", "4", "--c", "5,6", "--out", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    image = Image.open(out)
    assert image.text["model"] == str(folder) and (image.text["A"], image.text["B"], image.text["C"]) == (
        "1,2,3",
        "4",
        "5,6",
    )
    assert image.text["sum"] == "(mean of 3 A) − B + (mean of 2 C)" and "3x3" in image.text["layout"]
    explorer = Explorer.load(folder)
    seeds = {"A": [1, 2, 3], "B": [4], "C": [5, 6]}
    images = arithmetic_images(explorer, {group: seeds_z(explorer, seeds[group]) for group in ARITHMETIC_GROUPS})
    every = torch.cat([images["A mean"], images["B mean"], images["C mean"], images["neighbourhood"]])
    assert np.array_equal(np.asarray(image), np.asarray(grid_image(every, nrow=3, padding=2, scale=2)))

    bad = subprocess.run(command[:-1] + [str(tmp_path / "a.jpg")], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "must end in .png" in bad.stderr
    bad = subprocess.run(command[:7] + ["--a", "1,x"] + command[9:], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "comma-separated whole numbers" in bad.stderr


def test_the_library_inside_look_and_ablation_are_the_apps(tmp_path):
    """/inside_look and /ablate draw what look_inside and ablate compute for the same seed and filters."""
    gradio_client = pytest.importorskip("gradio_client")
    with running_app(tmp_path) as url:
        client = gradio_client.Client(url, verbose=False)
        verdict, shown, plain, guided, *galleries, _query = client.predict(
            "generated", 3, None, api_name="/inside_look"
        )
        *ablated, caption, _query = client.predict("layer 1 (16 channels)", "3, 0, 3", "", 2, api_name="/ablate")

    explorer = Explorer.load(tmp_path / "checkpoints" / "tiny-fashion", name="tiny-fashion")
    look = look_inside(explorer, *inside_image(explorer, "generated", 3))
    assert verdict == f"D says: **{100 * look.real_probability:.1f}% real** (generated, seed 3)"
    assert np.array_equal(np.asarray(Image.open(plain)), np.asarray(gradient_image(look.saliency)))
    assert Path(plain).name == "inside-tiny-fashion-generated-seed-3-saliency.png"
    assert Image.open(plain).text == {key: str(value) for key, value in inside_metadata(explorer, look).items()} | {
        "figure": "saliency"
    }
    assert np.array_equal(np.asarray(Image.open(guided)), np.asarray(gradient_image(look.guided, signed=True)))
    shown_layers = [gallery["value"] for gallery in galleries if gallery["visible"]]
    assert [[item["caption"] for item in items] for items in shown_layers] == [
        [f"ch {channel}" for channel, _ in channels] for channels in look.layers
    ]

    ablation = ablate(explorer, 1, [3, 0, 3], seed=2)
    assert ablation.channels == [0, 3] and caption == describe_ablation(explorer, ablation)
    for app_picture, images in zip(ablated, ablation.intact_ablated_difference(), strict=True):  # before, after, diff
        assert np.array_equal(np.asarray(Image.open(app_picture)), np.asarray(grid_image(images, nrow=4, scale=2)))
    assert Path(ablated[1]).name == "ablation-tiny-fashion-layer1-ch0+3-seed2-after.png"  # channels: a unique name
    assert Image.open(ablated[1]).text["channels"] == "0,3" and Image.open(ablated[1]).text["figure"] == "after"


def test_inside_and_ablation_are_plain_data_with_clear_refusals(tmp_path):
    explorer = Explorer.load(tiny_model_folder(tmp_path / "tiny"))
    image, caption = inside_image(explorer, "generated", 4)
    look = look_inside(explorer, image, caption)
    assert look.image.shape == (1, 32, 32) and look.saliency.shape == look.guided.shape == (1, 32, 32)
    assert 0 < look.real_probability < 1 and len(look.layers) == 3
    channel, overlay = look.layers[2][0]
    assert overlay.shape == (32, 32, 3) and overlay.dtype == np.uint8
    detail = look_at_channel(explorer, image, 2, channel)
    assert detail.top_samples.shape == (9, 1, 32, 32) and detail.maximised.shape == (1, 32, 32)
    pixels, scores = explorer.probe()
    assert detail.best_probe_score == pytest.approx(float(scores[2][:, channel].max()))
    assert pixels.dtype == torch.uint8 and pixels.shape[1:] == (1, 32, 32)  # kept small, as shown
    best = int(scores[2][:, channel].argmax())
    assert torch.equal(detail.top_samples[0], pixels[best].float() / 127.5 - 1)
    trained, untrained = explorer.discriminator().state_dict(), explorer.untrained_discriminator().state_dict()
    assert {k: v.shape for k, v in trained.items()} == {k: v.shape for k, v in untrained.items()}
    assert not torch.equal(trained["blocks.0.0.weight"], untrained["blocks.0.0.weight"])
    assert float(untrained["blocks.0.0.weight"].std()) == pytest.approx(0.02, rel=0.1)  # the paper's init
    assert detail.guided_untrained.shape == detail.guided.shape
    assert not torch.allclose(detail.guided_untrained, detail.guided)
    with pytest.raises(DcganError, match="D's layers are 0-2, not 3"):
        look_at_channel(explorer, image, 3, 0)
    with pytest.raises(DcganError, match="upload an image"):
        inside_image(explorer, "upload", 0, None)

    assert generator_layer_widths(explorer) == [32, 16, 8]
    ablation = ablate(explorer, 0, [1, 2], seed=7)
    assert ablation.intact.shape == ablation.ablated.shape == (16, 1, 32, 32) and ablation.mean_change > 0
    again = ablate(explorer, 0, [1, 2], seed=7)
    assert torch.equal(again.ablated, ablation.ablated)  # the same seed and filters, the same pixels
    assert torch.equal(ablate(explorer, 0, [5], seed=7).intact, ablation.intact)  # the same noise before
    with pytest.raises(DcganError, match="layer 1 has channels 0-15"):
        ablate(explorer, 1, [16])
    with pytest.raises(DcganError, match="the generator has layers 0-2, not 3"):
        ablate(explorer, 3, [0])
    intact, ablated, difference = ablation.intact_ablated_difference()
    assert torch.allclose(difference, (intact - ablated).abs() - 1) and difference.min() >= -1  # grey: as is
    rgb = dataclasses.replace(ablation, intact=torch.zeros(2, 3, 4, 4), ablated=torch.zeros(2, 3, 4, 4))
    rgb.ablated[:, 0] = 1.0  # only red changed, by half the range
    grey = rgb.intact_ablated_difference()[2]
    assert torch.allclose(grey, torch.full_like(grey, 1 / 3 - 1))  # one grey level in every colour channel


def test_forgetting_a_class_zeroes_the_probes_filters_and_measures_against_random_ones(tmp_path):
    explorer = Explorer.load(tiny_model_folder(tmp_path / "tiny"))
    forgetting = forget_class(explorer, "Shirt", layer=0, seed=0)  # the untrained tiny model: Shirts and Bags
    z = sample_noise(PROBE_SAMPLES, explorer.nz, explorer.noise, seed=0)
    images, features = layer_features(explorer.generator, 0, z)
    shirts = explorer.judge()(images).argmax(1) == 6
    assert forgetting.class_samples == int(shirts.sum()) > 0
    assert forgetting.channels == (linear_probe(features, shirts) > 0).nonzero().flatten().tolist()
    assert 0 < len(forgetting.channels) < 32
    assert torch.equal(forgetting.intact, images[shirts][:FORGET_SHOWN])  # drawn where the class is
    _, expected = ablation_images(explorer.generator, z[shirts][:FORGET_SHOWN], 0, forgetting.channels)
    assert torch.equal(forgetting.ablated, expected)
    assert 0 <= forgetting.still_share <= 1 and 0 <= forgetting.random_still_share <= 1
    text = describe_forgetting(explorer, forgetting)
    assert f"picked the **{len(forgetting.channels)}**" in text and f"{100 * forgetting.still_share:.0f}%" in text
    assert forgetting_metadata(explorer, forgetting)["class"] == "Shirt"
    with pytest.raises(DcganError, match="0 are a Trouser"):
        forget_class(explorer, "Trouser")
    with pytest.raises(DcganError, match="pick a class from the list"):
        forget_class(explorer, "Hat")


def test_figure_inside_and_ablate_write_pngs_with_their_metadata(tmp_path):
    folder = tiny_model_folder(tmp_path / "tiny")
    inside_png, ablate_png, forget_png = tmp_path / "inside.png", tmp_path / "ablate.png", tmp_path / "forget.png"
    figure = [sys.executable, "-m", "dcgan", "figure"]
    commands = [
        figure + ["inside", "--model", str(folder), "--seed", "4", "--channel", "1", "2", "--out", str(inside_png)],
        figure
        + ["ablate", "--model", str(folder), "--layer", "0", "--channels", "1,2", "--seed", "7"]
        + ["--out", str(ablate_png)],
        figure + ["ablate", "--model", str(folder), "--class", "Shirt", "--out", str(forget_png)],
    ]
    for command in commands:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr

    explorer = Explorer.load(folder)
    look = look_inside(explorer, *inside_image(explorer, "generated", 4))
    inside = Image.open(inside_png)
    assert inside.text["image"] == "generated, seed 4" and inside.text["channel"] == "layer 1, channel 2"
    assert inside.text["verdict"] == f"{100 * look.real_probability:.1f}% real"
    assert inside.text["channels"].startswith("layer 0: " + ",".join(str(c) for c, _ in look.layers[0][:8]))
    # Rows 4 px apart: the image and its two maps (192 px); 3 layers x 8 channels (96 px); the channel's row
    # (four 192 px pictures and its 3x3 top samples, 3 * 34 + 2 px at scale 2).
    assert inside.size == (4 + 4 * (192 + 4) + (208 + 4), 4 + (192 + 4) + 3 * (96 + 4) + (208 + 4))

    ablation = ablate(explorer, 0, [1, 2], seed=7)
    image = Image.open(ablate_png)
    assert image.text["channels"] == "1,2" and image.text["seed"] == "7" and image.text["layer"] == "0"
    left = np.asarray(image.convert("RGB"))[8 : 8 + 276, 8 : 8 + 276]  # (4 * 34 + 2) px at scale 2
    assert np.array_equal(left, np.asarray(grid_image(ablation.intact, nrow=4, scale=2).convert("RGB")))

    neither = figure + ["ablate", "--model", str(folder), "--layer", "0", "--out", str(ablate_png)]
    forgotten = Image.open(forget_png)
    assert forgotten.text["class"] == "Shirt" and forgotten.text["layer"] == "2"  # the last hidden layer
    assert forgotten.text["caption"].startswith("A linear probe on layer 2's 8 filters picked the")
    assert forgotten.size[1] == 8 + (2 * 34 + 2) * 2 + 8  # 8 samples of the class, 4 a row, three grids
    bad = subprocess.run(neither, cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "--channels 0,5,12 or --class NAME" in bad.stderr


def test_the_default_seed_follows_its_stated_rule(tmp_path):
    """The app opens a model at the seed among 0-99 its classifier is surest about (D's favourite without one)."""
    explorer = Explorer.load(tiny_model_folder(tmp_path / "tiny"))
    seed, rule = default_seed(explorer)
    z = torch.cat([sample_noise(1, explorer.nz, explorer.noise, seed=s) for s in range(DEFAULT_SEED_POOL)])
    with torch.inference_mode():
        sureness = explorer.judge()(generate(explorer.generator, z)).softmax(1).amax(1)
    assert seed == int(sureness.argmax()) and "classifier is surest" in rule
    assert default_seed(explorer) == (seed, rule)  # computed once per model


def test_a_prepared_arithmetic_picks_what_the_classifier_is_surest_of():
    """The arithmetic tab's worked example on the shipped fashion-mnist-32: three samples of each class of the
    measured choice (tests/test_worked_examples.py), as its classifier reads them; a model without a classifier
    gets the mechanics (the first nine samples)."""
    from dcgan.explore.arithmetic import example_classes, gallery_z, prepared_picks, worked_arithmetic
    from dcgan.nets.workload import GALLERY_SIZE

    explorer = Explorer.load(Path(__file__).resolve().parents[1] / "checkpoints" / "fashion-mnist-32")
    picks, classes = prepared_picks(explorer, batches=8)
    names = list(explorer.judge().config.class_names)
    assert classes == example_classes(explorer) == worked_arithmetic(explorer).classes
    assert classes != ("Sneaker", "Sandal", "Ankle boot")  # the hand-picked triple whose result was just C
    for group, name in zip("ABC", classes, strict=True):
        z = torch.stack([gallery_z(explorer, batch)[index] for batch, index in picks[group]])
        with torch.inference_mode():
            called = explorer.judge()(generate(explorer.generator, z)).argmax(1)
        assert [names[int(c)] for c in called] == [name] * 3
        assert all(0 <= index < GALLERY_SIZE and 0 <= batch < 8 for batch, index in picks[group])
    explorer = Explorer.load(explorer.key)  # a fresh one: the choice is kept per model (Explorer.example)
    explorer.facts["data"] = "a-folder-of-my-own"  # no classifier: the mechanics only
    assert prepared_picks(explorer) == (
        {"A": [(0, 0), (0, 1), (0, 2)], "B": [(0, 3), (0, 4), (0, 5)], "C": [(0, 6), (0, 7), (0, 8)]},
        None,
    )
