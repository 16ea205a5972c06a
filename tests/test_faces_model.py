"""The shipped faces-64 model (issue 26): its named sliders move what they name, the app serves them and
keeps them in the URL, and the arithmetic tab opens on the paper's own sum."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
import pytest
from PIL import Image

from dcgan.explore.attributes import aligned_pairs
from dcgan.explore.explorer import Explorer
from dcgan.explore.walk import attribute_names

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
FACES = CHECKPOINTS / "faces-64"
SLIDERS = {"female", "glasses", "smiling"}  # the attributes Fig. 7's sums use: each needs its slider
KNOWN_WEAK_SLIDERS: set = set()  # (slider, keep the others) that do not raise it: none since the R1 model
pytestmark = pytest.mark.skipif(not (FACES / "model.safetensors").is_file(), reason="faces-64 is not shipped yet")


@pytest.fixture(scope="module")
def faces() -> Explorer:
    return Explorer.load(FACES)


def test_faces_64_is_shipped_with_a_judge_that_reads_its_attributes(faces):
    assert faces.judge() is not None and faces.judge().config.data == "faces"
    assert SLIDERS <= set(attribute_names(faces))


def test_each_slider_raises_the_attribute_it_is_named_for(faces):
    """The entanglement table's diagonal: +2 along "glasses" is read as glasses more often than -2."""
    found = faces.attribute_directions()
    drawn_together = {name for pair in aligned_pairs(found) for name in pair[:2]}  # kept, neither moves
    not_raising = {}
    for keep_others in (False, True):
        table = faces.entanglement(keep_others)  # (directions, -2/0/+2, attributes)
        for row, name in enumerate(found.names):
            if keep_others and name in drawn_together:
                continue
            column = list(found.positive_share).index(name)
            low, middle, high = table[row, :, column].tolist()
            # 64 samples a point: near 0% or 100% an attribute's reading is noise of a few samples
            if not (high > middle >= low - 0.05 and high - low > 0.2):
                not_raising[name, keep_others] = (round(low, 2), round(middle, 2), round(high, 2))
    # The first faces-64 (no R1) drew smiles with gender, and its smile slider failed; a model with a weak slider
    # must name it in KNOWN_WEAK_SLIDERS (and its card), so the set changes only on purpose.
    assert set(not_raising) == KNOWN_WEAK_SLIDERS, not_raising


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    pytest.importorskip("gradio")
    from browser.app_server import free_port

    from dcgan.ui import build_app, launch

    root = tmp_path_factory.mktemp("faces-app")
    (root / "checkpoints").mkdir()
    (root / "checkpoints" / "faces-64").symlink_to(FACES)
    demo = build_app(root / "checkpoints", root / "runs", root / "uploads", warm_default=False)
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_the_walk_tab_moves_along_a_named_attribute_and_keeps_it_in_the_url(app_url, faces):
    gradio_client = pytest.importorskip("gradio_client")
    client = gradio_client.Client(app_url, verbose=False)
    start = pixels(client.predict(3, api_name="/walk_seed")[1])
    slot = attribute_names(faces).index("glasses")
    moved, query = client.predict(2.0, api_name=f"/walk_attribute_{slot}")
    assert not np.array_equal(pixels(moved), start)
    assert dict(parse_qsl(query))["attr"] == "glasses:2.00"
    kept = client.predict(True, api_name="/walk_keep_others")
    image, table, query = kept[0], kept[1], kept[-1]
    assert dict(parse_qsl(query))["keep"] == "1" and "attr=glasses" in query
    assert not np.array_equal(pixels(image), pixels(moved))  # the other directions are projected out
    assert "with the other attributes kept" in table and "| glasses |" in table
    png, gif = client.predict(api_name="/walk_export")  # the export says what was moved
    assert Path(png).name.startswith("walk-faces-64-seed3-glasses+2") and "-kept-" in Path(png).name
    assert Path(gif).suffix == ".gif" and Image.open(png).text["model"] == "faces-64"


def test_the_arithmetic_tab_opens_on_the_papers_glasses_sum(faces):
    """Fig. 7 as published: man with glasses - man without + woman without, chosen by the judge."""
    from dcgan.explore.arithmetic import worked_arithmetic

    example = worked_arithmetic(faces)
    assert example.classes == ("man, glasses", "man", "woman")
    assert example.rule.startswith("The paper's own sum (its Figure 7)")
