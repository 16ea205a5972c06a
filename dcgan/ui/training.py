"""The training tab: pick data and the paper's knobs, train in the background, watch the fixed-noise
grid sharpen and the curves move. One job per server (dcgan/serve/jobs.py), the same for every visitor;
a page refresh finds it again. A finished (or stopped) run is a model the other tabs can pick.

The job belongs to the browser that started it: a random key kept in that browser's localStorage
(gr.BrowserState) goes with every start, pause, resume and stop, and only the job's own key (or the
host token) may control it. The host's budget (steps, minutes, pause) is checked before any data is
unpacked, and an uploaded .zip is unpacked only for as long as it takes to read its images.

The form's widgets are made in dcgan/ui/training_form.py; what the tab shows of a run (status, curves, named
downloads) in dcgan/ui/training_view.py."""

from __future__ import annotations

import dataclasses
import inspect
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from dcgan.data.folders import IMAGE_EXTENSIONS, extract_image_zip, zip_image_members
from dcgan.data.loading import load_dataset
from dcgan.data.registry import DatasetSpec, registered_datasets, uses_judge
from dcgan.errors import DcganError
from dcgan.nets.config import ModelConfig, TrainConfig, knobs
from dcgan.serve.hosting import HostLimits, data_roots, inside_data_roots
from dcgan.serve.jobs import JobBudget, JobManager, new_owner_key
from dcgan.training.speed import describe as describe_speed
from dcgan.training.speed import measure
from dcgan.training.trainer import Trainer
from dcgan.ui.common import UserError, animation_output, shows_user_errors
from dcgan.ui.fairness import heavy_turn, visitor_of
from dcgan.ui.model_cache import shared_judge
from dcgan.ui.training_form import ARCHITECTURE_ROWS, FORM, RECIPE_INFO, RECIPES, TRAINING_ROWS, form_knob, place_knobs
from dcgan.ui.training_form import WIDGETS as WIDGETS  # re-exported: tests read the form from here
from dcgan.ui.training_form import widget_spec as widget_spec
from dcgan.ui.training_view import curves, describe, describe_example, example_run, named_run_file
from dcgan.ui.training_view import moving_average as moving_average  # re-exported: tests import it from here

MANAGER = JobManager()  # the server's one job
UPLOAD_LIMIT = "100 MB"
REFRESH_SECONDS = 2.0
OWNER_STORAGE_KEY = "dcgan-train-owner"  # the localStorage entry that holds this browser's job key


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


def app_datasets() -> dict[str, DatasetSpec]:
    """The registered datasets this tab offers by name (the server has their files), name -> spec."""
    return {spec.name: spec for spec in registered_datasets() if spec.in_app}


# ---- the tab: handlers, layout, events ---------------------------------------------------------------------


def refresh_handler(catalog) -> Callable[..., tuple]:
    """What the tab shows of the server's job (its outputs: TrainParts.outputs); the timer's /train_status."""

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

    return refresh


def start_handler(catalog, refresh: Callable[..., tuple]) -> Callable:
    """/train_start: the form's data and knobs -> the server's job, owned by this browser's key."""

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

    return on_start


def estimate_handler() -> Callable:
    """/train_estimate: a few training steps of the form's settings, measured on this server."""

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

    return on_estimate


def control_handler(catalog, refresh: Callable[..., tuple], action: str) -> Callable:
    """/train_pause, /train_resume or /train_stop: for the job's own browser, or the host's token."""

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


@dataclass
class TrainParts:
    """The tab's components, made by layout() in page order."""

    data_kind: gr.Radio
    folder: gr.Dropdown
    archive: gr.File
    widgets: dict[str, gr.components.Component]  # the form's knobs, by config field
    recipe: gr.Radio
    start: gr.Button
    pause: gr.Button
    resume: gr.Button
    stop: gr.Button
    estimate: gr.Button
    estimate_text: gr.Markdown
    host_token: gr.Textbox
    owner_key: gr.BrowserState
    status: gr.Markdown
    warnings: gr.Markdown
    latest: gr.Image
    film_position: gr.Slider
    follow: gr.Checkbox
    film: gr.Image
    plot: gr.Plot
    gif: gr.Image

    @property
    def outputs(self) -> list:
        """What refresh() returns, in its order."""
        return [self.status, self.warnings, self.latest, self.film_position, self.film, self.plot, self.gif, self.start]


def build(catalog, state: gr.State) -> gr.Timer:
    """The Train tab; returns its refresh timer, for the app to switch on while the tab is shown."""
    return wire(layout(catalog), catalog)


def layout(catalog) -> TrainParts:
    """The tab's components, inside the current gr.Tab: the form on the left, the run on the right."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            form = _form_column(catalog)
        with gr.Column(scale=3, min_width=360):
            run = _run_column()
    return TrainParts(*form, *run)


def _form_column(catalog) -> tuple:
    """The data, the knobs, the job's buttons (TrainParts' fields from data_kind to owner_key)."""
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
        recipe = gr.Radio(list(RECIPES), value="paper", label="recipe", info=RECIPE_INFO, elem_id="train-recipe")
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
    return (
        data_kind, folder, archive, widgets, recipe, start, pause, resume, stop, estimate, estimate_text, host_token,
        owner_key,
    )  # fmt: skip


def _run_column() -> tuple:
    """The run: its status, grids, curves and GIF (TrainParts' fields from status on)."""
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
    return status, warnings, latest, film_position, follow, film, plot, gif


def wire(parts: TrainParts, catalog) -> gr.Timer:
    """The tab's events, in the order the app has always registered them (Gradio numbers them so); returns the
    refresh timer (made here, after the page's components, as before)."""
    refresh = refresh_handler(catalog)
    widgets, owner_key, outputs = parts.widgets, parts.owner_key, parts.outputs

    def show_data_inputs(kind: str) -> tuple:
        return (
            gr.update(visible=kind == "server folder", choices=server_folders()),
            gr.update(visible=kind == "uploaded .zip"),
        )

    parts.data_kind.change(show_data_inputs, parts.data_kind, [parts.folder, parts.archive], api_visibility="private")
    parts.recipe.input(
        lambda name: tuple(RECIPES[name][key] for key in ("batch_size", "lr_g", "lr_d", "ema")),
        parts.recipe,
        [widgets[name] for name in ("batch_size", "lr_g", "lr_d", "ema")],
        api_visibility="private",
        queue=False,
    )
    form = [widgets[name] for name in FORM]
    data = [parts.data_kind, parts.folder, parts.archive]
    parts.start.click(
        start_handler(catalog, refresh), [*data, *form, owner_key], [*outputs, owner_key], api_name="train_start"
    )
    parts.estimate.click(estimate_handler(), [parts.data_kind, *form], parts.estimate_text, api_name="train_estimate")
    controllers = [owner_key, parts.host_token]
    # Gradio 6 keeps a run history of every public event's inputs in the browser's localStorage (the page's
    # "runs" link): the host token typed here would stay there, in plain text, for the next person at that
    # machine. So the buttons' events are private, which Gradio does not record, and the API's /train_pause,
    # /train_resume and /train_stop (the same handlers, inputs and outputs, for scripts and gradio_client)
    # hang on a trigger no page shows.
    api_only = gr.Button(visible=False)  # never clicked: it only carries the API's endpoints
    for action, button in (("pause", parts.pause), ("resume", parts.resume), ("stop", parts.stop)):
        handler = control_handler(catalog, refresh, action)
        api_only.click(handler, controllers, outputs, api_name=f"train_{action}")
        button.click(handler, controllers, outputs, api_visibility="private", api_name=f"train_{action}_button")
    parts.film_position.release(
        lambda p: (refresh(p, following=False)[4], False),
        parts.film_position,
        [parts.film, parts.follow],
        api_visibility="private",
        queue=False,
        show_progress="hidden",
    )
    # Ticks only while the tab is on screen (see dcgan/ui/__init__.py): every Gradio event costs the
    # page ~150 ms of browser work, which would otherwise land on the other tabs' sliders.
    timer = gr.Timer(REFRESH_SECONDS, active=False)
    inputs = [parts.film_position, parts.follow, owner_key]
    timer.tick(refresh, inputs, outputs, api_name="train_status", show_progress="hidden")
    return timer
