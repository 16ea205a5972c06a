"""The training tab: pick data and the paper's knobs, train in the background, watch the fixed-noise
grid sharpen and the curves move. One job per server (dcgan/jobs.py), the same for every visitor;
a page refresh finds it again. A finished (or stopped) run is a model the other tabs can pick.

The job belongs to the browser that started it: a random key kept in that browser's localStorage
(gr.BrowserState) goes with every start, pause, resume and stop, and only the job's own key (or the
host token) may control it. The host's budget (steps, minutes, pause) is checked before any data is
unpacked, and an uploaded .zip is unpacked only for as long as it takes to read its images."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import re
import shutil
import time
import uuid
from pathlib import Path

import gradio as gr
import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from ..config import Knob, ModelConfig, TrainConfig, help_text, knobs
from ..data import (
    IMAGE_EXTENSIONS,
    DatasetSpec,
    extract_image_zip,
    load_dataset,
    registered_datasets,
    uses_judge,
    zip_image_members,
)
from ..errors import DcganError
from ..hosting import HostLimits, data_roots, inside_data_roots
from ..images import gif_with_comment
from ..jobs import JobBudget, JobManager, JobSnapshot, finished_run_snapshot, last_finished_run, new_owner_key
from ..speed import describe as describe_speed
from ..speed import measure
from ..train import Trainer
from .common import (
    UserError,
    animation_output,
    export_folder,
    export_stem,
    named_png,
    number_from,
    shown_value,
    shows_user_errors,
)
from .fairness import heavy_turn, visitor_of
from .model_cache import shared_judge

MANAGER = JobManager()  # the server's one job
UPLOAD_LIMIT = "100 MB"
REFRESH_SECONDS = 2.0
OWNER_STORAGE_KEY = "dcgan-train-owner"  # the localStorage entry that holds this browser's job key

# The form's knobs, in the order of the /train_start API's parameters (its callers pass them by position).
# Each is a config field: its label, info text, choices and starting value come from the field's
# declaration in dcgan/config.py.
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


def server_folders() -> list[str]:
    """Image folders under the data roots (the roots themselves and their direct subfolders); a symlink
    that leads out of its root is not listed."""
    folders = []
    for root in data_roots():
        if root.is_dir():
            inside = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
            folders += [str(root)] + sorted(str(p) for p in inside if inside_data_roots(p, [root]) is not None)
    return folders


def resolve_server_folder(choice: str | None) -> str:
    """A listed folder, checked again on the server: a visitor cannot name an arbitrary path."""
    if not choice or choice not in server_folders():
        raise DcganError("pick one of the listed server folders (under the host's DCGAN_DATA_ROOTS); no other paths")
    return choice


def configs(settings: dict) -> tuple[ModelConfig, TrainConfig]:
    """The form's values -> validated configs (DcganError with the reason otherwise)."""
    family = settings["family"]
    # a knob of other families (image size, upsampling) is left to this family's own value
    model_values = {
        name: value for name, value in form_values(ModelConfig, settings).items()
        if not form_knob(name).families or family in form_knob(name).families
    }  # fmt: skip
    model = ModelConfig(**{"nc": 1} | model_values)  # nc: replaced by the data's channel count
    train_values = form_values(TrainConfig, settings)
    if settings.get("steps") is not None:
        train_values.pop("epochs", None)  # steps asked for instead (the API's callers and tests)
    return model, TrainConfig(**{"checkpoint_every": 500} | train_values)


def form_values(config_class: type, settings: dict) -> dict:
    """The fields of `config_class` in `settings`, as their field's type (a slider sends 64.0 for ngf)."""
    return {
        knob.name: knob.type(settings[knob.name]) for knob in knobs(config_class) if settings.get(knob.name) is not None
    }


def planned_steps(settings: dict, image_count: int) -> tuple[int, str]:
    """The trainer's own count (epochs x whole batches per epoch) for `image_count` images, and how it was made."""
    batch_size, epochs = int(settings["batch_size"]), int(settings["epochs"])
    if settings.get("steps") is not None:
        return int(settings["steps"]), "steps asked for"
    if epochs < 1:
        raise DcganError(f"epochs must be at least 1, not {epochs}")
    per_epoch = image_count // max(batch_size, 1)
    return epochs * per_epoch, f"{epochs} epochs x {per_epoch} batches of {batch_size} from {image_count:,} images"


def check_budget_before_data(settings: dict, image_count: int | None, budget: JobBudget) -> None:
    """Refuse a job over the step budget before any data is unpacked or decoded (image_count: what the
    source claims; None when only loading can tell, and then start_job checks after loading)."""
    if image_count:
        budget.check_steps(*planned_steps(settings, image_count))


def start_job(
    settings: dict,
    runs_dir: Path,
    owner_key: str | None = None,
    budget: JobBudget | None = None,
    unpacked: Path | None = None,
    owner_address: str | None = None,
) -> str:
    """Start the server's job from the form's settings; returns its name. DcganError if it can't.

    `owner_key` is the browser's key that may control the job (None: only the host); `unpacked`, a
    folder this request unpacked, is deleted as soon as its images are in memory, or on any error;
    `owner_address`, the starter's client address (fairness.client_address), for the slot's cooldown."""
    import dataclasses

    model, train = configs(settings)
    budget = budget or JobBudget()
    name = f"{Path(train.data).name}-{time.strftime('%Y%m%d-%H%M%S')}"

    def make_trainer() -> Trainer:
        dataset = load_dataset(train.data, model.image_size, download=False)
        if unpacked is not None:
            shutil.rmtree(unpacked, ignore_errors=True)  # the images are in memory now
        if len(dataset) < train.batch_size:
            where = Path(dataset.name).name  # not the server's path
            raise DcganError(f"{where} has {len(dataset)} images: fewer than one batch of {train.batch_size}")
        total, how = planned_steps(settings, len(dataset))
        budget.check_steps(total, how)  # before the models are built
        fitted = dataclasses.replace(model, nc=dataset.images.shape[1])
        # ~20 grids or more per run, at most 100 steps apart: a short run still shows a film strip
        paced = dataclasses.replace(train, sample_every=max(1, min(100, total // 20)))
        return Trainer(fitted, paced, Path(runs_dir) / name, dataset=dataset)

    try:
        judge = shared_judge() if uses_judge(Path(train.data).name) else None
        MANAGER.start(
            make_trainer,
            name,
            budget=budget,
            owner_key=owner_key,
            owner_address=owner_address,
            classify=judge,
            class_names=list(judge.config.class_names) if judge is not None else None,
        )
    finally:
        if unpacked is not None:
            shutil.rmtree(unpacked, ignore_errors=True)  # refused or failed: nothing stays on disk
    return name


def count_folder_images(folder: str) -> int:
    """Image files under a server folder (an upper bound: unreadable ones are skipped when loading)."""
    return sum(1 for path in Path(folder).rglob("*") if path.suffix.lower() in IMAGE_EXTENSIONS)


def unpack_folder(uploads_dir: Path, zip_file: str) -> Path:
    """Where this request unpacks a .zip: named after it (the run is), unique, under uploads/datasets."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(zip_file).stem).strip("-")[:40] or "images"
    return Path(uploads_dir) / "datasets" / f"{stem}-{uuid.uuid4().hex[:8]}"


def budget_text(limits: HostLimits) -> str:
    """The host's limits for a job, in a line under the form."""
    caps = []
    if limits.job_max_steps:
        caps.append(f"{limits.job_max_steps:,} steps")
    if limits.job_max_minutes:
        caps.append(f"{limits.job_max_minutes:g} minutes")
    text = f"On this server a job may take at most {' and '.join(caps)}. " if caps else ""
    if limits.job_pause_minutes:
        text += f"A job paused for {limits.job_pause_minutes:g} minutes is stopped. "
    if caps:
        text += "Longer runs: `python -m dcgan train` on your own machine. "
    return text + "Only the browser that starts a job (or the host) can pause, resume or stop it."


CURVE_COLOURS = {"loss_d": "#e4572e", "loss_g": "#2e86ab", "d_real": "#4c9f38", "d_fake": "#a23b72"}


def moving_average(values: list[float], window: int) -> list[float]:
    """Each value replaced by the mean of the `window` values ending at it (fewer at the start)."""
    sums = np.cumsum([0.0, *values])
    return [float(sums[i + 1] - sums[max(0, i + 1 - window)]) / min(i + 1, window) for i in range(len(values))]


def curves(snapshot: JobSnapshot | None) -> go.Figure:
    """Losses and D's outputs against steps: each a smoothed line over its raw values, drawn faint (a GAN's
    per-step values jump so much that the raw lines alone are a solid band). Thinned to ~600 points. The speed
    is in the status line, not a curve: on a projector the two curves are the tug of war a class should see."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("losses", "D(x) and D(G(z))"))
    rows = snapshot.metrics if snapshot else []
    window = max(1, min(100, len(rows) // 30))  # smoothing: ~1/30 of the run, at most 100 steps
    keep = slice(None, None, max(1, len(rows) // 600))
    steps = [row["step"] for row in rows][keep]
    for column, keys in ((1, ("loss_d", "loss_g")), (2, ("d_real", "d_fake"))):
        for key in keys:
            raw = [row[key] for row in rows]
            colour = CURVE_COLOURS.get(key, "#666666")
            faint = {"color": colour, "width": 1}
            figure.add_trace(
                go.Scatter(x=steps, y=raw[keep], name=key, mode="lines", line=faint, opacity=0.25, showlegend=False),
                1,
                column,
            )
            smooth = go.Scatter(x=steps, y=moving_average(raw, window)[keep], name=key, mode="lines")
            figure.add_trace(smooth.update(line={"color": colour, "width": 2}), 1, column)
    figure.update_layout(height=280, margin=dict(l=30, r=10, t=30, b=30), legend=dict(orientation="h"))
    return figure


def describe(snapshot: JobSnapshot | None) -> str:
    if snapshot is None:
        return "No training job on this server yet. Choose the data and knobs, then **Start**."
    eta = f", about {snapshot.eta_s / 60:.0f} min left" if snapshot.eta_s else ""
    speed = f", {snapshot.metrics[-1]['images_per_s']:.0f} images/s" if snapshot.metrics else ""
    text = f"**{snapshot.name}**: {snapshot.status}, step {snapshot.step} of {snapshot.total_steps}{speed}{eta}."
    if snapshot.message:
        text += f" {snapshot.message[0].upper()}{snapshot.message[1:]}."
    if snapshot.status in ("done", "stopped"):
        text += "\n\n" + finished_in_words(snapshot)
    if snapshot.status in ("running", "paused"):
        text += "\n\n" + who_controls(snapshot) + time_left(snapshot)
    return text


# Shown before any job ran on this server when runs/ holds no finished run: the run that trained the shipped
# fashion-mnist-32, kept small (scripts/make_example_run.py: a few grids, thinned curves, no weights).
EXAMPLE_RUN = Path(__file__).resolve().parents[2] / "assets" / "fashion-mnist-32-run"


def example_run(runs_dir: Path) -> JobSnapshot | None:
    """The newest finished run under runs_dir, else the shipped example run; None if neither exists."""
    run_dir = last_finished_run(runs_dir) or EXAMPLE_RUN
    gif = run_dir / "progress.gif"
    return _finished_run(str(run_dir), gif.stat().st_mtime) if gif.is_file() else None


@functools.lru_cache(maxsize=4)
def _finished_run(run_dir: str, gif_time: float) -> JobSnapshot | None:
    """finished_run_snapshot, read once per run (the tab's timer asks every 2 s)."""
    return finished_run_snapshot(run_dir)


def describe_example(snapshot: JobSnapshot) -> str:
    return (
        "No training job on this server yet. Choose the data and knobs, then **Start**. Meanwhile, below: "
        f"**{snapshot.name}**, a finished run of {snapshot.step:,} steps: its fixed-noise grid (scrub back "
        "through it with the film strip), its curves and its progress GIF."
    )


def finished_in_words(snapshot: JobSnapshot) -> str:
    """What a finished run means for a student, and what to do next."""
    if snapshot.status == "done":
        ended = f"Training is finished: the generator learned for all {snapshot.total_steps:,} steps."
    else:
        ended = f"Training stopped after {snapshot.step:,} of {snapshot.total_steps:,} steps."
    return (
        f"{ended} What it learned is saved as a model: pick **run: {snapshot.name}** in the model list at the "
        "top (press ↻ list first) and walk its latent space in the other tabs. To train it for longer, start a "
        "new run with more epochs."
    )


def who_controls(snapshot: JobSnapshot) -> str:
    if snapshot.yours:
        return "You started this job: you can pause, resume or stop it."
    if snapshot.owned:
        return "Started by another visitor: you can watch it."
    return "Started on the server: you can watch it."


def time_left(snapshot: JobSnapshot) -> str:
    if snapshot.ends_in_s is None:
        return ""
    minutes = f"{snapshot.ends_in_s / 60:.0f} min" if snapshot.ends_in_s >= 60 else f"{snapshot.ends_in_s:.0f} s"
    if snapshot.status == "paused":
        return f" Paused jobs are stopped to free the server: this one in {minutes} unless resumed."
    return f" The server's time limit stops it in {minutes}."


# ---- downloads: a run's grids and GIF under names that say what they are ---------------------------------------

_NAMED_COPIES: dict[tuple[str, int], str] = {}  # (a run's file, its mtime_ns) -> its named copy
MAX_NAMED_COPIES = 256


def run_metadata(snapshot: JobSnapshot) -> tuple[dict[str, str], str]:
    """What a run's downloaded picture carries besides its own: the model as the picker names it, and the
    run's model and training settings (its config.json, which rebuild it); and the model's shape for the
    file name ("-paper-32px")."""
    metadata = {"model": f"run: {snapshot.name}", "run": snapshot.name}
    try:
        config = json.loads((Path(snapshot.run_dir) / "config.json").read_text())
        model, train = config.get("model") or {}, config.get("train") or {}
    except (OSError, ValueError, AttributeError):
        return metadata, ""
    metadata |= {"model config": json.dumps(model), "train config": json.dumps(train)}
    return metadata, f"-{model.get('family')}-{model.get('image_size')}px" if model else ""


def named_run_file(snapshot: JobSnapshot, source: str | None, figure: str, step: int) -> str | None:
    """A copy of one of the run's pictures (a step grid's PNG, progress.gif) named after the run, its model
    and the step ("train-blobs-20261201-101010-paper-32px-step400-grid.png"), with run_metadata added (PNG
    text chunks, the GIF's comment): Gradio's download button then saves that name, not "progress.gif".
    Made once per version of the file: the tab's timer asks every 2 s, and the GIF is copied, never
    re-encoded. The run's own file when it cannot be read (it is still shown)."""
    if not source:
        return None
    try:
        key = (source, Path(source).stat().st_mtime_ns)
    except OSError:
        return source
    made = _NAMED_COPIES.get(key)
    if made and Path(made).is_file():  # the exports' sweep deletes copies after an hour: then make it again
        return made
    metadata, shape = run_metadata(snapshot)
    stem = f"train-{snapshot.name}{shape}-step{step}-{figure}"
    try:
        if source.endswith(".gif"):
            path = export_folder() / f"{export_stem(stem)}.gif"
            path.write_bytes(gif_with_comment(Path(source).read_bytes(), metadata | {"step": step}))
            made = str(path)
        else:
            with Image.open(source) as image:  # the grid's own text chunks (run, data, step) kept over ours
                made = named_png(image, stem, metadata | image.text)
    except (OSError, ValueError):
        return source
    if len(_NAMED_COPIES) >= MAX_NAMED_COPIES:
        _NAMED_COPIES.clear()
    _NAMED_COPIES[key] = made
    return made


def app_datasets() -> dict[str, DatasetSpec]:
    """The registered datasets this tab offers by name (the server has their files), name -> spec."""
    return {spec.name: spec for spec in registered_datasets() if spec.in_app}


def build(catalog, state: gr.State) -> gr.Timer:
    """The Train tab; returns its refresh timer, for the app to switch on while the tab is shown."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            named = app_datasets()
            data_kind = gr.Radio(
                [*named, "server folder", "uploaded .zip"],
                value=next(iter(named), "server folder"),
                label="data",
                elem_id="train-data",
            )
            # any value reaches the handler, which allows only listed folders (the check that matters)
            folder = gr.Dropdown(
                label="server folder (allowed roots only)",
                visible=False,
                allow_custom_value=True,
                elem_id="train-folder",
            )
            archive = gr.File(label=f"a .zip of images (up to {UPLOAD_LIMIT})", file_types=[".zip"], visible=False)
            widgets: dict[str, gr.components.Component] = {}
            with gr.Accordion("architecture", open=True):
                place_knobs(ARCHITECTURE_ROWS, widgets)
            with gr.Accordion("training", open=True):
                recipe = gr.Radio(
                    list(RECIPES), value="paper", label="recipe", info=RECIPE_INFO, elem_id="train-recipe"
                )
                place_knobs(TRAINING_ROWS, widgets)
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="train-start")
                pause = gr.Button("Pause", elem_id="train-pause")
                resume = gr.Button("Resume", elem_id="train-resume")
                stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
            with gr.Row():
                estimate = gr.Button("⏱ how long would it take?", size="sm", elem_id="train-estimate")
                estimate_text = gr.Markdown(elem_id="train-estimate-text")
            gr.Markdown(budget_text(catalog.limits), elem_id="train-budget")
            with gr.Accordion("host", open=False):
                host_token = gr.Textbox(
                    label="host token",
                    type="password",
                    info="The server's host can pause, resume or stop any job with it (printed at launch).",
                    elem_id="train-host-token",
                )
            # This browser's key to the job it starts: kept in localStorage, so a reload still controls it.
            owner_key = gr.BrowserState(None, storage_key=OWNER_STORAGE_KEY)
        with gr.Column(scale=3, min_width=360):
            status = gr.Markdown(describe(None), elem_id="train-status")
            warnings = gr.Markdown(elem_id="train-warnings")
            latest = gr.Image(
                label="fixed-noise samples, latest",
                type="filepath",
                format="png",
                interactive=False,
                height=320,
                elem_id="train-grid",
                elem_classes=["pixelated"],
            )
            with gr.Row():
                film_position = gr.Slider(0, 1, value=0, step=1, label="film strip: scrub back through the grids")
                follow = gr.Checkbox(value=True, label="follow the latest grid", elem_id="train-follow")
            film = gr.Image(label="the grid at that point", type="filepath", interactive=False, height=240)
            plot = gr.Plot(label="curves", elem_id="train-curves")
            gif = animation_output(
                "progress GIF (when the run ends): the grid through training", height=240, elem_id="train-gif"
            )

    def show_data_inputs(kind: str) -> tuple:
        return (
            gr.update(visible=kind == "server folder", choices=server_folders()),
            gr.update(visible=kind == "uploaded .zip"),
        )

    data_kind.change(show_data_inputs, data_kind, [folder, archive], api_visibility="private")
    recipe.input(
        lambda name: tuple(RECIPES[name][key] for key in ("batch_size", "lr_g", "lr_d", "ema")),
        recipe,
        [widgets[name] for name in ("batch_size", "lr_g", "lr_d", "ema")],
        api_visibility="private",
        queue=False,
    )

    # Named parameters, not *values: they are the /train_start API's, and the key stays optional there.
    # Each knob's parameter is named after its config field (FORM).
    def on_start(
        kind, folder_choice, zip_file, family, image_size, ngf, ndf, upsample, g_batchnorm, d_batchnorm, noise,
        g_loss, label_smoothing, lr_g, lr_d, beta1, batch_size, epochs, augment, ema, d_augment,
        r1, owner_key=None, request: gr.Request | None = None,
    ):  # fmt: skip
        arguments = locals()
        settings = {name: arguments[name] for name in FORM}
        key = owner_key if isinstance(owner_key, str) and owner_key.strip() else new_owner_key()
        address = visitor_of(request).address  # with the key: who must let others have a turn (jobs.py)
        budget = JobBudget.from_limits(catalog.limits)
        try:
            MANAGER.check_free(key, address)  # before any data is read or unpacked
            unpacked = None
            if kind == "server folder":
                settings["data"] = resolve_server_folder(folder_choice)
                check_budget_before_data(settings, count_folder_images(settings["data"]), budget)
            elif kind == "uploaded .zip":
                if not zip_file:
                    raise DcganError("upload a .zip of images first")
                check_budget_before_data(settings, len(zip_image_members(zip_file)), budget)
                unpacked = extract_image_zip(zip_file, unpack_folder(catalog.uploads_dir, zip_file))
                settings["data"] = str(unpacked)
            else:
                spec = app_datasets().get(kind)
                if spec is None:
                    raise DcganError(f"pick the data: {', '.join(app_datasets())}, a server folder or a .zip")
                settings["data"] = spec.name
                check_budget_before_data(settings, spec.train_images, budget)
            name = start_job(
                settings, catalog.runs_dir, owner_key=key, budget=budget, unpacked=unpacked, owner_address=address
            )
        except DcganError as error:
            raise UserError(error) from None
        gr.Info(f"training {name} started")
        return *refresh(None, owner_key=key), key

    def on_estimate(*values) -> str:
        *form_values, request = values
        with heavy_turn(request, "speed measurement"):  # a few real training steps: seconds of CPU
            return estimate_time(form_values[0], dict(zip(FORM, form_values[1:], strict=True)))

    # Gradio reads a handler's parameters (a gr.Request one gets the request): name them after the form.
    parameters = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in ("kind", *FORM)]
    request_parameter = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request)
    on_estimate.__signature__ = inspect.Signature([*parameters, request_parameter])
    on_estimate.__annotations__ = {"request": gr.Request}  # Gradio reads type hints from here, not the signature

    @shows_user_errors
    def estimate_time(kind: str, settings: dict) -> str:
        """A few training steps of these settings, measured on this server, as minutes an epoch."""
        MANAGER.check_free()  # a running job would slow the measurement, and its status shows its own speed
        model, train = configs(settings)
        spec = app_datasets().get(kind)
        model = dataclasses.replace(model, nc=spec.channels if spec else 3)
        images = spec.train_images if spec and spec.train_images else 1000  # a folder: per 1,000 images
        return describe_speed(measure(model, train.batch_size), images, int(settings["epochs"]))

    def control(action: str):
        def handler(owner_key: str | None = None, host_token: str | None = None) -> tuple:
            as_host = catalog.limits.is_host(host_token)
            try:
                MANAGER.control(action, owner_key, as_host=as_host)
            except DcganError as error:
                wrong_token = "the host token given is not this server's; " if host_token and not as_host else ""
                raise UserError(wrong_token + str(error)) from None
            return refresh(None, owner_key=owner_key)

        handler.__name__ = f"train_{action}"
        return handler

    def refresh(position: float | None, following: bool = True, owner_key: str | None = None) -> tuple:
        snapshot = MANAGER.snapshot(owner_key)
        example = None if snapshot else example_run(catalog.runs_dir)
        if example is not None:  # no job since the server started: a finished run shows what one looks like
            snapshot = example
        grids = snapshot.grids if snapshot else []
        last = len(grids) - 1
        index = last if following or position is None or not 0 <= int(position) <= last else int(position)
        warning_text = "\n".join(f"⚠️ {w}" for w in snapshot.warnings[-5:]) if snapshot else ""
        # While someone else's job runs, Start could only answer "wait": the status says whose job it is instead
        watching = example is None and snapshot is not None and snapshot.status in ("running", "paused")
        watching = watching and not snapshot.yours
        return (
            describe_example(example) if example else describe(snapshot),
            warning_text,
            named_run_file(snapshot, grids[-1][1], "grid", grids[-1][0]) if grids else None,
            gr.update(maximum=max(last, 1), value=max(index, 0), label=f"film strip: {len(grids)} grids, scrub back"),
            named_run_file(snapshot, grids[index][1], "grid", grids[index][0]) if grids else None,
            curves(snapshot),
            named_run_file(snapshot, snapshot.progress_gif, "progress", snapshot.step) if snapshot else None,
            gr.update(visible=not watching),
        )

    outputs = [status, warnings, latest, film_position, film, plot, gif, start]
    form = [widgets[name] for name in FORM]
    start.click(on_start, [data_kind, folder, archive, *form, owner_key], [*outputs, owner_key], api_name="train_start")
    estimate.click(on_estimate, [data_kind, *form], estimate_text, api_name="train_estimate")
    controllers = [owner_key, host_token]
    # Gradio 6 keeps a run history of every public event's inputs in the browser's localStorage (the page's
    # "runs" link): the host token typed here would stay there, in plain text, for the next person at that
    # machine. So the buttons' events are private, which Gradio does not record, and the API's /train_pause,
    # /train_resume and /train_stop (the same handlers, inputs and outputs, for scripts and gradio_client)
    # hang on a trigger no page shows.
    api_only = gr.Button(visible=False)  # never clicked: it only carries the API's endpoints
    for action, button in (("pause", pause), ("resume", resume), ("stop", stop)):
        handler = control(action)
        api_only.click(handler, controllers, outputs, api_name=f"train_{action}")
        button.click(handler, controllers, outputs, api_visibility="private", api_name=f"train_{action}_button")
    film_position.release(
        lambda p: (refresh(p, following=False)[4], False),
        film_position,
        [film, follow],
        api_visibility="private",
        queue=False,
        show_progress="hidden",
    )
    # Ticks only while the tab is on screen (see dcgan/ui/__init__.py): every Gradio event costs the
    # page ~150 ms of browser work, which would otherwise land on the other tabs' sliders.
    timer = gr.Timer(REFRESH_SECONDS, active=False)
    timer.tick(refresh, [film_position, follow, owner_key], outputs, api_name="train_status", show_progress="hidden")
    return timer
