"""Named attribute directions in z (dcgan/explore/attributes.py) and the walk's attribute sliders: found on a
generator whose attributes are known functions of z, read by a stand-in judge."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from browser.app_server import tiny_model_folder
from helpers import ZShownAsPixels

from dcgan.explore import attributes as attribute_directions
from dcgan.explore.attributes import (
    AttributeDirections,
    aligned_pairs,
    aligned_text,
    entanglement,
    entanglement_markdown,
    find_attribute_directions,
    keep_others_out,
)
from dcgan.explore.explorer import Explorer
from dcgan.explore.walk import WalkState, move_slider, strip_images, valid_dims, walk_along, walk_z
from dcgan.ui.session import VisitorState, apply_query, query_string

NZ = 8
NAMES = ["female", "glasses", "hat"]


def known_attributes(judge, images):
    """The stand-in judge: female when z0 > 0, glasses when z0 + z1 > 0 (entangled with female), a hat only
    when z2 > 2.8 (about 1 sample in 400)."""
    z = images[:, :, 0, 0]
    return torch.stack([torch.sigmoid(8 * z[:, 0]), torch.sigmoid(8 * (z[:, 0] + z[:, 1])), (z[:, 2] > 2.8).float()], 1)


@pytest.fixture
def judge(monkeypatch):
    monkeypatch.setattr(attribute_directions, "attribute_probabilities", known_attributes)
    return SimpleNamespace(config=SimpleNamespace(attributes=NAMES))


def test_each_direction_points_at_its_attribute_and_rare_ones_get_none(judge):
    found = find_attribute_directions(ZShownAsPixels(), judge, n=4000)
    assert found.names == ["female", "glasses"]  # too few hats (fewer than MIN_GROUP) for a direction
    assert found.positive_share["hat"] < 0.01 and abs(found.positive_share["female"] - 0.5) < 0.05
    e = torch.eye(NZ)
    assert float(found.direction("female") @ e[0]) > 0.95
    assert float(found.direction("glasses") @ ((e[0] + e[1]) / 2**0.5)) > 0.95
    assert torch.allclose(found.directions.norm(dim=1), torch.ones(2))
    # the same samples (seeded) give the same directions
    assert torch.equal(found.directions, find_attribute_directions(ZShownAsPixels(), judge, n=4000).directions)


def test_keeping_the_others_removes_their_directions(judge):
    found = find_attribute_directions(ZShownAsPixels(), judge, n=4000)
    glasses_alone = found.direction("glasses", keep_others=True)
    assert abs(float(glasses_alone @ found.direction("female"))) < 1e-5  # moving it leaves "female"'s score
    assert abs(float(glasses_alone.norm()) - 1) < 1e-5
    assert float(glasses_alone @ torch.eye(NZ)[1]) > 0.95  # what is left of z0 + z1 without z0: z1
    single = AttributeDirections(["a"], torch.eye(NZ)[:1], {"a": 0.5}, 10)
    assert torch.equal(keep_others_out(single.directions, 0), torch.eye(NZ)[0])


def test_directions_on_one_line_are_named_as_drawn_together():
    """faces-64 draws a beard on nearly every man: "beard" is "not woman", and keeping one holds the other."""
    unit = torch.eye(NZ)
    tilted = -(unit[0] + 0.2 * unit[2]) / (1 + 0.2**2) ** 0.5  # cosine -0.98 with female
    found = AttributeDirections(["female", "glasses", "facial_hair"], torch.stack([unit[0], unit[1], tilted]), {}, 10)
    assert [(a, b) for a, b, _ in aligned_pairs(found)] == [("female", "facial_hair")]
    assert "woman and beard are nearly one direction (cosine -0.98)" in aligned_text(found)
    apart = AttributeDirections(["female", "glasses"], unit[:2], {}, 10)
    assert aligned_pairs(apart) == [] and aligned_text(apart) == ""


def test_the_entanglement_table_shows_what_each_slider_drags_along(judge):
    found = find_attribute_directions(ZShownAsPixels(), judge, n=4000)
    plain = entanglement(ZShownAsPixels(), judge, found, n=200)
    kept = entanglement(ZShownAsPixels(), judge, found, keep_others=True, n=200)
    assert plain.shape == (2, 3, 3)
    glasses, female = 1, 0
    # +2 along glasses turns most samples to glasses; it also turns them female (entangled) unless kept
    assert plain[glasses, 2, glasses] > 0.85 and plain[glasses, 0, glasses] < 0.15
    assert plain[glasses, 2, female] > 0.75
    assert abs(float(kept[glasses, 2, female] - kept[glasses, 1, female])) < 0.1
    text = entanglement_markdown(found, plain)
    assert "| woman | +2 |" in text and "| glasses | -2 |" in text  # the sliders' names, not the judge's
    assert text.splitlines()[0] == "| slider | moved | woman | glasses | hat |"


@pytest.fixture
def explorer(tmp_path, monkeypatch):
    """A tiny real model whose walk has two attribute directions (fixed unit vectors)."""
    model = Explorer.load(tiny_model_folder(tmp_path / "tiny"), name="tiny")
    fixed = AttributeDirections(["glasses", "smiling"], _two(model.nz), {}, 100)
    monkeypatch.setattr(Explorer, "attribute_directions", lambda self: fixed)
    return model


def _two(nz: int) -> torch.Tensor:
    """Two unit directions at 60 degrees: glasses = e3, smiling = (e3 + sqrt(3) e4) / 2."""
    directions = torch.zeros(2, nz)
    directions[0, 3] = 1
    directions[1, 3], directions[1, 4] = 0.5, 3**0.5 / 2
    return directions


def test_attribute_sliders_move_z_along_their_direction_and_keep_others_projects(explorer):
    walk = walk_along(explorer, 3)
    start = walk_z(explorer, walk)
    assert move_slider(explorer, walk, "attribute", 1, 1.5)
    assert not move_slider(explorer, walk, "attribute", 2, 1.0)  # no third attribute
    assert torch.allclose(walk_z(explorer, walk) - start, 1.5 * _two(explorer.nz)[1], atol=1e-6)
    walk.keep_others = True
    moved = walk_z(explorer, walk) - start
    assert abs(float(moved[3])) < 1e-5 and abs(float(moved[4]) - 1.5) < 1e-5  # only e4: glasses kept
    assert move_slider(explorer, walk, "attribute", 1, 99.0) and walk.attributes["smiling"] == 3.0  # clamped
    assert move_slider(explorer, walk, "attribute", 1, 0.0) and walk.attributes == {}


def test_a_strip_walks_along_an_attribute_and_unknown_ones_are_dropped(explorer):
    walk = walk_along(explorer, 3, "attribute glasses")
    images, caption = strip_images(explorer, walk)
    assert images.shape[0] == 9 and caption.startswith("glasses: z moved from -3.00 to +3.00")
    walk.attributes = {"glasses": 7.0, "hat": 1.0}
    valid_dims(explorer, walk)
    assert walk.attributes == {"glasses": 3.0}


def test_attribute_amounts_and_keep_others_are_in_the_url():
    state = VisitorState(model="faces-64")
    state.walk = WalkState(seed=4, attributes={"glasses": 1.5, "smiling": -1.0}, keep_others=True)
    query = query_string(state)
    assert "attr=glasses:1.50,smiling:-1.00" in query and "keep=1" in query
    again = VisitorState()
    params = dict(item.split("=", 1) for item in query.split("&"))
    assert apply_query(again, params) == []
    assert again.walk.attributes == {"glasses": 1.5, "smiling": -1.0} and again.walk.keep_others
    assert apply_query(VisitorState(), {"attr": "glasses:nan"}) == ["attr"]
    assert apply_query(VisitorState(), {"attr": "<script>:1"}) == ["attr"]
