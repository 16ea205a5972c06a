"""Extension points are registries: a new metric, tab or dataset is one declaration, no other edit."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
import torch

from dcgan import metrics
from dcgan.config import ModelConfig
from dcgan.metrics import evaluate, format_table, scalar_metric, table_rows
from dcgan.models import Generator

# ----------------------------------------------------------------------------- metrics


def test_a_registered_metric_is_computed_and_shown_with_no_other_edit(idx_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    mean_pixel = scalar_metric(
        "mean_pixel",
        lambda measured: float(measured.fake.mean()),
        "mean pixel (higher is brighter)",
        spec=".4f",
        floor=lambda measured: float(measured.real.test.mean()),
    )
    monkeypatch.setattr(metrics, "METRICS", [*metrics.METRICS, mean_pixel])
    torch.manual_seed(0)
    generator = Generator(ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8))
    result = evaluate(generator, data=str(idx_folder), n=24, features="random", kid_subsets=3, cache=False)

    assert isinstance(result["mean_pixel"], float) and isinstance(result["floor"]["mean_pixel"], float)
    assert list(result)[-3:] == ["mean_pixel", "floor", "seconds"]  # the shipped keys keep their order
    row = table_rows(result)[-1]
    assert row == (
        "mean pixel (higher is brighter)",
        f"{result['mean_pixel']:.4f}",
        f"{result['floor']['mean_pixel']:.4f}",
    )
    assert "mean pixel (higher is brighter)" in format_table(result)


def test_results_without_a_registered_metric_still_make_a_table(monkeypatch):
    """Old eval.json files lack a newer metric's keys: its rows are left out, nothing fails."""
    monkeypatch.setattr(metrics, "METRICS", [*metrics.METRICS, scalar_metric("new", lambda measured: 1.0, "new")])
    old = {"fid": 1.0, "kid": 0.001, "kid_std": 0.0001, "precision": 0.5, "recall": 0.5, "k": 3, "class_coverage": None}
    old["memorisation"] = {"percentile": 1.0, "fraction_pixel": 0.0, "fraction_feature": 0.0}
    old["memorisation"] |= {"median_nn_pixel": 1.0, "median_nn_feature": 1.0}
    old["floor"] = {"fid": 0.5, "kid": 0.0, "kid_std": 0.0, "precision": 0.6, "recall": 0.6}
    old["floor"] |= {"memorised_fraction": 0.01, "median_nn_pixel": 1.0, "median_nn_feature": 1.0}
    labels = [row[0] for row in table_rows(old)]
    assert labels[0] == "FID (lower is better)" and "new" not in labels and len(labels) == 8


# ----------------------------------------------------------------------------- tabs


def _hello_tab(context):
    """A whole tab in a few lines: a box the model change redraws, and one endpoint."""
    import gradio as gr

    from dcgan.ui.common import Refresh
    from dcgan.ui.tabs import TabView

    box = gr.Textbox(label="hello", elem_id="hello-box")
    gr.Button("again").click(lambda state: f"hello {state.model}", context.state, box, api_name="hello")
    return TabView(Refresh(lambda state: f"hello {state.model}", [context.state], [box]))


def _tabs_of(demo) -> list[tuple[str, str]]:
    config = demo.get_config_file()
    return [(c["props"]["id"], c["props"]["label"]) for c in config["components"] if c["type"] == "tabitem"]


def test_a_registered_tab_is_built_wired_and_linked_with_no_other_edit(tmp_path, monkeypatch):
    pytest.importorskip("gradio")
    from browser.app_server import tiny_model_folder

    from dcgan.ui import build_app, tabs
    from dcgan.ui.session import DEFAULT_TAB, VisitorState, apply_query, query_string

    tiny_model_folder(tmp_path / "checkpoints" / "tiny-fashion")
    folders = (tmp_path / "checkpoints", tmp_path / "runs", tmp_path / "uploads")
    before = _tabs_of(build_app(*folders, warm_default=False))
    monkeypatch.setattr(tabs, "TABS", [*tabs.TABS, tabs.TabSpec("hello", "Hello", _hello_tab)])
    demo = build_app(*folders, warm_default=False)

    assert _tabs_of(demo) == [*before, ("hello", "Hello")]  # the others unchanged, in their order
    assert before[0][0] == DEFAULT_TAB == tabs.TABS[0].id
    config = demo.get_config_file()
    assert "hello" in {dependency["api_name"] for dependency in config["dependencies"]}
    assert any(c["props"].get("elem_id") == "hello-box" for c in config["components"])
    # the model-change redraw reaches the new tab's box too
    box_id = next(c["id"] for c in config["components"] if c["props"].get("elem_id") == "hello-box")
    redraws = [d for d in config["dependencies"] if d["api_name"] != "hello" and box_id in d["outputs"]]
    assert len(redraws) >= 2 and all(d["trigger_only_on_success"] for d in redraws)  # model change, page load

    state = VisitorState(model="tiny-fashion", tab="hello")
    assert "tab=hello" in query_string(state)
    restored = VisitorState()
    assert apply_query(restored, dict(parse_qsl(query_string(state)))) == [] and restored.tab == "hello"
