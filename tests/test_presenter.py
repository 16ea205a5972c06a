"""Presenter view (dcgan/ui/presenter.py): its URL key, its captions, and the components its CSS names.

The view itself (sizes, hidden controls, arrow keys) is tested in a browser: tests/browser/test_browser.py.
"""

import re
from urllib.parse import parse_qsl

import pytest

pytest.importorskip("gradio")
from browser.app_server import tiny_model_folder  # noqa: E402

from dcgan.ui import build_app, presenter, tabs  # noqa: E402
from dcgan.ui.session import VisitorState, apply_query, query_string  # noqa: E402


def test_present_round_trips_through_the_url_and_leaves_the_other_keys_alone():
    state = VisitorState(model="fashion-mnist-32", present=True)
    state.walk.seed = 7
    query = dict(parse_qsl(query_string(state), keep_blank_values=True))
    assert query["present"] == "1" and query["seed"] == "7"
    restored = VisitorState()
    assert apply_query(restored, query) == []
    assert restored.present and restored.walk.seed == 7

    # Off: an empty value, which the page's URL update removes; every other key is as before.
    off = dict(parse_qsl(query_string(VisitorState(model="fashion-mnist-32")), keep_blank_values=True))
    assert off.pop("present") == ""
    walk_and_interpolation = {
        "model",
        "tab",
        "seed",
        "z",
        "dims",
        "d",
        "k",
        "attr",
        "keep",
        "strip",
        "a",
        "b",
        "steps",
        "rows",
    }
    arithmetic_and_inside = {"batch", "pa", "pb", "pc", "look", "ch", "gl", "zero", "forget", "noise"}
    assert set(off) == walk_and_interpolation | arithmetic_and_inside
    assert not apply_query(shown := VisitorState(present=True), {"present": "0"}) and not shown.present
    assert apply_query(VisitorState(), {"present": "yes"}) == ["present"]


def test_each_figure_tab_has_a_paper_caption():
    figures = [("walk", 4), ("interpolation", 4), ("arithmetic", 7), ("inside", 5), ("inside-fig6", 6), ("train", 2)]
    for key, figure in figures:
        assert presenter.CAPTIONS[key].startswith(f"**Paper Fig. {figure}")
    # A caption belongs to a tab: its id, or its id and one of the figures it holds ("inside-fig6").
    assert {key.split("-fig")[0] for key in presenter.CAPTIONS} <= {spec.id for spec in tabs.TABS}


def test_every_component_presenter_view_names_exists_in_the_app(tmp_path):
    """Tabs are changed by others: an elem_id renamed there would silently drop a figure from the view."""
    tiny_model_folder(tmp_path / "checkpoints" / "tiny-fashion")
    demo = build_app(tmp_path / "checkpoints", tmp_path / "runs", tmp_path / "uploads", warm_default=False)
    elem_ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    named = [elem_id for ids in presenter.KEEP.values() for elem_id in ids] + list(presenter.UNTIL_DRAWN)
    named += ["presenter-toggle", "theme-link", "app-intro", "picker-row", "picker-more", "model-card-box"]
    assert [elem_id for elem_id in named if elem_id not in elem_ids] == []
    for selector in (s for selectors in presenter.UNTIL_DRAWN.values() for s in selectors):
        exact, prefix = re.fullmatch(r'#([\w-]+)|\[id\^="([\w-]+)"\]', selector).groups()
        assert exact in elem_ids if exact else any(elem_id.startswith(prefix) for elem_id in elem_ids), selector
    assert "dcgan-present" in presenter.CSS and "present" in presenter.SCRIPT
