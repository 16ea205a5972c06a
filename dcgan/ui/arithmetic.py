"""Vector arithmetic, the paper's Figure 7 made clickable: pick up to 3 exemplars into each of A, B
and C, and see A - B + C on the group averages beside the same sum on single exemplars. Its class vectors
(a seed moved from one class's mean z towards another's) are in dcgan/ui/class_vectors.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
import torch

from dcgan.errors import DcganError
from dcgan.explore import arithmetic as explore_arithmetic
from dcgan.explore.arithmetic import (
    CLASS_STEPS,
    arithmetic_images,
    describe_arithmetic,
    first_seed_of_class,
    gallery_z,
    judge_readout,
    prepared_picks,
)
from dcgan.explore.explorer import Explorer
from dcgan.nets.latent import generate
from dcgan.nets.workload import GALLERY_SIZE
from dcgan.ui.class_vectors import class_controls, class_vector_handler, class_vector_strip, strip_files
from dcgan.ui.common import (
    Refresh,
    UserError,
    animation_output,
    bounded_int,
    current_model,
    image_output,
    named_png,
    picture,
    random_seed,
    seed_box,
    seed_from,
    show_box,
    shows_user_errors,
    slug,
    whole_number_box,
)
from dcgan.ui.fairness import HEAVY_SLOTS
from dcgan.ui.session import GROUPS, MAX_PICKS, UPDATE_URL_JS, Pick, VisitorState, query_string

BATCH_SIZE = GALLERY_SIZE  # samples in the gallery to pick from
__all__ = ["CLASS_STEPS", "add_pick", "batch_z", "build", "class_vector_strip", "first_seed_of_class", "results"]


def small(label: str, elem_id: str) -> gr.Image:
    return image_output(label, height=200, elem_id=elem_id)


# ---- plain functions ---------------------------------------------------------------------------------------


def batch_z(model: Explorer, batch_seed: int) -> torch.Tensor:
    """(24, nz): sample i of batch s is row i of seed s, so '#i of batch s' names one z for good."""
    return gallery_z(model, batch_seed)


def gallery_items(model: Explorer, batch_seed: int) -> list[tuple[object, str]]:
    images = generate(model.generator, batch_z(model, batch_seed))
    scale = max(1, 96 // model.image_size)
    return [(picture(model, images[i : i + 1], scale=scale), f"#{i}") for i in range(len(images))]


def add_pick(model: Explorer, state: VisitorState, group: str, pick: Pick) -> str | None:
    """Add an exemplar to a group (dropping the oldest past 3); returns a note for the visitor, if any."""
    if group not in GROUPS:
        raise UserError(f"group must be one of {', '.join(GROUPS)}, not {group!r}")
    if len(pick.z) != model.nz:
        raise UserError(f"that z has {len(pick.z)} dimensions; this model's has {model.nz}")
    picks = state.picks[group]
    picks.append(pick)
    if len(picks) > MAX_PICKS:
        dropped = picks.pop(0)
        return f"group {group} holds {MAX_PICKS} exemplars: dropped the oldest ({dropped.label})"
    return None


def results(model: Explorer, state: VisitorState) -> dict[str, object]:
    """Every picture on the tab's right side, from one generator forward (dcgan.explore.arithmetic.arithmetic_images).

    Keys: "<G> picks", "<G> mean" for each group; and, when every group has an exemplar,
    "averaged", "single" (first exemplar of each group), "neighbourhood" (3x3 around "averaged").
    """
    groups = {group: torch.tensor([pick.z for pick in state.picks[group]]) for group in GROUPS if state.picks[group]}
    try:
        images = arithmetic_images(model, groups)
    except DcganError as error:
        raise UserError(error) from None
    out = {}
    for name, group_images in images.items():
        if name == "averaged":
            out[name] = picture(model, group_images, scale=max(1, 192 // model.image_size))
        else:
            nrow = 3 if name == "neighbourhood" else None
            scale = max(1, (64 if name.endswith("picks") else 128) // model.image_size)
            out[name] = picture(model, group_images, nrow=nrow or len(group_images), scale=scale)
        # Every panel downloads as a named PNG saying what it adds up: the picks in the name, so two examples'
        # figures never share one, and the model and exemplars inside.
        picks = picks_stem(state, GROUPS if name in RESULTS else name[0])  # "A mean": group A's picks only
        stem = f"arithmetic-{model.name}-{picks}-{name.split()[-1]}"  # ...-A3.0+3.1-mean
        out[name] = named_png(out[name], stem, arithmetic_metadata(model, state, name))
    if "averaged" in images and model.judge() is not None:
        out["reading"] = judge_reading(model, images)
    return out


def judge_reading(model: Explorer, images: dict[str, torch.Tensor]) -> str:
    """The figure's number: what the judge calls the result on the averages and on single exemplars, and the
    three averages (so a result that is just C shows as such)."""
    named = ["averaged", "single", *(f"{group} mean" for group in GROUPS)]
    read = judge_readout(model, torch.cat([images[name][:1] for name in named]))
    (averaged, p_averaged), (single, p_single), *means = read
    return (
        f"The judge reads A − B + C on the averages as **{averaged}** ({p_averaged:.0%}), on single exemplars as "
        f"**{single}** ({p_single:.0%}); the averages of A, B and C as {', '.join(name for name, _ in means)}."
    )


RESULTS = ("averaged", "single", "neighbourhood")
FIGURES = {
    "averaged": "A - B + C on the group averages",
    "single": "A - B + C on single exemplars",
    "neighbourhood": "3x3 neighbourhood of A - B + C on the averages (top left) with small moves",
    "picks": "group {group}'s exemplars",
    "mean": "the average of group {group}'s exemplars",
}


def picks_stem(state: VisitorState, groups: str | tuple[str, ...]) -> str:
    """The picks of `groups` for a file name, as the sum reads: "A3.0+3.1-B3.2+C3.3" (batch.sample, as a link
    names them; a projected image by its name)."""
    signs = {"A": "", "B": "-", "C": "+"} if len(groups) > 1 else {groups[0]: ""}
    return "".join(
        f"{signs[group]}{group}" + ("+".join(pick.ref or slug(pick.label) for pick in state.picks[group]) or "none")
        for group in groups
    )


def arithmetic_metadata(model: Explorer, state: VisitorState, name: str) -> dict[str, object]:
    """What a downloaded panel carries: the model, what it shows, the exemplars behind it (and the sum)."""
    counts = {group: len(state.picks[group]) for group in GROUPS}
    groups = GROUPS if name in RESULTS else name[0]  # "A picks", "A mean": group A only
    metadata = {"model": model.name, "figure": FIGURES[name.split()[-1]].format(group=name[0])}
    metadata |= {group: "; ".join(pick.label for pick in state.picks[group]) for group in groups}
    return metadata | ({"sum": describe_arithmetic(counts)} if name in RESULTS else {})


def resolve_picks(model: Explorer, state: VisitorState) -> None:
    """Picks a link named by their ref ("7.3": sample #3 of batch 7) get their z, now the model is known;
    a pick whose z does not fit the model is dropped."""
    for group in GROUPS:
        for pick in state.picks[group]:
            if pick.ref and not pick.z:
                batch, index = map(int, pick.ref.split("."))
                pick.z = batch_z(model, batch)[index].tolist() if index < BATCH_SIZE else []
        state.picks[group] = [pick for pick in state.picks[group] if len(pick.z) == model.nz]


def describe(state: VisitorState) -> str:
    counts = {group: len(state.picks[group]) for group in GROUPS}
    if not all(counts.values()):
        missing = ", ".join(group for group, count in counts.items() if not count)
        return f"Click samples to fill each group (A, B and C, up to {MAX_PICKS} each). Still empty: **{missing}**."
    return (
        f"**{describe_arithmetic(counts)}**. "
        "Left: on the group averages; right: on the first exemplar of each group only. "
        "Averaging cancels each exemplar's quirks, which is why the paper averaged three."
    )


def example_work(model: Explorer) -> tuple[tuple, tuple | None]:
    """The tab's worked example, computed once per model (Explorer.example; the app warms it at start): a
    prepared A − B + C (prepared_picks: the picks and their classes) and, with example classes, the
    class vector from B's class to A's from seed 0, as (images, caption, source, target); None without."""

    def compute() -> tuple:
        prepared = prepared_picks(model)
        classes, strip = prepared[1], None
        if classes:
            target, source = classes[0], classes[1]
            try:
                strip = (*explore_arithmetic.class_vector_strip(model, source, target, 0), source, target)
            except DcganError:
                pass  # e.g. no seed from 0 to 63 draws the source class: the box stays for the visitor's own
        return prepared, strip

    return model.example("arithmetic", compute)


# ---- the tab: handlers, layout, events ---------------------------------------------------------------------


def shown_results(model: Explorer | None, state: VisitorState) -> list:
    """The caption and pictures (ArithmeticParts.result_outputs). The caption's last paragraph is the judge's
    reading (presenter view shows it large); when the picks are the worked example's (its first open, or a link
    to it), it says so and gives the rule that chose it."""
    pictures = results(model, state) if model else {}
    names = [f"{g} {kind}" for g in GROUPS for kind in ("picks", "mean")] + ["averaged", "single", "neighbourhood"]
    introduction, rule = worked_example_words(model, state) if model else ("", "")
    paragraphs = [introduction + describe(state), rule, pictures.get("reading", "")]
    caption = "\n\n".join(paragraph for paragraph in paragraphs if paragraph)
    return [caption, *[pictures.get(name) for name in names]]


def draw_handler(catalog) -> Callable[[VisitorState], tuple]:
    """The tab's full redraw (its outputs: ArithmeticParts.draw_outputs)."""

    def draw(state: VisitorState) -> tuple:
        if not state.model:
            return (
                state,
                state.batch_seed,
                None,
                *shown_results(None, state),
                *class_controls(None),
                query_string(state),
            )
        model = current_model(catalog, state)
        resolve_picks(model, state)
        return (
            state,
            state.batch_seed,
            gallery_items(model, state.batch_seed),
            *shown_results(model, state),
            *class_controls(model),
            query_string(state),
        )

    return draw


def pick_handlers(catalog, draw: Callable[[VisitorState], tuple]) -> tuple[Callable, ...]:
    """(on_batch, pick, on_select, clear): a new batch to pick from, a pick, a group cleared."""

    def on_batch(state: VisitorState, seed: float | None) -> tuple:
        state.batch_seed = seed_from(seed)
        return draw(state)

    def pick(state: VisitorState, group_name: str, index: float) -> tuple:
        model = current_model(catalog, state)
        index = bounded_int(index, 0, BATCH_SIZE - 1, "a sample number")  # the box lets an empty one through
        z = batch_z(model, state.batch_seed)[index].tolist()
        ref = f"{state.batch_seed}.{index}"  # how a link names this sample
        note = add_pick(model, state, group_name, Pick(f"batch {state.batch_seed}, #{index}", z, ref=ref))
        if note:
            gr.Info(note)
        return (state, *shown_results(model, state), query_string(state))

    def on_select(state: VisitorState, group_name: str, event: gr.SelectData) -> tuple:
        return pick(state, group_name, event.index)

    def clear(state: VisitorState, group_name: str | None) -> tuple:
        for name in [group_name] if group_name else GROUPS:
            state.picks[name] = []
        model = current_model(catalog, state) if state.model else None
        return (state, *shown_results(model, state), query_string(state))

    return on_batch, pick, on_select, clear


def example_handler(catalog, parts: ArithmeticParts) -> Callable[[VisitorState], tuple]:
    """The worked example (its outputs: ArithmeticParts.example_outputs)."""
    example_count, results_count = len(parts.example_outputs), len(parts.with_results)
    class_count = len(parts.class_outputs)

    @shows_user_errors
    def example(state: VisitorState) -> tuple:
        """The tab's first open, where no link or click picked anything: example_work's picks and strip."""
        model = current_model(catalog, state)
        drawn = [gr.update()] * example_count
        (prepared, _), strip = example_work(model)
        if not any(state.picks.values()):
            for group_name, picks in prepared.items():
                for batch, index in picks:
                    z = batch_z(model, batch)[index].tolist()
                    state.picks[group_name].append(Pick(f"batch {batch}, #{index}", z, ref=f"{batch}.{index}"))
            drawn[:results_count] = [state, *shown_results(model, state), query_string(state)]
        if strip is not None:
            images, caption, source, target = strip
            drawn[results_count : results_count + 2] = [source, target]
            png, caption, gif = strip_files(model, images, caption, source, target, 0)
            drawn[-class_count:] = [
                gr.update(value=png, visible=True),
                caption,
                gr.update(value=gif, visible=True),
            ]
        return tuple(drawn)

    return example


@dataclass
class ArithmeticParts:
    """The tab's components, made by layout() in page order, and the app's state and query they update."""

    state: gr.State
    query: gr.Textbox
    batch_seed: gr.Number
    new_batch: gr.Button
    group: gr.Radio
    gallery: gr.Gallery
    sample_number: gr.Number
    add_button: gr.Button
    clear_group: gr.Button
    clear_all: gr.Button
    box: gr.Accordion  # the class vectors, for a model whose judge names classes
    class_from: gr.Dropdown
    class_to: gr.Dropdown
    class_seed: gr.Number
    class_button: gr.Button
    class_strip: gr.Image
    class_caption: gr.Markdown
    class_gif: gr.Image
    caption: gr.Markdown
    group_images: list[gr.Image]  # per group: its exemplars, its average
    averaged: gr.Image
    single: gr.Image
    around: gr.Image

    @property
    def result_outputs(self) -> list:
        return [self.caption, *self.group_images, self.averaged, self.single, self.around]

    @property
    def draw_outputs(self) -> list:
        parts = [self.state, self.batch_seed, self.gallery, *self.result_outputs, self.box]
        return [*parts, self.class_from, self.class_to, self.query]

    @property
    def with_results(self) -> list:
        return [self.state, *self.result_outputs, self.query]  # the picks go into the URL too

    @property
    def class_outputs(self) -> list:
        return [self.class_strip, self.class_caption, self.class_gif]

    @property
    def example_outputs(self) -> list:
        return [*self.with_results, self.class_from, self.class_to, *self.class_outputs]


def build(catalog, state: gr.State, query: gr.Textbox) -> tuple[Refresh, Refresh, gr.Radio]:
    """The Vector arithmetic tab; returns its redraw, its worked example and the "adding to" radio (other tabs
    add to groups too)."""
    parts = layout(state, query)
    return (*wire(parts, catalog), parts.group)


def layout(state: gr.State, query: gr.Textbox) -> ArithmeticParts:
    """The tab's components, inside the current gr.Tab: the samples and class vectors, then the results."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=320):
            picking = _picking_column()
        with gr.Column(scale=4, min_width=360):
            caption = gr.Markdown(elem_id="arith-caption")
            group_images = []
            with gr.Row():
                for name in GROUPS:
                    with gr.Column(min_width=100):
                        group_images.append(small(f"{name}: exemplars", elem_id=f"arith-{name}-picks"))
                        group_images.append(small(f"{name}: average", elem_id=f"arith-{name}-mean"))
            with gr.Row(equal_height=False):
                averaged = small("A − B + C (averages)", elem_id="arith-averaged")
                single = small("A − B + C (single exemplars)", elem_id="arith-single")
                around = small("3×3 neighbourhood of the result", elem_id="arith-neighbourhood")
    return ArithmeticParts(state, query, *picking, caption, group_images, averaged, single, around)


def _picking_column() -> tuple:
    """The samples to pick from and the class vectors (ArithmeticParts' fields from batch_seed to class_gif)."""
    with gr.Row():
        batch_seed = seed_box("batch seed", 0, min_width=100)
        new_batch = gr.Button("🎲 new batch", elem_id="arith-new-batch")
    group = gr.Radio(list(GROUPS), value="A", label="clicking a sample adds it to group", elem_id="arith-group")
    gallery = gr.Gallery(
        label="samples: click to pick",
        columns=6,
        height="auto",  # all 24 whole: 4 rows of 6
        allow_preview=False,
        object_fit="contain",
        format="png",
        elem_id="arith-gallery",
        elem_classes=["pixelated", "fit-gallery"],
    )
    with gr.Row():
        sample_number = whole_number_box(
            "or add sample #", 0, 0, BATCH_SIZE - 1, f"sample numbers go from 0 to {BATCH_SIZE - 1}"
        )
        add_button = gr.Button("add #")
        clear_group = gr.Button("clear group")
        clear_all = gr.Button("clear all")
    with gr.Accordion("class vectors: a seed + (mean of one class − mean of another)", visible=False) as box:
        with gr.Row():
            class_from = gr.Dropdown(label="from class", elem_id="arith-class-from")
            class_to = gr.Dropdown(label="to class", elem_id="arith-class-to")
            class_seed = seed_box("start seed", 0, min_width=90)
        class_button = gr.Button("apply the class vector", elem_id="arith-class-run")
        class_strip = gr.Image(  # hidden until drawn (like the GIF): an empty panel says nothing
            label="start → start + class vector",
            visible=False,
            type="pil",
            format="png",
            interactive=False,
            elem_id="arith-class-strip",
            elem_classes=["pixelated"],
            buttons=["download"],
        )
        class_caption = gr.Markdown(elem_id="arith-class-caption")
        class_gif = animation_output(
            "the strip as a GIF (it plays)", height=140, visible=False, elem_id="arith-class-gif"
        )
    return (
        batch_seed, new_batch, group, gallery, sample_number, add_button, clear_group, clear_all, box, class_from,
        class_to, class_seed, class_button, class_strip, class_caption, class_gif,
    )  # fmt: skip


def wire(parts: ArithmeticParts, catalog) -> tuple[Refresh, Refresh]:
    """The tab's events, in the order the app has always registered them (Gradio numbers them so)."""
    draw = draw_handler(catalog)
    on_batch, pick, on_select, clear = pick_handlers(catalog, draw)
    example = example_handler(catalog, parts)
    state, query, group = parts.state, parts.query, parts.group
    draw_outputs, with_results = parts.draw_outputs, parts.with_results
    parts.batch_seed.submit(on_batch, [state, parts.batch_seed], draw_outputs, api_name="arithmetic_batch").then(
        None, query, None, js=UPDATE_URL_JS
    )
    parts.new_batch.click(
        lambda s: on_batch(s, random_seed()), state, draw_outputs, api_name="arithmetic_new_batch"
    ).then(None, query, None, js=UPDATE_URL_JS)
    add_inputs = [state, group, parts.sample_number]
    for event in (
        parts.gallery.select(on_select, [state, group], with_results, api_visibility="private", queue=False),
        parts.add_button.click(pick, add_inputs, with_results, api_name="arithmetic_pick", queue=False),
        parts.clear_group.click(clear, [state, group], with_results, api_name="arithmetic_clear_group", queue=False),
        parts.clear_all.click(
            lambda s: clear(s, None), state, with_results, api_name="arithmetic_clear_all", queue=False
        ),
    ):
        event.then(None, query, None, js=UPDATE_URL_JS)
    class_inputs = [state, parts.class_from, parts.class_to, parts.class_seed]
    class_strip, class_gif = parts.class_strip, parts.class_gif
    parts.class_button.click(
        class_vector_handler(catalog),
        class_inputs,
        parts.class_outputs,
        api_name="class_vector",
        concurrency_limit=HEAVY_SLOTS,  # a visitor's surplus is dequeued, and refused, while their first runs
    ).success(lambda: (show_box(), show_box()), None, [class_strip, class_gif], api_visibility="private", queue=False)
    return Refresh(draw, [state], draw_outputs), Refresh(example, [state], parts.example_outputs)


def worked_example_words(model: Explorer, state: VisitorState) -> tuple[str, str]:
    """(the caption's introduction, the rule that chose the example) when the state's picks are exactly the worked
    example's, already computed (no model work here); ("", "") otherwise."""
    found = model.computed_example("arithmetic")
    worked = model.computed_example("worked arithmetic")
    if found is None or worked is None:
        return "", ""
    (picks, classes), _ = found
    prepared = {group: [f"{batch}.{index}" for batch, index in picks[group]] for group in GROUPS}
    if prepared != {group: [pick.ref for pick in state.picks[group]] for group in GROUPS}:
        return "", ""
    return worked_example_caption(classes), worked.rule


def worked_example_caption(classes: tuple[str, str, str] | None) -> str:
    if classes is None:
        return "A worked example: the first nine samples, three to a group (clear all and pick your own). "
    a, b, c = classes
    return (
        f"A worked example: A holds three samples the classifier calls **{a}**, B **{b}**, C **{c}** "
        "(clear all and pick your own). "
    )
