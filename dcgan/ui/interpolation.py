"""Interpolation: lerp and slerp side by side for several seed pairs (the paper's Figure 4), with the
norm of z along each path plotted: the teaching point of why slerp exists for Gaussian z."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import plotly.graph_objects as go
import torch

from dcgan.explore.explorer import Explorer
from dcgan.explore.interpolation import (
    INTERPOLATION_METHODS,
    Interpolation,
    describe_contrast,
    describe_interpolation,
    interpolation_export_scale,
    interpolation_images,
    interpolation_metadata,
    interpolation_paths,
    path_contrast,
    path_norms,
    typical_norm,
)
from dcgan.images import line_chart, save_png
from dcgan.nets.workload import MAX_INTERPOLATION_ROWS, MAX_INTERPOLATION_STEPS
from dcgan.ui.common import (
    Refresh,
    bounded_int,
    current_model,
    export_png_and_gif,
    export_stem,
    image_output,
    named_png,
    picture,
    random_seed,
    seed_box,
    seed_from,
    show_box,
)
from dcgan.ui.session import UPDATE_URL_JS, InterpolationState, VisitorState, query_string

# The plot's event waits this long in the browser: drawing a plotly figure holds the page's only thread
# for ~70 ms, which would otherwise delay the strips' images even though they arrived first.
AFTER_THE_STRIPS_JS = "(state) => new Promise((done) => setTimeout(() => done(state), 100))"


# ---- from the visitor's state to the library's ----------------------------------------------------------


def interpolation(state: VisitorState) -> Interpolation:
    """The visitor's settings as plain data, with the projected images' z they name."""
    settings = state.interpolation
    return Interpolation(
        settings.seed_a,
        settings.seed_b,
        settings.steps,
        settings.rows,
        settings.start,
        settings.end,
        state.projected.get(settings.start),
        state.projected.get(settings.end),
    )


def paths(model: Explorer, state: VisitorState) -> dict[str, torch.Tensor]:
    """{method: (rows, steps, nz)} for lerp and slerp."""
    return interpolation_paths(model, interpolation(state))


def norm_figure(model: Explorer, method_paths: dict[str, torch.Tensor]) -> go.Figure:
    """||z|| along every path: lerp's dips in the middle (through the low-density inside of the shell
    where Gaussian z lives), slerp's stays on it."""
    typical = typical_norm(model)
    colours = {"lerp": "#e4572e", "slerp": "#2e86ab"}
    traces = []  # plain dicts, one go.Figure at the end: add_trace per line is ~10x slower
    for method, norms in path_norms(method_paths).items():  # (rows, steps)
        t = torch.linspace(0, 1, norms.shape[1]).tolist()
        for row, values in enumerate(norms.tolist()):
            traces.append(
                {
                    "type": "scatter",
                    "x": t,
                    "y": values,
                    "mode": "lines+markers",
                    "name": method,
                    "legendgroup": method,
                    "showlegend": row == 0,
                    "line": {"color": colours[method], "width": 3 if row == 0 else 1},
                    "opacity": 1.0 if row == 0 else 0.45,
                }
            )
    typical_line = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": typical, "y1": typical}
    typical_line["line"] = {"dash": "dot", "color": "grey"}
    typical_label = {"xref": "paper", "x": 1, "y": typical, "text": f"typical ||z|| = {typical:.1f}"}
    typical_label |= {"showarrow": False, "xanchor": "right", "yanchor": "bottom"}
    layout = {
        "height": 260,
        "margin": {"l": 40, "r": 10, "t": 30, "b": 30},
        "title": {"text": "||z|| along each path", "font": {"size": 14}},
        "xaxis": {"title": {"text": "t"}},
        "legend": {"orientation": "h", "y": -0.25},
        "shapes": [typical_line],
        "annotations": [typical_label],
    }
    return go.Figure(data=traces, layout=layout)


def norms_csv(method_paths: dict[str, torch.Tensor], contrast: dict[str, torch.Tensor], path: Path) -> str:
    """The plot's numbers as a table: ||z|| of every frame of every row, and each frame's contrast."""
    lines = ["method,row,t,norm_z,contrast_mean_over_rows"]
    for method, norms in path_norms(method_paths).items():  # (rows, steps)
        t = torch.linspace(0, 1, norms.shape[1]).tolist()
        for row, values in enumerate(norms.tolist()):
            for step, value in enumerate(values):
                lines.append(f"{method},{row},{t[step]:.4f},{value:.4f},{float(contrast[method][step]):.4f}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def grid(model: Explorer, images: torch.Tensor, scale: int = 1) -> object:
    """(rows, steps, nc, S, S) -> one picture, a row per seed pair. On screen at 1x: the browser
    upscales it (crisp, see image_output) and the PNG is 4x cheaper to make than at 2x."""
    rows, steps = images.shape[:2]
    return picture(model, images.reshape(rows * steps, *images.shape[2:]), nrow=steps, scale=scale)


def strip_stem(model: Explorer, settings: InterpolationState) -> str:
    """The file name of the strips (shown and exported) for these settings; the method is added after it."""
    seeds = f"seeds{settings.seed_a}-{settings.seed_b}-rows{settings.rows}-steps{settings.steps}"
    ends = "" if settings.start == settings.end == "seed" else f"-from-{settings.start}-to-{settings.end}"
    return f"interpolation-{model.name}-{seeds}{ends}"


def shown_strips(model: Explorer, state: VisitorState, images: dict[str, torch.Tensor]) -> list[str]:
    """The lerp and slerp strips as the tab shows them (1x), as named PNGs with their settings inside."""
    stem, settings = strip_stem(model, state.interpolation), interpolation(state)
    files = []
    for method in INTERPOLATION_METHODS:
        metadata = interpolation_metadata(model, settings, method)
        files.append(named_png(grid(model, images[method]), f"{stem}-{method}", metadata))
    return files


# ---- the tab: handlers, layout, events ---------------------------------------------------------------------


def draw_handlers(catalog) -> tuple[Callable, Callable, Callable]:
    """(draw_strips, draw_plot, draw): what a run changes, the norm plot, and everything (a page load)."""

    def draw_strips(state: VisitorState) -> tuple:
        """What a run changes: the seeds (random ones), the caption, the two strips, the URL."""
        settings = state.interpolation
        if not state.model:
            return (state, settings.seed_a, settings.seed_b, "", None, None, query_string(state))
        model = current_model(catalog, state)
        images = interpolation_images(model, paths(model, state))
        lerp_grid, slerp_grid = shown_strips(model, state, images)
        text = describe_interpolation(interpolation(state)) + "\n\n" + describe_contrast(path_contrast(images))
        return (state, settings.seed_a, settings.seed_b, text, lerp_grid, slerp_grid, query_string(state))

    def draw_plot(state: VisitorState):
        if not state.model:
            return None
        model = current_model(catalog, state)
        return norm_figure(model, paths(model, state))

    def draw(state: VisitorState) -> tuple:
        """Everything, for a page load or a new model: the controls too (projected images may be new)."""
        settings = state.interpolation
        names = ["seed", *state.projected]
        settings.start = settings.start if settings.start in names else "seed"
        settings.end = settings.end if settings.end in names else "seed"
        controls = (
            gr.update(choices=names, value=settings.start),
            gr.update(choices=names, value=settings.end),
            settings.steps,
            settings.rows,
        )
        return (*draw_strips(state), *controls, draw_plot(state))

    return draw_strips, draw_plot, draw


def run_handlers(draw_strips: Callable[[VisitorState], tuple]) -> tuple[Callable, Callable]:
    """(run, run_random): the controls' settings, or two random seeds, then the strips."""

    def run(state, a, b, start_name, end_name, n_steps, n_rows) -> tuple:
        state.interpolation = InterpolationState(
            seed_from(a),
            seed_from(b),
            bounded_int(n_steps, 3, MAX_INTERPOLATION_STEPS, "steps"),
            bounded_int(n_rows, 1, MAX_INTERPOLATION_ROWS, "rows"),
            start_name or "seed",
            end_name or "seed",
        )
        return draw_strips(state)

    def run_random(state) -> tuple:
        settings = state.interpolation
        settings.seed_a, settings.seed_b = random_seed(), random_seed()
        settings.start = settings.end = "seed"
        return draw_strips(state)

    return run, run_random


def export_handler(catalog) -> Callable[[VisitorState], list[str]]:
    """/interpolation_export: both strips as PNG + GIF, the norms as CSV and as a chart."""

    def export(state: VisitorState) -> list[str]:
        model = current_model(catalog, state)
        settings = state.interpolation
        method_paths = paths(model, state)
        images = interpolation_images(model, method_paths)
        files = []
        stem = strip_stem(model, settings)
        contrast = path_contrast(images)
        for method in INTERPOLATION_METHODS:
            rows_images = images[method]  # (rows, steps, nc, S, S)
            # One GIF frame per step, holding every row: the whole Figure-4 block morphs at once.
            frames = [picture(model, rows_images[:, step], nrow=1) for step in range(settings.steps)]
            metadata = interpolation_metadata(model, interpolation(state), method)
            metadata["contrast"] = " ".join(f"{value:.3f}" for value in contrast[method].tolist())
            still = grid(model, rows_images, interpolation_export_scale(model))
            files += export_png_and_gif(still, frames, f"{stem}-{method}", metadata)
        table = norms_csv(method_paths, contrast, Path(files[0]).with_name(f"{export_stem(stem + '-norms')}.csv"))
        norms = {method: values.tolist() for method, values in path_norms(method_paths).items()}  # (rows, steps)
        t = torch.linspace(0, 1, settings.steps).tolist()
        chart = line_chart(t, norms, "||z|| along each path (t from 0 to 1)", (typical_norm(model), "typical ||z||"))
        metadata = interpolation_metadata(model, interpolation(state), "lerp and slerp")
        metadata = {key: str(value) for key, value in metadata.items()} | {"figure": "||z|| along the paths"}
        plot_png = save_png(chart, Path(files[0]).with_name(f"{export_stem(stem + '-norms')}.png"), metadata)
        return [*files, table, str(plot_png)]

    return export


@dataclass
class InterpolationParts:
    """The tab's components, made by layout() in page order."""

    seed_a: gr.Number
    seed_b: gr.Number
    start: gr.Dropdown  # the top row's start: a seed, or one of the visitor's projected images
    end: gr.Dropdown
    steps: gr.Slider
    rows: gr.Slider
    run_button: gr.Button
    random_button: gr.Button
    caption: gr.Markdown
    lerp_image: gr.Image
    slerp_image: gr.Image
    plot: gr.Plot
    export_button: gr.Button
    export_files: gr.File


def build(catalog, state: gr.State, query: gr.Textbox) -> Refresh:
    """The Interpolation tab; returns how to redraw it after a model change."""
    return wire(layout(), catalog, state, query)


def layout() -> InterpolationParts:
    """The tab's components, inside the current gr.Tab."""
    with gr.Row():
        seed_a = seed_box("seed A", 1, min_width=100, elem_id="interp-seed-a")
        seed_b = seed_box("seed B", 2, min_width=100, elem_id="interp-seed-b")
        start = gr.Dropdown(["seed"], value="seed", label="top row starts at", min_width=140)
        end = gr.Dropdown(["seed"], value="seed", label="top row ends at", min_width=140)
        steps = gr.Slider(3, MAX_INTERPOLATION_STEPS, value=9, step=1, label="steps", min_width=160)
        rows = gr.Slider(1, MAX_INTERPOLATION_ROWS, value=4, step=1, label="rows (seed pairs)", min_width=160)
    with gr.Row():
        run_button = gr.Button("Interpolate", variant="primary", elem_id="interp-run")
        random_button = gr.Button("🎲 random seeds", elem_id="interp-random")
    caption = gr.Markdown(elem_id="interp-caption")
    with gr.Row(equal_height=False):
        lerp_image = image_output("lerp: the straight line", elem_id="interp-lerp")
        slerp_image = image_output("slerp: along the sphere", elem_id="interp-slerp")
    with gr.Row(equal_height=False):
        plot = gr.Plot(label="norm of z along the path", scale=3, elem_id="interp-norms")
        with gr.Column(scale=1, min_width=180):
            export_button = gr.Button("export (PNG strips + GIFs)")
            export_files = gr.File(label="exports", file_count="multiple", interactive=False, height=140, visible=False)
    return InterpolationParts(
        seed_a, seed_b, start, end, steps, rows, run_button, random_button, caption, lerp_image, slerp_image, plot,
        export_button, export_files,
    )  # fmt: skip


def wire(parts: InterpolationParts, catalog, state: gr.State, query: gr.Textbox) -> Refresh:
    """The tab's events, in the order the app has always registered them (Gradio numbers them so)."""
    draw_strips, draw_plot, draw = draw_handlers(catalog)
    run, run_random = run_handlers(draw_strips)
    strip_outputs = [state, parts.seed_a, parts.seed_b, parts.caption, parts.lerp_image, parts.slerp_image, query]
    outputs = [*strip_outputs, parts.start, parts.end, parts.steps, parts.rows, parts.plot]
    inputs = [state, parts.seed_a, parts.seed_b, parts.start, parts.end, parts.steps, parts.rows]
    # ~0.1 s of work: skipping the queue saves its extra round trips. The plot comes in a second event:
    # drawing it holds up the browser's only thread, so the strips are painted first (bench/ui_latency.py).
    fast = {"queue": False, "trigger_mode": "always_last", "show_progress": "hidden"}
    triggers = [(parts.run_button.click, run, inputs, "interpolate")]
    triggers += [(parts.random_button.click, run_random, [state], "interpolate_random")]
    changes = (parts.seed_a.submit, parts.seed_b.submit, parts.steps.release, parts.rows.release)
    for event in (*changes, parts.start.input, parts.end.input):
        triggers.append((event, run, inputs, None))
    for event, handler, handler_inputs, api_name in triggers:
        api = {"api_name": api_name, "api_visibility": "public"} if api_name else {"api_visibility": "private"}
        images_drawn = event(handler, handler_inputs, strip_outputs, **api, **fast)
        images_drawn.then(None, query, None, js=UPDATE_URL_JS)
        plot_api = {"api_name": "interpolation_plot"} if api_name == "interpolate" else {"api_visibility": "private"}
        images_drawn.then(draw_plot, state, parts.plot, js=AFTER_THE_STRIPS_JS, **plot_api, **fast)
    parts.export_button.click(export_handler(catalog), state, parts.export_files, api_name="interpolation_export").then(
        show_box, None, parts.export_files, api_visibility="private", queue=False
    )  # hidden until it holds files: an empty box on first open is a blank panel
    return Refresh(draw, [state], outputs)
