"""The training tab: pick data and the paper's knobs, train in the background, watch the fixed-noise
grid sharpen and the curves move. One job per server (dcgan/jobs.py), the same for every visitor;
a page refresh finds it again. A finished (or stopped) run is a model the other tabs can pick.

The job belongs to the browser that started it: a random key kept in that browser's localStorage
(gr.BrowserState) goes with every start, pause, resume and stop, and only the job's own key (or the
host token) may control it. The host's budget (steps, minutes, pause) is checked before any data is
unpacked, and an uploaded .zip is unpacked only for as long as it takes to read its images."""

from __future__ import annotations

import re
import shutil
import time
import uuid
from pathlib import Path

import gradio as gr
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..config import ModelConfig, TrainConfig
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
from ..jobs import JobBudget, JobManager, JobSnapshot, new_owner_key
from ..train import Trainer
from .common import UserError
from .model_cache import shared_judge

MANAGER = JobManager()  # the server's one job
UPLOAD_LIMIT = "100 MB"
REFRESH_SECONDS = 2.0
OWNER_STORAGE_KEY = "dcgan-train-owner"  # the localStorage entry that holds this browser's job key

# One line of "why" per knob: shown under each control.
WHY = {
    "family": "paper: all-conv G and D (the DCGAN paper). tutorial: TensorFlow's 28x28 DCGAN, a dense first layer.",
    "image_size": "32 suits Fashion-MNIST (28 padded up); 64 is the paper's size (4x the compute).",
    "ngf": "G's width. The paper used 128 at 64 px; 32-64 train fast on a CPU.",
    "ndf": "D's width. Keep it close to G's, or D wins too easily.",
    "upsample": "transposed convs (paper) can leave checkerboard artefacts; resize + conv avoids them.",
    "g_batchnorm": "Paper: BatchNorm in G except its output layer; without it training often collapses.",
    "d_batchnorm": "Paper: BatchNorm in D except its input layer.",
    "noise": "Paper: z ~ uniform(-1, 1) in its code; N(0, 1) is the common choice today.",
    "label_smoothing": "One-sided: real labels 1 -> 0.9 keeps D from over-confidence (Salimans et al. 2016).",
    "g_loss": "nonsaturating: G maximises log D(G(z)), strong gradients early (paper). minimax: the original.",
    "lr_g": "Paper: 2e-4 (the usual 1e-3 made training unstable).",
    "lr_d": "Paper: 2e-4. A higher D rate is TTUR (Heusel et al. 2017).",
    "beta1": "Paper: 0.5 (0.9 made training oscillate).",
    "batch_size": "Paper: 128.",
    "epochs": "Passes over the data. Fashion-MNIST: 1 epoch = 469 steps of 128, ~7 min on 2 CPU cores.",
    "augment": "Random flips and 2-pixel shifts: helps small datasets (a few thousand images).",
    "ema": "Samples from a moving average of G's weights (e.g. 0.999): smoother, often better. 0: off (paper).",
}


# Starting points for the knobs. "fast on this CPU": what reached a fixed Fashion-MNIST FID soonest on
# 2 CPU cores (bench/time_to_quality.py; bench/results/2026-11-23-time-to-quality-interleaved.md):
# small batches give more updates per second of CPU, a higher learning rate makes each count, and the
# EMA of G smooths the noise that brings.
RECIPES = {
    "paper": {"batch_size": 128, "lr_g": 2e-4, "lr_d": 2e-4, "ema": 0.0},
    "fast on this CPU": {"batch_size": 32, "lr_g": 3e-4, "lr_d": 3e-4, "ema": 0.999},
}
WHY["recipe"] = "paper: batch 128, lr 2e-4, no EMA. fast on this CPU: batch 32, lr 3e-4, EMA 0.999 (FID 35 ~3x sooner)."


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
    model = ModelConfig(
        family=family,
        image_size=28 if family == "tutorial" else int(settings["image_size"]),
        nc=1,  # replaced by the data's channel count
        ngf=int(settings["ngf"]),
        ndf=int(settings["ndf"]),
        upsample=settings["upsample"] if family == "paper" else "transposed",
        noise=settings["noise"],
        g_batchnorm=bool(settings["g_batchnorm"]),
        d_batchnorm=bool(settings["d_batchnorm"]),
        d_dropout=0.3 if family == "tutorial" else 0.0,
    )
    train = TrainConfig(
        data=settings["data"],
        batch_size=int(settings["batch_size"]),
        lr_g=float(settings["lr_g"]),
        lr_d=float(settings["lr_d"]),
        beta1=float(settings["beta1"]),
        epochs=int(settings["epochs"]) if settings.get("steps") is None else None,
        steps=settings.get("steps"),
        label_smoothing=float(settings["label_smoothing"]),
        g_loss=settings["g_loss"],
        augment=bool(settings["augment"]),
        ema=float(settings.get("ema") or 0.0),
        checkpoint_every=500,
    )
    return model, train


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
) -> str:
    """Start the server's job from the form's settings; returns its name. DcganError if it can't.

    `owner_key` is the browser's key that may control the job (None: only the host); `unpacked`, a
    folder this request unpacked, is deleted as soon as its images are in memory, or on any error."""
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


def curves(snapshot: JobSnapshot | None) -> go.Figure:
    """Losses, D's outputs and throughput against steps (thinned to ~600 points)."""
    figure = make_subplots(rows=1, cols=3, subplot_titles=("losses", "D(x) and D(G(z))", "images / s"))
    rows = snapshot.metrics if snapshot else []
    rows = rows[:: max(1, len(rows) // 600)]
    steps = [row["step"] for row in rows]
    for column, keys in ((1, ("loss_d", "loss_g")), (2, ("d_real", "d_fake")), (3, ("images_per_s",))):
        for key in keys:
            figure.add_trace(go.Scatter(x=steps, y=[row[key] for row in rows], name=key, mode="lines"), 1, column)
    figure.update_layout(height=280, margin=dict(l=30, r=10, t=30, b=30), legend=dict(orientation="h"))
    return figure


def describe(snapshot: JobSnapshot | None) -> str:
    if snapshot is None:
        return "No training job on this server yet. Choose the data and knobs, then **Start**."
    eta = f", about {snapshot.eta_s / 60:.0f} min left" if snapshot.eta_s else ""
    speed = f", {snapshot.metrics[-1]['images_per_s']:.0f} images/s" if snapshot.metrics else ""
    text = f"**{snapshot.name}**: {snapshot.status}, step {snapshot.step} of {snapshot.total_steps}{speed}{eta}."
    if snapshot.message:
        text += f" {snapshot.message}."
    if snapshot.status in ("done", "stopped"):
        text += f" The run is a model now: pick `run: {snapshot.name}` in the model list above (↻ list)."
    if snapshot.status in ("running", "paused"):
        text += "\n\n" + who_controls(snapshot) + time_left(snapshot)
    return text


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
            with gr.Accordion("architecture", open=True):
                family = gr.Radio(["paper", "tutorial"], value="paper", label="family", info=WHY["family"])
                image_size = gr.Radio([32, 64], value=32, label="image size", info=WHY["image_size"])
                with gr.Row():
                    ngf = gr.Slider(8, 128, value=64, step=8, label="ngf", info=WHY["ngf"], elem_id="train-ngf")
                    ndf = gr.Slider(8, 128, value=64, step=8, label="ndf", info=WHY["ndf"], elem_id="train-ndf")
                upsample = gr.Radio(
                    ["transposed", "resize"], value="transposed", label="upsampling", info=WHY["upsample"]
                )
                with gr.Row():
                    g_bn = gr.Checkbox(value=True, label="BatchNorm in G", info=WHY["g_batchnorm"])
                    d_bn = gr.Checkbox(value=True, label="BatchNorm in D", info=WHY["d_batchnorm"])
                noise = gr.Radio(["normal", "uniform"], value="normal", label="noise", info=WHY["noise"])
            with gr.Accordion("training", open=True):
                recipe = gr.Radio(
                    list(RECIPES), value="paper", label="recipe", info=WHY["recipe"], elem_id="train-recipe"
                )
                g_loss = gr.Radio(
                    ["nonsaturating", "minimax"], value="nonsaturating", label="G loss", info=WHY["g_loss"]
                )
                smoothing = gr.Slider(0, 0.3, value=0, step=0.05, label="label smoothing", info=WHY["label_smoothing"])
                with gr.Row():
                    lr_g = gr.Number(value=2e-4, label="G learning rate", info=WHY["lr_g"], elem_id="train-lr-g")
                    lr_d = gr.Number(value=2e-4, label="D learning rate", info=WHY["lr_d"])
                with gr.Row():
                    beta1 = gr.Number(value=0.5, label="Adam beta1", info=WHY["beta1"])
                    batch = gr.Dropdown(
                        [32, 64, 128, 256], value=128, label="batch size", info=WHY["batch_size"], elem_id="train-batch"
                    )
                with gr.Row():
                    epochs = gr.Number(
                        value=5,
                        precision=0,
                        minimum=1,
                        maximum=200,
                        label="epochs",
                        info=WHY["epochs"],
                        elem_id="train-epochs",
                    )
                    augment = gr.Checkbox(value=False, label="augment", info=WHY["augment"])
                ema = gr.Radio([0.0, 0.99, 0.999], value=0.0, label="EMA of G", info=WHY["ema"], elem_id="train-ema")
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="train-start")
                pause = gr.Button("Pause", elem_id="train-pause")
                resume = gr.Button("Resume", elem_id="train-resume")
                stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
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
            gif = gr.File(label="progress GIF (when the run ends)", interactive=False)

    def show_data_inputs(kind: str) -> tuple:
        return (
            gr.update(visible=kind == "server folder", choices=server_folders()),
            gr.update(visible=kind == "uploaded .zip"),
        )

    data_kind.change(show_data_inputs, data_kind, [folder, archive], api_visibility="private")
    recipe.input(
        lambda name: tuple(RECIPES[name][key] for key in ("batch_size", "lr_g", "lr_d", "ema")),
        recipe,
        [batch, lr_g, lr_d, ema],
        api_visibility="private",
        queue=False,
    )

    # Named parameters, not *values: they are the /train_start API's, and the key stays optional there.
    def on_start(
        kind, folder_choice, zip_file, family, image_size, ngf, ndf, upsample, g_batchnorm, d_batchnorm, noise,
        g_loss, label_smoothing, lr_g, lr_d, beta1, batch_size, epochs, augment, ema, owner_key=None,
    ):  # fmt: skip
        settings = dict(
            family=family, image_size=image_size, ngf=ngf, ndf=ndf, upsample=upsample, g_batchnorm=g_batchnorm,
            d_batchnorm=d_batchnorm, noise=noise, g_loss=g_loss, label_smoothing=label_smoothing, lr_g=lr_g,
            lr_d=lr_d, beta1=beta1, batch_size=batch_size, epochs=epochs, augment=augment, ema=ema,
        )  # fmt: skip
        key = owner_key if isinstance(owner_key, str) and owner_key.strip() else new_owner_key()
        budget = JobBudget.from_limits(catalog.limits)
        try:
            MANAGER.check_free()  # before any data is read or unpacked
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
            name = start_job(settings, catalog.runs_dir, owner_key=key, budget=budget, unpacked=unpacked)
        except DcganError as error:
            raise UserError(error) from None
        gr.Info(f"training {name} started")
        return *refresh(None, owner_key=key), key

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
        grids = snapshot.grids if snapshot else []
        last = len(grids) - 1
        index = last if following or position is None or not 0 <= int(position) <= last else int(position)
        warning_text = "\n".join(f"⚠️ {w}" for w in snapshot.warnings[-5:]) if snapshot else ""
        return (
            describe(snapshot),
            warning_text,
            grids[-1][1] if grids else None,
            gr.update(maximum=max(last, 1), value=max(index, 0), label=f"film strip: {len(grids)} grids, scrub back"),
            grids[index][1] if grids else None,
            curves(snapshot),
            snapshot.progress_gif if snapshot and snapshot.progress_gif else None,
        )

    outputs = [status, warnings, latest, film_position, film, plot, gif]
    knobs = [family, image_size, ngf, ndf, upsample, g_bn, d_bn, noise, g_loss, smoothing, lr_g, lr_d, beta1]
    knobs += [batch, epochs, augment, ema]
    start.click(
        on_start, [data_kind, folder, archive, *knobs, owner_key], [*outputs, owner_key], api_name="train_start"
    )
    controllers = [owner_key, host_token]
    pause.click(control("pause"), controllers, outputs, api_name="train_pause")
    resume.click(control("resume"), controllers, outputs, api_name="train_resume")
    stop.click(control("stop"), controllers, outputs, api_name="train_stop")
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
