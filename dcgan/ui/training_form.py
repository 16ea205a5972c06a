"""The Train tab's form (dcgan/ui/training.py): one widget per config field, in FORM's order (the /train_start
API's parameters), laid out in rows, with the recipes that set several knobs at once."""

from __future__ import annotations

import math

import gradio as gr

from dcgan.nets.config import Knob, ModelConfig, TrainConfig, help_text, knobs
from dcgan.ui.common import UserError, number_from, shown_value

# The form's knobs, in the order of the /train_start API's parameters (its callers pass them by position).
# Each is a config field: its label, info text, choices and starting value come from the field's
# declaration in dcgan/nets/config.py.
FORM = (
    "family", "image_size", "ngf", "ndf", "upsample", "g_batchnorm", "d_batchnorm", "noise",
    "g_loss", "label_smoothing", "lr_g", "lr_d", "beta1", "batch_size", "epochs", "augment", "ema", "d_augment",
    "r1",
)  # fmt: skip
CONFIG_CLASSES = (ModelConfig, TrainConfig)

# How a knob looks, where not as its type says (choices: a radio; a bool: a checkbox; else a number box).
WIDGETS = {
    # 32 px: Fashion-MNIST's (the form's first data); 128 px is beyond a CPU's patience
    "image_size": dict(kind="radio", choices=[32, 64], value=32),
    "ngf": dict(kind="slider", minimum=8, maximum=128, step=8, elem_id="train-ngf"),
    "ndf": dict(kind="slider", minimum=8, maximum=128, step=8, elem_id="train-ndf"),
    "label_smoothing": dict(kind="slider", minimum=0, maximum=0.3, step=0.05),
    "lr_g": dict(elem_id="train-lr-g"),
    "batch_size": dict(kind="dropdown", choices=[32, 64, 128, 256], elem_id="train-batch"),
    "epochs": dict(value=5, precision=0, minimum=1, maximum=200, elem_id="train-epochs"),
    "ema": dict(choices=[0.0, 0.99, 0.999], elem_id="train-ema"),  # a radio of typical decays
    "r1": dict(choices=[0.0, 0.1, 1.0], elem_id="train-r1"),  # typical weights, as for the EMA
}
COMPONENTS = {"radio": gr.Radio, "checkbox": gr.Checkbox, "number": gr.Number, "slider": gr.Slider}
COMPONENTS["dropdown"] = gr.Dropdown


def form_knob(name: str) -> Knob:
    """The config field behind a form knob."""
    return next(knob for cls in CONFIG_CLASSES for knob in knobs(cls) if knob.name == name)


def widget_spec(name: str) -> tuple[str, dict]:
    """(component kind, its keyword arguments) for a form knob: the field's label, help, choices and
    default, then WIDGETS' presentation."""
    knob = form_knob(name)
    options = dict(WIDGETS.get(name, {}))
    default_kind = "checkbox" if knob.type is bool else "radio" if knob.choices or "choices" in options else "number"
    kind = options.pop("kind", default_kind)
    spec = dict(label=knob.label, info=help_text(knob), value=knob.default)
    if knob.choices:
        spec["choices"] = list(knob.choices)
    return kind, spec | options


def knob_widget(name: str) -> gr.components.Component:
    kind, spec = widget_spec(name)
    widget = COMPONENTS[kind](**spec)
    return checked_number(widget, spec["label"]) if kind in ("number", "slider") else widget


def checked_number(box: gr.Number | gr.Slider, label: str) -> gr.Number | gr.Slider:
    """A number box or slider that refuses what is not a number with a message naming it. A page sends
    numbers, but the API takes any JSON: Gradio's own checks compare and round whatever comes (NaN passes
    the bounds, then fails to round with a message-less error; "abc" fails to compare), and its bound error
    logs a traceback. (Patched on the instance, as in common.whole_number_box: a subclass makes Gradio write
    a stub.)"""
    gradio_checks = box.preprocess

    def preprocess(payload: object) -> float | int | None:
        if not math.isfinite(number_from(payload, label)):  # text, null, true: refused there
            raise UserError(f"{label} must be a number, not {shown_value(payload)}")
        try:
            return gradio_checks(payload)
        except gr.Error:  # out of range
            raise UserError(
                f"{label} must be from {box.minimum:g} to {box.maximum:g}, not {shown_value(payload)}"
            ) from None

    box.preprocess = preprocess
    return box


# The form's layout: knobs side by side in a row (the recipe radio comes before the training rows).
ARCHITECTURE_ROWS = (
    ("family",),
    ("image_size",),
    ("ngf", "ndf"),
    ("upsample",),
    ("g_batchnorm", "d_batchnorm"),
    ("noise",),
)
TRAINING_ROWS = (
    ("g_loss",),
    ("label_smoothing",),
    ("lr_g", "lr_d"),
    ("beta1", "batch_size"),
    ("epochs", "augment"),
    ("ema", "r1"),
    ("d_augment",),
)


def place_knobs(rows: tuple[tuple[str, ...], ...], widgets: dict) -> None:
    """Build each knob's widget, in rows, into `widgets` by field name."""
    for row in rows:
        if len(row) == 1:
            widgets[row[0]] = knob_widget(row[0])
            continue
        with gr.Row():
            for name in row:
                widgets[name] = knob_widget(name)


# Starting points for the knobs. "fast on this CPU": what reached a fixed Fashion-MNIST FID soonest on
# 2 CPU cores (bench/time_to_quality.py; bench/results/2026-11-23-time-to-quality-interleaved.md):
# small batches give more updates per second of CPU, a higher learning rate makes each count, and the
# EMA of G smooths the noise that brings.
RECIPES = {
    "paper": {"batch_size": 128, "lr_g": 2e-4, "lr_d": 2e-4, "ema": 0.0},
    "fast on this CPU": {"batch_size": 32, "lr_g": 3e-4, "lr_d": 3e-4, "ema": 0.999},
}
RECIPE_INFO = "paper: batch 128, lr 2e-4, no EMA. fast on this CPU: batch 32, lr 3e-4, EMA 0.999 (FID 35 ~3x sooner)."
