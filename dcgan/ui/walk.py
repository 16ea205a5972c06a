"""Latent walk: one z, sliders for its most telling dimensions and for discovered directions,
and the paper's "walking in the latent space" strip of 9 images along one of them."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from dcgan.errors import DcganError
from dcgan.explore.attributes import aligned_pairs, aligned_text, attribute_label, entanglement_markdown
from dcgan.explore.explorer import Explorer, default_seed
from dcgan.explore.walk import (
    STRIP_LENGTH,
    WALK_DIMS,
    WALK_DIRECTIONS,
    attribute_names,
    dim_limit,
    direction_limit,
    edited_z,
    move_slider,
    strip_choices,
    strip_images,
    strip_metadata,
    valid_dims,
    walk_z,
)
from dcgan.nets.workload import ENTANGLEMENT_SAMPLES
from dcgan.ui.common import (
    Refresh,
    UserError,
    as_text,
    current_model,
    export_png_and_gif,
    image_output,
    named_png,
    number_from,
    picture,
    random_seed,
    render,
    seed_box,
    seed_from,
    show_box,
    signed,
)
from dcgan.ui.model_cache import Catalog, prepared_model
from dcgan.ui.session import UPDATE_URL_JS, VisitorState, WalkState, apply_query, query_string

N_DIM_SLIDERS = WALK_DIMS
N_DIRECTION_SLIDERS = WALK_DIRECTIONS
N_ATTRIBUTE_SLIDERS = 5  # the faces judge reads 5: woman, glasses, smile, beard, hat
SLIDER_KINDS = ("dim", "direction", "attribute")


# The walk's math (seed_z, walk_z, the limits, strip_images, move_slider, valid_dims) is dcgan/explore/'s.


# ---- the fast path for slider moves --------------------------------------------------------------------------
# Gradio's own release event costs this page's browser tab ~150 ms (bench/ui_latency.py; 46 ms in a page
# with one slider): before and after its request it snapshots the props of every component that was
# ever an input or output, a few thousand values here, on the page's only thread. So PREVIEW_SCRIPT
# (in the page's <head>) holds the slider's pointerup back, fetches the picture from PREVIEW_PATH (a
# plain GET that rebuilds the walk from the page's URL, ~10 ms), paints it, and only then hands the
# pointerup on to Gradio, whose event updates the state, the URL and the strip with the same picture.

PREVIEW_PATH = "walk-preview.png"

PREVIEW_SCRIPT = """<script>
document.addEventListener('pointerup', (event) => {
    const input = event.target;
    const box = input.closest && input.closest('[id^="walk-dim-"], [id^="walk-direction-"], [id^="walk-attribute-"]');
    if (event.dcganPassOn || !box || input.type !== 'range') return;
    const [, kind, slot] = box.id.match(/^walk-(dim|direction|attribute)-(\\d+)$/) || [];
    if (kind === undefined) return;
    event.stopImmediatePropagation();
    let passed = false;
    const passOn = () => {  // exactly once, whatever happens to the preview
        if (passed) return;
        passed = true;
        const again = new PointerEvent('pointerup', { bubbles: true, composed: true });
        again.dcganPassOn = true;
        input.dispatchEvent(again);
    };
    setTimeout(passOn, 300);
    fetch('PATH?' + window.location.search.slice(1) + '&move=' + kind + ':' + slot + ':' + input.value)
        .then((response) => {
            if (!response.ok) return null;
            // The URL holds the move at once, so a quick second move starts from this one.
            const url = new URL(window.location.href);
            for (const [key, value] of new URLSearchParams(response.headers.get('X-Query') || '')) {
                if (value === '') url.searchParams.delete(key); else url.searchParams.set(key, value);
            }
            window.history.replaceState(null, '', url);
            return response.blob();
        })
        .then((blob) => {
            const img = document.querySelector('#walk-image img');
            // Too late (Gradio's event already has the move, and may have painted it): leave it to Gradio.
            if (!blob || !img || passed) return passOn();
            const url = URL.createObjectURL(blob);
            img.addEventListener('load', () => {
                URL.revokeObjectURL(url);
                requestAnimationFrame(passOn);  // Gradio's turn once the picture is painted
            }, { once: true });
            img.src = url;
        })
        .catch(passOn);  // Gradio's event for the same move then shows any error
}, true);
</script>""".replace("PATH", PREVIEW_PATH)


class ModelNotReady(DcganError):
    """The preview's model is not loaded and prepared yet (answered 503: try the slider's own event)."""


def preview_png(catalog: Catalog, params: dict[str, str]) -> tuple[bytes, str]:
    """The walk image for a page's query string plus `move=kind:slot:value` (the slider just released),
    as PNG bytes (the same picture the slider's Gradio handler draws), and the query string after the
    move. DcganError/ValueError if bad."""
    state = VisitorState()
    apply_query(state, params)
    if not state.model:
        raise DcganError("no model in the query")
    # Only a model whose walk is ready: preparing one (seconds to minutes) here would hold the server's one
    # preview slot; the slider's own Gradio event draws the image meanwhile.
    model = prepared_model(catalog, state.model)
    if model is None:
        raise ModelNotReady(f"{state.model} is still being prepared")
    valid_dims(model, state.walk)
    move = params.get("move", "").split(":")
    if len(move) != 3 or move[0] not in SLIDER_KINDS:
        raise ValueError("move= must be dim:SLOT:VALUE, direction:SLOT:VALUE or attribute:SLOT:VALUE")
    kind, slot, value = move
    move_slider(model, state.walk, kind, int(slot), float(value))
    buffer = io.BytesIO()
    render(model, walk_z(model, state.walk)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue(), query_string(state)


def describe_start(walk: WalkState, model: Explorer | None = None) -> str:
    if walk.base is not None:
        label = as_text(walk.base_label or "a projected image")  # an uploaded image's file name: text
        return f"Walking from **{label}** (type a seed to go back to seeds)."
    seed, rule = default_seed(model) if model is not None else (None, "")
    why = f" (the model's default: {rule})" if walk.seed == seed else ""
    return f"Walking from **seed {walk.seed}**{why}."


# ---- downloads: the file names and metadata of the tab's pictures ----------------------------------------------


def walk_stem(model: Explorer, walk: WalkState) -> str:
    """What draws the walk's image, for a file name: the model, the start, and every slider moved
    ("walk-fashion-mnist-32-seed5-z66+1.25-d0-0.50"); the dimension sliders shown do not change it."""
    start = f"seed{walk.seed}" if walk.base is None else f"from-{walk.base_label or 'projected'}"
    edits = "".join(f"-z{dim}{signed(value)}" for dim, value in sorted(walk.edits.items()))
    offsets = "".join(f"-d{k}{signed(value)}" for k, value in sorted(walk.offsets.items()))
    attributes = "".join(f"-{attribute_label(name)}{signed(value)}" for name, value in sorted(walk.attributes.items()))
    kept = "-kept" if walk.attributes and walk.keep_others else ""
    return f"walk-{model.name}-{start}{edits}{offsets}{attributes}{kept}"


def walk_image(model: Explorer, walk: WalkState) -> str:
    """The walk's image as a named PNG that says how to draw it again (model, start, slider values)."""
    labels = model.direction_labels()
    metadata = {
        "model": model.name,
        "seed": walk.seed if walk.base is None else walk.base_label,
        "edits": walk.edits,  # {z dimension: its value}
        "offsets": walk.offsets,  # {direction k: the amount along it}
        "directions": "; ".join(labels[k] for k in sorted(walk.offsets) if k < len(labels)),
        "attributes": walk.attributes,  # {attribute: the amount along its direction}
        "keep_others": walk.keep_others,
        "figure": "the latent walk's image",
    }
    return named_png(render(model, walk_z(model, walk)), walk_stem(model, walk), metadata)


def strip_picture(model: Explorer, walk: WalkState) -> tuple[str, str]:
    """The strip as the tab shows it, as a named PNG, and its caption."""
    images, caption = strip_images(model, walk)
    shown = picture(model, images, nrow=STRIP_LENGTH, scale=max(1, 96 // model.image_size))
    return named_png(shown, f"{walk_stem(model, walk)}-{walk.strip}", strip_metadata(model, walk, caption)), caption


# ---- handlers ----------------------------------------------------------------------------------------------


def _slider_updates(model: Explorer, walk: WalkState) -> list:
    z_start = edited_z(model, walk)
    ranks = {dim: rank for rank, dim in enumerate(model.ranked_dimensions(), start=1)}
    limit = dim_limit(model)
    dims = []
    for slot in range(N_DIM_SLIDERS):
        if slot < len(walk.dims):
            dim = walk.dims[slot]
            value = max(-limit, min(limit, float(z_start[dim])))
            label = f"z[{dim}] (sensitivity rank {ranks[dim]})"
            dims.append(gr.update(label=label, minimum=-limit, maximum=limit, value=round(value, 2), visible=True))
        else:
            dims.append(gr.update(visible=False))
    labels = model.direction_labels()
    limit = direction_limit(model)
    directions = []
    for k in range(N_DIRECTION_SLIDERS):
        if k < len(labels):
            value = walk.offsets.get(k, 0.0)
            directions.append(gr.update(label=labels[k], minimum=-limit, maximum=limit, value=value, visible=True))
        else:
            directions.append(gr.update(visible=False))
    names = attribute_names(model)
    attributes = []
    for slot in range(N_ATTRIBUTE_SLIDERS):
        if slot < len(names):
            value = walk.attributes.get(names[slot], 0.0)
            label = attribute_label(names[slot])
            attributes.append(gr.update(label=label, minimum=-limit, maximum=limit, value=value, visible=True))
        else:
            attributes.append(gr.update(visible=False))
    return dims + directions + attributes


def entanglement_text(model: Explorer, walk: WalkState) -> str:
    """The attribute sliders' entanglement table (what each one changes, read by the judge), or ""."""
    found = model.attribute_directions()
    if found is None or not found.names:
        return ""
    table = entanglement_markdown(found, model.entanglement(walk.keep_others))
    kept = " with the other attributes kept" if walk.keep_others else ""
    missing = [attribute_label(name) for name in found.positive_share if name not in found.names]
    absent = f" No slider for {', '.join(missing)}: too few samples have it, or all do." if missing else ""
    aligned = f" {aligned_text(found)}" if aligned_pairs(found) else ""
    return (
        f"Each slider moves z along the direction that separates the samples the judge reads as having the "
        f"attribute from those it reads as not (difference of their mean z, from {found.samples:,} samples). "
        f"What moving along each does{kept}: the judge's mean reading of every attribute in "
        f"{ENTANGLEMENT_SAMPLES} samples moved by −2, 0 and +2 (bold: the slider's own).{absent}{aligned}\n\n{table}"
    )


# ---- the tab: handlers, layout, events ---------------------------------------------------------------------


def draw_handler(catalog: Catalog) -> Callable[[VisitorState], tuple]:
    """The tab's full redraw (its outputs: WalkParts.draw_outputs)."""

    def draw(state: VisitorState) -> tuple:
        """Everything on the tab, from the state: after a model change, a new seed, a URL."""
        if not state.model:
            nothing = [gr.update()] * (N_DIM_SLIDERS + N_DIRECTION_SLIDERS + N_ATTRIBUTE_SLIDERS + 5)
            return (state, gr.update(), None, "Load a model to start walking.", *nothing, None, "", query_string(state))
        model = current_model(catalog, state)
        walk = state.walk
        valid_dims(model, walk)
        ranked = model.ranked_dimensions()
        dims_update = gr.update(choices=[(f"z[{d}]", d) for d in ranked], value=walk.dims)
        choices = strip_choices(model, walk)
        walk.strip = walk.strip if walk.strip in choices else "direction 0"
        return (
            state,
            walk.seed,
            walk_image(model, walk),
            describe_start(walk, model),
            *_slider_updates(model, walk),
            gr.update(visible=bool(attribute_names(model))),
            walk.keep_others,
            entanglement_text(model, walk),
            dims_update,
            gr.update(choices=choices, value=walk.strip),
            *strip_picture(model, walk),
            query_string(state),
        )

    return draw


def start_handlers(draw: Callable[[VisitorState], tuple]) -> tuple[Callable, ...]:
    """(on_seed, on_random, on_reset, on_dims): a new start or new dimension sliders, then the full redraw."""

    def on_seed(state: VisitorState, new_seed: float | None) -> tuple:
        old = state.walk
        state.walk = WalkState(seed=seed_from(new_seed), dims=old.dims, custom_dims=old.custom_dims, strip=old.strip)
        state.walk.keep_others = old.keep_others
        return draw(state)

    def on_random(state: VisitorState) -> tuple:
        return on_seed(state, random_seed())

    def on_reset(state: VisitorState) -> tuple:
        state.walk.edits, state.walk.offsets, state.walk.attributes = {}, {}, {}
        return draw(state)

    def on_dims(state: VisitorState, dims: list[int]) -> tuple:
        state.walk.dims, state.walk.custom_dims = [int(d) for d in dims or []], bool(dims)
        return draw(state)

    return on_seed, on_random, on_reset, on_dims


def slider_moved(catalog: Catalog, kind: str, slot: int) -> Callable:
    """The release handler of one slider (its name: the endpoint's, walk_{kind}_{slot})."""

    def handler(state: VisitorState, value: object) -> tuple:
        model = current_model(catalog, state)
        try:
            moved = move_slider(model, state.walk, kind, slot, number_from(value, "a slider value"))
        except DcganError as error:
            raise UserError(error) from None
        if not moved:
            return state, gr.update(), query_string(state)
        return state, walk_image(model, state.walk), query_string(state)

    handler.__name__ = f"move_{kind}_{slot}"
    return handler


def strip_handlers(catalog: Catalog) -> tuple[Callable, ...]:
    """(on_keep_others, redraw_strip, export_strip): what redraws or exports the strip."""

    def on_keep_others(state: VisitorState, keep: bool) -> tuple:
        model = current_model(catalog, state)
        state.walk.keep_others = bool(keep)
        image_now = walk_image(model, state.walk)
        return (
            state,
            image_now,
            entanglement_text(model, state.walk),
            *strip_picture(model, state.walk),
            query_string(state),
        )

    def redraw_strip(state: VisitorState, choice: str | None = None) -> tuple:
        model = current_model(catalog, state)
        if choice:
            state.walk.strip = choice
        return state, *strip_picture(model, state.walk)

    def export_strip(state: VisitorState) -> list[str]:
        model = current_model(catalog, state)
        walk = state.walk
        images, caption = strip_images(model, walk)
        stem = f"{walk_stem(model, walk)}-{walk.strip}"  # the strip shown on the tab has the same name
        metadata = strip_metadata(model, walk, caption)
        frames = [picture(model, images[i : i + 1]) for i in range(len(images))]
        still = picture(model, images, nrow=STRIP_LENGTH, scale=max(1, 128 // model.image_size))
        return export_png_and_gif(still, frames, stem, metadata)

    return on_keep_others, redraw_strip, export_strip


@dataclass
class WalkParts:
    """The tab's components, made by layout() in page order."""

    image: gr.Image
    start_text: gr.Markdown
    strip: gr.Image
    strip_caption: gr.Markdown
    strip_choice: gr.Dropdown
    export_button: gr.Button
    export_files: gr.File
    seed: gr.Number
    random_button: gr.Button
    reset_button: gr.Button
    attribute_box: gr.Accordion
    attribute_sliders: list[gr.Slider]
    keep_others: gr.Checkbox
    entanglement_table: gr.Markdown
    dim_sliders: list[gr.Slider]
    dims_choice: gr.Dropdown
    direction_sliders: list[gr.Slider]

    def draw_outputs(self, state: gr.State, query: gr.Textbox) -> list:
        """What draw() returns, in its order."""
        outputs = [state, self.seed, self.image, self.start_text, *self.dim_sliders, *self.direction_sliders]
        outputs += [*self.attribute_sliders, self.attribute_box, self.keep_others, self.entanglement_table]
        return outputs + [self.dims_choice, self.strip_choice, self.strip, self.strip_caption, query]


def build(catalog: Catalog, state: gr.State, query: gr.Textbox) -> Refresh:
    """The Latent walk tab; returns how to redraw it after a model change."""
    return wire(layout(), catalog, state, query)


def layout() -> WalkParts:
    """The tab's components, inside the current gr.Tab."""
    with gr.Row(equal_height=False):
        # The image and the strip share the left column, so at 1280x720 the strip is on screen beside the
        # sliders (in a row of its own, it sat below all of them).
        with gr.Column(scale=5, min_width=300):
            image = image_output("the image", height=320, elem_id="walk-image")
            start_text = gr.Markdown()
            strip = image_output("walking in the latent space", elem_id="walk-strip")
            strip_caption = gr.Markdown(elem_id="walk-strip-caption")  # what the strip walks along (presenter too)
            with gr.Row(equal_height=False):
                strip_choice = gr.Dropdown(label="walk 9 steps along", scale=2, min_width=160)
                export_button = gr.Button("export strip (PNG + GIF)", scale=1, min_width=120)
            export_files = gr.File(label="exports", file_count="multiple", interactive=False, height=120, visible=False)
        with gr.Column(scale=6, min_width=320):
            with gr.Row():
                seed = seed_box("seed (Enter to apply)", 0, scale=3)
                random_button = gr.Button("🎲 random", scale=1, elem_id="walk-random")
                reset_button = gr.Button("reset sliders", scale=1)
            # Named attributes, on a model whose judge reads them (faces), first: shown by draw()
            with gr.Accordion(
                "attributes (directions the judge names, as InterFaceGAN)", visible=False, elem_id="walk-attributes"
            ) as attribute_box:
                attribute_sliders = _slider_grid("attribute", "walk-attribute", N_ATTRIBUTE_SLIDERS, step=0.05)
                keep_others = gr.Checkbox(
                    label="keep the others (project the other attributes' directions out of each)",
                    elem_id="walk-keep-others",
                )
                with gr.Accordion("what each slider changes (entanglement)", open=False):
                    entanglement_table = gr.Markdown(elem_id="walk-entanglement")
            with gr.Accordion("z dimensions (the 8 that change the image most)", open=True):
                dim_sliders = _slider_grid("z dim", "walk-dim", N_DIM_SLIDERS, step=0.01)
                dims_choice = gr.Dropdown(
                    label="choose other dimensions (up to 8)", multiselect=True, max_choices=N_DIM_SLIDERS
                )
            with gr.Accordion("discovered directions (principal components of the first layer, as GANSpace)"):
                direction_sliders = _slider_grid("direction", "walk-direction", N_DIRECTION_SLIDERS, step=0.05)
    return WalkParts(
        image, start_text, strip, strip_caption, strip_choice, export_button, export_files, seed, random_button,
        reset_button, attribute_box, attribute_sliders, keep_others, entanglement_table, dim_sliders, dims_choice,
        direction_sliders,
    )  # fmt: skip


def wire(parts: WalkParts, catalog: Catalog, state: gr.State, query: gr.Textbox) -> Refresh:
    """The tab's events, in the order the app has always registered them (Gradio numbers them so)."""
    draw = draw_handler(catalog)
    draw_outputs = parts.draw_outputs(state, query)
    on_seed, on_random, on_reset, on_dims = start_handlers(draw)
    on_keep_others, redraw_strip, export_strip = strip_handlers(catalog)
    image, strip, strip_caption, export_files = parts.image, parts.strip, parts.strip_caption, parts.export_files

    # Cheap handlers skip the queue (a few ms each; the queue adds ~30 ms a request).
    # "always_last": a release while the previous one is still drawing is kept (Gradio's default drops it).
    fast = {"queue": False, "show_progress": "hidden", "trigger_mode": "always_last"}
    # A slider's release gets its value as sent (preprocess=False): Gradio's own check fails on "abc" or
    # null with a bare "Error", and refuses values beyond the ends that the preview route clamps. The
    # handler refuses what is not a number (common.number_from) and move_slider clamps the rest.
    raw_value = {"preprocess": False}
    parts.seed.submit(on_seed, [state, parts.seed], draw_outputs, api_name="walk_seed").then(
        None, query, None, js=UPDATE_URL_JS
    )
    parts.random_button.click(on_random, state, draw_outputs, api_name="walk_random").then(
        None, query, None, js=UPDATE_URL_JS
    )
    parts.reset_button.click(on_reset, state, draw_outputs, api_name="walk_reset").then(
        None, query, None, js=UPDATE_URL_JS
    )
    parts.dims_choice.input(on_dims, [state, parts.dims_choice], draw_outputs, api_name="walk_dims").then(
        None, query, None, js=UPDATE_URL_JS
    )
    all_sliders = (parts.dim_sliders, parts.direction_sliders, parts.attribute_sliders)
    for kind, sliders in zip(SLIDER_KINDS, all_sliders, strict=True):
        for slot, slider in enumerate(sliders):
            moved = slider.release(
                slider_moved(catalog, kind, slot),
                [state, slider],
                [state, image, query],
                api_name=f"walk_{kind}_{slot}",
                api_visibility="public" if slot == 0 else "undocumented",
                **fast,
                **raw_value,
            )
            moved.then(None, query, None, js=UPDATE_URL_JS)
            moved.then(redraw_strip, state, [state, strip, strip_caption], api_visibility="private", **fast)
    parts.keep_others.input(
        on_keep_others,
        [state, parts.keep_others],
        [state, image, parts.entanglement_table, strip, strip_caption, query],
        api_name="walk_keep_others",
    ).then(None, query, None, js=UPDATE_URL_JS)
    parts.strip_choice.input(
        redraw_strip, [state, parts.strip_choice], [state, strip, strip_caption], api_name="walk_strip", **fast
    ).then(lambda s: query_string(s), state, query, api_visibility="private", **fast).then(
        None, query, None, js=UPDATE_URL_JS
    )
    parts.export_button.click(export_strip, state, export_files, api_name="walk_export").then(
        show_box, None, export_files, api_visibility="private", queue=False
    )  # hidden until it holds files: an empty box on first open is a blank panel
    return Refresh(draw, [state], draw_outputs)


def _slider_grid(label: str, elem_prefix: str, count: int, step: float) -> list[gr.Slider]:
    """Sliders two to a row, so eight of them fit beside the image."""
    sliders = []
    for first in range(0, count, 2):
        with gr.Row():
            for i in range(first, min(first + 2, count)):
                sliders.append(gr.Slider(-3, 3, value=0, step=step, label=f"{label} {i}", elem_id=f"{elem_prefix}-{i}"))
    return sliders
