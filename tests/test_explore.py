"""The explorer's math in the library (dcgan/explore.py): the same pixels as the app, reachable without it."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from browser.app_server import running_app, tiny_model_folder
from PIL import Image

from dcgan.errors import DcganError
from dcgan.explore import STRIP_LENGTH, Explorer, WalkState, strip_images, walk_along, walk_z
from dcgan.images import grid_image

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
