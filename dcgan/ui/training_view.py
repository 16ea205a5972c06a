"""What the Train tab shows of a run (dcgan/ui/training.py): its status in words, its curves, the finished run
shown before any job ran, and its grids and GIF as downloads named after the run."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from dcgan.images import gif_with_comment
from dcgan.serve.jobs import JobSnapshot, finished_run_snapshot, last_finished_run
from dcgan.ui.common import export_folder, export_stem, named_png

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
