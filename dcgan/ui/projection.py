"""Real images in the latent space: project an uploaded (or dataset) image to z by optimisation,
watch the reconstruction converge, then use that z in the walk, the interpolation or the arithmetic."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import torch

from dcgan.data.loading import load_dataset
from dcgan.errors import DcganError
from dcgan.explore.explorer import Explorer
from dcgan.explore.inside import model_image
from dcgan.images import save_png, to_pil, to_uint8
from dcgan.nets.latent import ProjectionStep, project_image
from dcgan.nets.workload import MAX_PROJECTION_STEPS
from dcgan.serve.hosting import openable_data
from dcgan.ui.arithmetic import add_pick
from dcgan.ui.common import (
    Refresh,
    UserError,
    bounded_int,
    current_model,
    export_folder,
    image_output,
    image_upload,
    named_png,
    picture,
    shows_user_errors,
)
from dcgan.ui.fairness import HEAVY_SLOTS, heavy_turn
from dcgan.ui.session import GROUPS, UPDATE_URL_JS, Pick, VisitorState, WalkState

DATASET_SAMPLE = 2000  # images read from the model's dataset when the visitor asks for one


def panel(label: str, elem_id: str) -> gr.Image:
    return image_output(label, height=260, elem_id=elem_id)


# ---- plain functions ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def dataset_images(data: str, image_size: int, channels: int) -> torch.Tensor:
    """A few thousand test images of the model's own dataset (read once per dataset; local files only)."""
    return load_dataset(data, image_size, channels=channels, split="test", limit=DATASET_SAMPLE, download=False).images


def model_dataset_images(model: Explorer) -> torch.Tensor:
    """Test images of the model's own dataset, when the server may open it (else a DcganError that says why)."""
    data = str(model.facts.get("data", ""))
    if data in ("", "imported"):
        raise DcganError("this model's card names no dataset (it was imported); upload an image instead")
    return dataset_images(openable_data(data), model.image_size, model.generator.config.nc)


def dataset_example(model: Explorer, index: int | None = None) -> str:
    """Image `index` (a random one when None) of the model's test images, written to a PNG the upload box
    can show."""
    images = model_dataset_images(model)
    index = random.SystemRandom().randrange(len(images)) if index is None else index
    path = export_folder() / f"{Path(str(model.facts['data'])).name}-test-{index}.png"
    return str(save_png(to_pil(to_uint8(images[index])[0]), path))


EXAMPLE_STEPS = 300  # the worked example's optimisation steps (the slider's default)


def example_projection(model: Explorer) -> tuple[torch.Tensor, ProjectionStep]:
    """The worked example: the model's test image 0 and its projection, computed once per model (10-20 s on
    2 cores, so the app warms it in the background at start). DcganError when the server has no data for it."""

    def compute() -> tuple[torch.Tensor, ProjectionStep]:
        target = model_dataset_images(model)[0]
        *_, last = project_image(model.generator, target[None], steps=EXAMPLE_STEPS, report_every=EXAMPLE_STEPS)
        return target, last

    return model.example("projection", compute)


def claim_example(state: VisitorState, model: Explorer) -> tuple[str, torch.Tensor, ProjectionStep] | None:
    """The worked example, added to the visitor's projections as (name, target, projection); None when they
    have projected something, or the server has no data for it. Checked again after computing: on a cold
    model that takes seconds, and a projection of theirs that finished meanwhile stays the one selected."""
    if state.projected:
        return None
    try:
        target, found = example_projection(model)
    except DcganError:
        return None
    if state.projected:
        return None
    name = f"{Path(str(model.facts['data'])).name} test image 0"
    state.add_projected(name, found.z.tolist())
    return name, target, found


def target_file(model: Explorer, name: str, target: torch.Tensor) -> str:
    """What a projection is asked to draw (1, nc, S, S), as a PNG named after the model and the image."""
    metadata = {"model": model.name, "image": name, "figure": "target"}
    return named_png(picture(model, target), f"projection-{model.name}-{name}-target", metadata)


def reconstruction_file(model: Explorer, name: str, found: ProjectionStep, total: int) -> str:
    """G(z) of a projection's step as a PNG named after the model, the image and the step, carrying the pixel
    error and z itself: a downloaded reconstruction can be drawn again."""
    metadata = {
        "model": model.name,
        "image": name,
        "figure": "G(z)",
        "step": f"{found.step}/{total}",
        "mse": f"{found.loss:.5f}",
        "z": ",".join(f"{value:.6g}" for value in found.z.flatten().tolist()),
    }
    return named_png(picture(model, found.image[None]), f"projection-{model.name}-{name}-step{found.step}", metadata)


# ---- the tab: handlers, layout, events ---------------------------------------------------------------------


def project_handler(catalog) -> Callable:
    """/project: an image's z by optimisation, each report shown (its outputs: ProjectionParts.outputs)."""

    def project(state: VisitorState, path: str | None, inverted: bool, n_steps: float, request: gr.Request):
        with heavy_turn(request, "projection"):  # refused at once when over the visitor's share
            yield from _project(state, path, inverted, n_steps)

    def _project(state: VisitorState, path: str | None, inverted: bool, n_steps: float):
        model = current_model(catalog, state)
        if not path:
            raise UserError("upload an image first (or take one from the model's dataset)")
        try:
            target = model_image(model, path, inverted)
        except DcganError as error:
            raise UserError(error) from None
        name = f"{Path(path).stem[:24]} #{len(state.projected) + 1}"
        shown_target = target_file(model, name, target)
        total = bounded_int(n_steps, 1, MAX_PROJECTION_STEPS, "optimisation steps")
        for step in project_image(model.generator, target, steps=total, report_every=10):
            state.add_projected(name, step.z.tolist())  # every report: a Stop keeps the best z so far
            yield (
                state,
                shown_target,
                reconstruction_file(model, name, step, total),
                f"step {step.step}/{total}: pixel error (MSE, images in [-1, 1]) **{step.loss:.4f}**",
                gr.update(choices=list(state.projected), value=name),
            )

    return project


def use_handler(catalog, where: str, walk: Refresh, interpolation: Refresh, arithmetic: Refresh) -> Callable:
    """A projected z used elsewhere: walked from, interpolated from or to, added to an arithmetic group; then
    that tab is redrawn and shown."""

    def handler(state: VisitorState, name: str | None, group_name: str) -> tuple:
        z = state.projected.get(name or "")
        if z is None:
            raise UserError("project an image first")
        if where == "walk":
            old = state.walk
            state.walk = WalkState(base=z, base_label=name, dims=old.dims, custom_dims=old.custom_dims)
            return (*walk.fn(state), gr.Tabs(selected="walk"))
        if where in ("start", "end"):
            setattr(state.interpolation, where, name)
            return (*interpolation.fn(state), gr.Tabs(selected="interpolation"))
        model = current_model(catalog, state)
        note = add_pick(model, state, group_name, Pick(f"projected {name}", z))
        if note:
            gr.Info(note)
        return (*arithmetic.fn(state), gr.Tabs(selected="arithmetic"), group_name)

    handler.__name__ = f"use_in_{where}"
    return handler


def example_handler(catalog, example_outputs: list) -> Callable[[VisitorState], tuple]:
    """The worked example (its outputs: ProjectionParts.outputs)."""

    def example(state: VisitorState) -> tuple:
        """The tab's first open, nothing projected yet: the model's test image 0, projected (example_projection);
        its z is the visitor's to walk from, like their own projections. Nothing for a model without data."""
        model = current_model(catalog, state)
        claimed = claim_example(state, model)
        if claimed is None:
            return tuple(gr.update() for _ in example_outputs)
        name, target, found = claimed
        status_text = (
            f"A worked example: the model's test image 0, projected in {EXAMPLE_STEPS} steps; pixel error (MSE) "
            f"**{found.loss:.4f}**. Walk from it below, or project your own image."
        )
        return (
            state,
            target_file(model, name, target[None]),
            reconstruction_file(model, name, found, EXAMPLE_STEPS),
            status_text,
            gr.update(choices=list(state.projected), value=name),
        )

    return example


@dataclass
class ProjectionParts:
    """The tab's components, made by layout() in page order."""

    upload: gr.File
    example_button: gr.Button
    invert: gr.Checkbox
    steps: gr.Slider
    project_button: gr.Button
    stop_button: gr.Button
    original: gr.Image
    reconstruction: gr.Image
    status: gr.Markdown
    projected: gr.Dropdown  # the visitor's projected images
    use_buttons: dict[str, gr.Button]  # by where the z goes: walk, start, end, group
    to_group_name: gr.Radio


def build(
    catalog,
    state: gr.State,
    query: gr.Textbox,
    tabs: gr.Tabs,
    walk: Refresh,
    interpolation: Refresh,
    arithmetic: Refresh,
    arithmetic_group: gr.Radio,
) -> tuple[Refresh, Refresh]:
    """The Real images tab; returns its redraw and its worked example."""
    parts = layout()
    return wire(parts, catalog, state, query, tabs, walk, interpolation, arithmetic, arithmetic_group)


def layout() -> ProjectionParts:
    """The tab's components, inside the current gr.Tab."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=260):
            upload = image_upload("an image (any size or format; centre-cropped)", elem_id="project-upload")
            example_button = gr.Button("take an image from the model's dataset")
            invert = gr.Checkbox(label="invert (dark clothes on a light background: Fashion-MNIST is light on black)")
            steps = gr.Slider(50, MAX_PROJECTION_STEPS, value=300, step=10, label="optimisation steps")
            with gr.Row():
                project_button = gr.Button("Project into z", variant="primary", elem_id="project-run")
                stop_button = gr.Button("Stop", variant="stop")
        with gr.Column(scale=3, min_width=320):
            with gr.Row():
                original = panel("what the model is asked to draw", elem_id="project-original")
                reconstruction = panel("G(z): the closest it can draw", elem_id="project-reconstruction")
            status = gr.Markdown(
                "Upload an image, then **Project into z**: Adam moves z to make G(z) look like it.",
                elem_id="project-status",
            )
            projected = gr.Dropdown(label="projected images (yours, this session)", choices=[])
            with gr.Row():
                use_buttons = {
                    "walk": gr.Button("walk from it"),
                    "start": gr.Button("interpolate from it"),
                    "end": gr.Button("interpolate to it"),
                    "group": gr.Button("add to arithmetic group"),
                }
            to_group_name = gr.Radio(list(GROUPS), value="A", label="arithmetic group", min_width=120)
    return ProjectionParts(
        upload, example_button, invert, steps, project_button, stop_button, original, reconstruction, status,
        projected, use_buttons, to_group_name,
    )  # fmt: skip


def wire(
    parts: ProjectionParts,
    catalog,
    state: gr.State,
    query: gr.Textbox,
    tabs: gr.Tabs,
    walk: Refresh,
    interpolation: Refresh,
    arithmetic: Refresh,
    arithmetic_group: gr.Radio,
) -> tuple[Refresh, Refresh]:
    """The tab's events, in the order the app has always registered them (Gradio numbers them so)."""
    outputs = [state, parts.original, parts.reconstruction, parts.status, parts.projected]
    running = parts.project_button.click(
        project_handler(catalog),
        [state, parts.upload, parts.invert, parts.steps],
        outputs,
        api_name="project",
        concurrency_limit=HEAVY_SLOTS,  # a visitor's surplus is dequeued, and refused, while their first runs
        concurrency_id="projection",
    )
    parts.stop_button.click(None, None, None, cancels=[running])

    @shows_user_errors
    def take_example(state: VisitorState) -> str:
        return dataset_example(current_model(catalog, state))

    parts.example_button.click(take_example, state, parts.upload, api_name="dataset_example")
    use_inputs = [state, parts.projected, parts.to_group_name]
    for where, tab, extra in (
        ("walk", walk, []),
        ("start", interpolation, []),
        ("end", interpolation, []),
        ("group", arithmetic, [arithmetic_group]),
    ):
        used = parts.use_buttons[where].click(
            use_handler(catalog, where, walk, interpolation, arithmetic),
            use_inputs,
            [*tab.outputs, tabs, *extra],
            api_name=f"use_in_{where}",
        )
        used.then(None, query, None, js=UPDATE_URL_JS)

    def draw(state: VisitorState) -> tuple:
        names = list(state.projected)
        return state, gr.update(choices=names, value=names[-1] if names else None)

    example = example_handler(catalog, outputs)
    return Refresh(draw, [state], [state, parts.projected]), Refresh(example, [state], outputs)
