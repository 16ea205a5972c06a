"""Each config field is declared once (dcgan/nets/config.py): the train flags, the Train tab's form and model
cards all read its help, label, choices and defaults from there."""

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from dcgan.cli.main import build_parser
from dcgan.data.dataset import ImageDataset
from dcgan.errors import DcganError
from dcgan.nets.config import UNSTATED, ModelConfig, RunConfig, TrainConfig, help_text, knob_of, knobs
from dcgan.nets.config_flags import flag_name
from dcgan.training.cards import settings_table, train_command

CONFIG_CLASSES = (ModelConfig, TrainConfig)
EXPOSED = [knob for cls in CONFIG_CLASSES for knob in knobs(cls)]


def train_parser():
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    return commands.choices["train"]


def parse_configs(argv: list[str], monkeypatch) -> tuple[ModelConfig, TrainConfig]:
    """The CLI's configs for `argv`, with data loading stubbed out (a 1-image dataset)."""
    import dcgan.data.loading
    from dcgan.cli.main import _configs_from_args

    def no_data(data, image_size, channels=None, limit=None):
        return ImageDataset(torch.zeros(1, channels or 1, image_size, image_size), None, None, data)

    monkeypatch.setattr(dcgan.data.loading, "load_dataset", no_data)
    model, train, _ = _configs_from_args(build_parser().parse_args(["train", *argv]))
    return model, train


# ---------------------------------------------------------------- the declarations


@pytest.mark.parametrize("config_class", CONFIG_CLASSES)
def test_every_field_is_declared_with_a_knob(config_class):
    for field in dataclasses.fields(config_class):
        assert "knob" in field.metadata, f"{config_class.__name__}.{field.name} is not declared with option()"


def test_every_exposed_field_has_help_and_a_label():
    assert {"family", "image_size", "nc", "d_dropout", "lr_g", "epochs", "steps", "sync_bn"} <= {
        knob.name for knob in EXPOSED
    }
    for knob in EXPOSED:
        assert len(knob.help.strip()) > 10 and knob.label, knob.name
    hidden = {knob.name for cls in CONFIG_CLASSES for knob in knobs(cls, exposed_only=False)} - {
        knob.name for knob in EXPOSED
    }
    assert hidden == {"activation", "leaky_slope", "layers", "dense", "n_fixed"}


def test_help_text_adds_the_papers_value():
    assert help_text(knob_of(TrainConfig, "lr_g")).endswith("(paper: 2e-4)")
    assert help_text(knob_of(TrainConfig, "seed")) == knob_of(TrainConfig, "seed").help  # the paper is silent


# ---------------------------------------------------------------- the train flags


def test_a_flag_for_each_exposed_field_with_the_dataclass_default():
    actions = {action.dest: action for action in train_parser()._actions}
    for knob in EXPOSED:
        action = actions[knob.name]  # a flag's dest is its field's name
        assert action.option_strings == [flag_name(knob)]
        assert action.help and knob.help in action.help
        if knob.from_data or knob.resume_override:
            assert action.default is None  # the data's own / on --resume, the run's own
        else:
            assert action.default == knob.default, knob.name
        if knob.choices:
            assert list(action.choices) == list(knob.choices)


def test_flag_names_are_kept():
    options = {option for action in train_parser()._actions for option in action.option_strings}
    assert {
        "--no-g-batchnorm", "--no-d-batchnorm", "--no-channels-last", "--no-amp", "--channels", "--image-size",
        "--lr", "--lr-g", "--lr-d", "--epochs", "--steps", "--sync-bn", "--compile", "--out", "--resume",
        "--limit", "--augment", "--data", "--family", "--d-dropout", "--label-smoothing", "--g-loss", "--ema",
    } <= options  # fmt: skip


def test_help_shows_every_field():
    text = " ".join(train_parser().format_help().split())  # unwrapped
    for knob in EXPOSED:
        assert flag_name(knob) in text
        assert " ".join(knob.help.split()[:4]) in text, knob.name


def test_no_flags_give_the_dataclass_defaults(monkeypatch):
    model, train = parse_configs(["--steps", "3"], monkeypatch)
    assert model == ModelConfig(image_size=32, nc=1)  # fashion-mnist: 32 px, grey
    assert train == TrainConfig(steps=3)


def test_negated_switches_lr_and_exclusive_length(monkeypatch):
    argv = ["--steps", "3", "--no-g-batchnorm", "--no-amp", "--no-channels-last", "--lr", "1e-3", "--channels", "3"]
    model, train = parse_configs(argv + ["--sync-bn", "--augment"], monkeypatch)
    assert not model.g_batchnorm and model.d_batchnorm and model.nc == 3
    assert not train.amp and not train.channels_last and train.sync_bn and train.augment
    assert train.lr_g == train.lr_d == 1e-3
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--epochs", "1", "--steps", "1"])


def test_the_cli_takes_the_tutorial_familys_rules_from_model_config(monkeypatch):
    model, _ = parse_configs(["--family", "tutorial", "--steps", "1"], monkeypatch)
    assert (model.image_size, model.d_dropout) == (28, 0.3)
    model, _ = parse_configs(["--family", "tutorial", "--d-dropout", "0", "--steps", "1"], monkeypatch)
    assert model.d_dropout == 0.0
    with pytest.raises(DcganError, match="28x28"):
        parse_configs(["--family", "tutorial", "--image-size", "32", "--steps", "1"], monkeypatch)


# ---------------------------------------------------------------- family rules


def test_tutorial_family_is_28px_with_dropout():
    tutorial = ModelConfig(family="tutorial")
    assert (tutorial.image_size, tutorial.d_dropout) == (28, 0.3)
    assert ModelConfig(family="tutorial", d_dropout=0.0).d_dropout == 0.0  # said explicitly: kept
    paper = ModelConfig()
    assert (paper.image_size, paper.d_dropout) == (64, 0.0)
    with pytest.raises(DcganError, match="tutorial family makes 28x28 images, got image_size=32"):
        ModelConfig(family="tutorial", image_size=32)
    with pytest.raises(DcganError, match="family must be one of"):
        ModelConfig(family=["not", "a", "name"])  # a hostile config.json: a clear error, not a TypeError


def test_config_json_values_load_as_written(tmp_path):
    written = RunConfig(ModelConfig(family="tutorial", image_size=28, nc=1, d_dropout=0.1), TrainConfig(steps=2))
    written.save(tmp_path / "config.json")
    loaded = RunConfig.load(tmp_path / "config.json")
    assert loaded == written and loaded.model.d_dropout == 0.1
    assert loaded.to_dict() == written.to_dict()


# ---------------------------------------------------------------- the Train tab's form


@pytest.fixture(scope="module")
def training_ui():
    from dcgan.ui import training

    return training


def test_form_specs_come_from_the_fields(training_ui):
    for name in training_ui.FORM:
        knob = training_ui.form_knob(name)
        kind, spec = training_ui.widget_spec(name)
        assert spec["label"] == knob.label and spec["info"] == help_text(knob)
        presentation = training_ui.WIDGETS.get(name, {})
        if "choices" not in presentation and knob.choices:
            assert spec["choices"] == list(knob.choices) and kind == "radio"
        if "value" not in presentation:
            assert spec["value"] == knob.default, name
        if knob.type is bool:
            assert kind == "checkbox"


def test_built_form_shows_the_fields(training_ui):
    import gradio as gr

    from dcgan.serve.hosting import HostLimits

    catalog = SimpleNamespace(limits=HostLimits(), runs_dir="runs", uploads_dir="uploads")
    with gr.Blocks() as demo:
        training_ui.build(catalog, gr.State())
    by_label = {getattr(block, "label", None): block for block in demo.blocks.values()}
    for name in ("family", "upsample", "noise", "g_loss", "g_batchnorm", "lr_d", "beta1"):
        knob = training_ui.form_knob(name)
        widget = by_label[knob.label]
        assert widget.info == help_text(knob) and widget.value == knob.default
        if knob.choices:
            assert [value for _, value in widget.choices] == list(knob.choices)
    # the /train_start API's parameters stay the fields' names, in the form's order
    start = next(fn for fn in demo.fns.values() if fn.api_name == "train_start")
    assert [block.label for block in start.inputs[3:-1]] == [training_ui.form_knob(n).label for n in training_ui.FORM]


def test_form_tutorial_settings_follow_model_config(training_ui):
    settings = dict(family="tutorial", image_size=32, ngf=64.0, ndf=64, upsample="resize", g_batchnorm=True)
    settings |= dict(d_batchnorm=True, noise="normal", g_loss="minimax", label_smoothing=0.1, lr_g=2e-4, lr_d=3e-4)
    settings |= dict(beta1=0.5, batch_size=32, epochs=5, augment=False, ema=None, data="fashion-mnist")
    model, train = training_ui.configs(settings)
    assert (model.image_size, model.upsample, model.d_dropout, model.ngf) == (28, "transposed", 0.3, 64)
    assert (train.g_loss, train.lr_d, train.ema, train.epochs, train.checkpoint_every) == ("minimax", 3e-4, 0.0, 5, 500)
    model, _ = training_ui.configs(settings | dict(family="paper"))
    assert (model.image_size, model.upsample, model.d_dropout) == (32, "resize", 0.0)


# ---------------------------------------------------------------- model cards


def test_card_lists_settings_that_differ():
    run = RunConfig(ModelConfig(image_size=32, nc=1), TrainConfig(epochs=5, label_smoothing=0.1, seed=3))
    table = settings_table(run)
    assert "| label smoothing | **0.1** | 0 |" in table  # differs from the paper: in bold
    assert "| Adam beta1 | 0.5 | 0.5 |" in table  # the paper's recipe, kept
    assert "| seed | 3 |  |" in table  # a setting the paper is silent on, changed
    assert "sample every" not in table  # unchanged and not the paper's: left out
    for knob in EXPOSED:
        if knob.paper is not UNSTATED:
            assert f"| {knob.label} |" in table


def test_card_command_uses_the_flag_names():
    model = ModelConfig(family="tutorial", nc=1, g_batchnorm=False)
    command = train_command(RunConfig(model, TrainConfig(steps=10, amp=False, augment=True, device="cuda")))
    assert "--no-g-batchnorm" in command and "--no-amp" in command and "--augment" in command
    assert "--d-dropout" not in command  # the tutorial family's own 0.3
    assert "--device" not in command  # where it ran, not what it learned
