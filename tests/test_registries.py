"""Extension points are registries: a new metric, tab or dataset is one declaration, no other edit."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
import torch

from dcgan.nets.config import ModelConfig
from dcgan.nets.models import Generator
from dcgan.quality import metrics
from dcgan.quality.metrics import evaluate, format_table, scalar_metric, table_rows

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


# ----------------------------------------------------------------------------- datasets


def _tiny_noise(request):
    """64 random 32x32 grey images, made in memory (seeded); load_dataset fits size and channels."""
    from dcgan.data.dataset import ImageDataset

    images = torch.rand(64, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return ImageDataset(images, None, None, request.name)


@pytest.fixture
def tiny_noise():
    from dcgan.data.registry import DatasetSpec, register_dataset, unregister_dataset

    spec = register_dataset(DatasetSpec("tiny-noise", _tiny_noise, image_size=32, channels=1))  # the one call
    yield spec
    unregister_dataset(spec.name)


def test_a_registered_dataset_trains_from_the_cli_with_no_other_edit(tiny_noise, tmp_path, capsys):
    from dcgan.cli.main import build_parser, main
    from dcgan.store.model_files import load_run_config

    run = tmp_path / "run"
    args = ["train", "--data", "Tiny_Noise", "--steps", "2", "--batch-size", "16", "--nz", "8", "--ngf", "8"]
    assert main([*args, "--ndf", "8", "--sample-every", "1", "--out", str(run)]) == 0
    assert (run / "model.safetensors").is_file() and (run / "training_state.safetensors").is_file()
    _, config = load_run_config(run)
    assert config.model.image_size == 32 and config.model.nc == 1  # the registered defaults
    assert "images: 64" in capsys.readouterr().out
    assert main(["train", "--resume", str(run), "--steps", "3"]) == 0  # a resume finds the data by name too
    subparsers = next(action for action in build_parser()._actions if action.dest == "command")
    assert "tiny-noise" in subparsers.choices["train"].format_help()  # --data's help lists it


def test_the_registry_answers_what_callers_ask(tiny_noise):
    from dcgan.data.loading import dataset_spec, load_dataset
    from dcgan.data.registry import is_registered_dataset, registered_datasets, uses_judge
    from dcgan.quality.feature_spaces import feature_extractor

    assert [spec.name for spec in registered_datasets()][:2] == ["fashion-mnist", "mnist"]
    assert is_registered_dataset("tiny-noise") and not is_registered_dataset("/some/folder")
    assert uses_judge("Fashion_MNIST") and not uses_judge("tiny-noise") and not uses_judge("mnist")
    assert dataset_spec("/some/folder").image_size == 64 and dataset_spec("emoji").channels == 3
    assert feature_extractor("auto", "tiny-noise").name.startswith("random")
    # load_dataset fits a loader's images to what was asked: size, channels, limit
    assert load_dataset("tiny-noise", 16, channels=3, limit=10).images.shape == (10, 3, 16, 16)


def test_the_registry_names_the_classifier_that_reads_each_dataset(tiny_noise):
    from dcgan.data.registry import classifier_name, uses_judge

    assert classifier_name("Fashion_MNIST") == "fashion-mnist-judge"
    assert classifier_name("emoji") == classifier_name("noto-emoji") == classifier_name("emoji-no-skin-tones")
    assert classifier_name("emoji") == "emoji-judge"
    assert classifier_name("mnist") is None and classifier_name("tiny-noise") is None
    assert classifier_name("/some/folder") is None
    assert not uses_judge("emoji")  # the metrics' 'auto' feature space stays the Fashion-MNIST judge's


def test_the_train_tab_offers_the_registered_app_datasets(monkeypatch):
    pytest.importorskip("gradio")
    from dcgan.data.registry import DatasetSpec, register_dataset, unregister_dataset
    from dcgan.ui import training

    assert list(training.app_datasets()) == ["fashion-mnist"]
    register_dataset(DatasetSpec("tiny-noise", _tiny_noise, image_size=32, in_app=True))
    try:
        assert list(training.app_datasets()) == ["fashion-mnist", "tiny-noise"]
    finally:
        unregister_dataset("tiny-noise")
