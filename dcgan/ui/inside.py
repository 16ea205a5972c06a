"""Inside the networks: what the discriminator's channels respond to (the paper's Figure 5, with
guided backpropagation), and "forgetting to draw": zeroing generator filters (its Figure 6).

The figures themselves are drawn in dcgan/ui/inside_figures.py; here: the worked example, the tab's layout and
its events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from dcgan.errors import DcganError
from dcgan.explore import ablation
from dcgan.explore.ablation import generator_layer_widths
from dcgan.explore.explorer import Explorer
from dcgan.explore.inside import (
    INSIDE_LAYERS,
    ChannelLook,
    InsideLook,
    inside_image,
    look_at_channel,
    look_inside,
    most_distinct_channel,
)
from dcgan.ui.common import (
    Refresh,
    UserError,
    current_model,
    image_output,
    image_upload,
    seed_box,
    seed_from,
    shows_user_errors,
)
from dcgan.ui.fairness import HEAVY_SLOTS, heavy_turn
from dcgan.ui.inside_figures import channels_from, draw_ablation, draw_channel, draw_look
from dcgan.ui.projection import dataset_example
from dcgan.ui.session import UPDATE_URL_JS, VisitorState


def panel(label: str, elem_id: str) -> gr.Image:
    return image_output(label, height=220, elem_id=elem_id)


def channel_of(caption: str) -> int:
    """'ch 17' -> 17."""
    return int(str(caption).split()[-1])


def layer_choices(model: Explorer) -> list[str]:
    return [f"layer {i} ({width} channels)" for i, width in enumerate(generator_layer_widths(model))]


@dataclass
class ExampleLook:
    """The Inside tab's worked example: an image looked inside, and one channel of it clicked."""

    source: str  # as inside_image takes it: "upload" (a file: here the dataset's image) or "generated"
    path: str | None
    look: InsideLook
    layer: int
    channel: ChannelLook


def example_look(model: Explorer) -> ExampleLook:
    """Test image 0 of the model's data (generated seed 0 for a model without shared data) looked inside, and
    the channel of D's layer 2 (the paper's "second highest") that training changed most clicked
    (most_distinct_channel among the layer's most active ones). The model work is done once
    per model (Explorer.example; the app warms it at start); the image's PNG is written per call, for the
    channel view of a later click to read."""
    try:
        path, source = dataset_example(model, index=0), "upload"
    except DcganError:
        path, source = None, "generated"
    image, caption = inside_image(model, source, 0, path)
    if path:
        caption = f"{Path(str(model.facts['data'])).name} test image 0"

    def compute() -> tuple[InsideLook, int, ChannelLook]:
        look = look_inside(model, image, caption)
        layer = min(2, len(look.layers) - 1)
        # Fig. 5's point by a measured rule: of the layer's most active channels, the one whose trained map
        # differs most from the untrained D's
        channel, _ = most_distinct_channel(model, image, layer, [c for c, _ in look.layers[layer]])
        return look, layer, look_at_channel(model, image, layer, channel)

    look, layer, channel = model.example(f"inside: {caption}", compute)
    return ExampleLook(source, path, look, layer, channel)


# ---- the tab: handlers, layout, events ---------------------------------------------------------------------


def button_handlers(catalog) -> tuple[Callable, Callable, Callable, Callable]:
    """(look, picks_channel_of, take_example, ablate): the visitor's clicks, heavy ones within their share."""

    def look(state: VisitorState, source_name: str, seed_value: float | None, path: str | None, request: gr.Request):
        with heavy_turn(request, "look inside D"):  # refused at once when over the visitor's share
            return draw_look(catalog, state, source_name, seed_value, path)

    def picks_channel_of(layer: int):
        def pick_channel(state: VisitorState, event: gr.SelectData, request: gr.Request):
            with heavy_turn(request, "channel view"):  # ~0.7 s: an optimised input, two gradients
                return draw_channel(catalog, state, layer, channel_of(event.value["caption"]))

        pick_channel.__name__ = f"pick_channel_of_layer_{layer}"
        return pick_channel

    @shows_user_errors
    def take_example(state: VisitorState) -> tuple:
        return dataset_example(current_model(catalog, state)), "upload"

    def ablate(
        state: VisitorState,
        layer_name: str | None,
        text: str,
        class_name: str | None,
        seed_value: float | None,
        request: gr.Request,
    ):
        with heavy_turn(request, "ablation"):  # with a class: 2,000 samples through G and the judge, ~10 s
            layer = _layer_index(layer_name)
            return draw_ablation(catalog, state, layer, text, class_name or "", seed_from(seed_value))

    return look, picks_channel_of, take_example, ablate


def draw_handler(catalog, parts: InsideParts) -> Callable:
    """The redraw after a model change or a page load (its outputs: InsideParts.draw_outputs)."""
    counts = {"look": len(parts.look_outputs), "channel": len(parts.channel_outputs)}
    counts["ablation"] = len(parts.ablation_outputs)

    def draw(state: VisitorState, request: gr.Request) -> tuple:
        """After a model change or a page load: the controls, and what a shared link asked to see drawn."""
        unchanged = [gr.update()] * sum(counts.values())
        if not state.model:
            return gr.update(), gr.update(visible=False), *[gr.update()] * 4, *unchanged
        model = current_model(catalog, state)
        settings = state.inside_settings
        names = layer_choices(model)
        layer = settings.layer if settings.layer is not None and settings.layer < len(names) else min(1, len(names) - 1)
        judge = model.judge()
        classes = [""] + list(judge.config.class_names) if judge is not None else []
        controls = (
            gr.update(choices=names, value=names[layer] if names else None),
            gr.update(
                choices=classes, value=settings.forget if settings.forget in classes else "", visible=bool(judge)
            ),
            settings.seed or 0,
            "generated",
            settings.channels,
            settings.noise_seed,
        )
        return *controls, *linked_figures(state, request, names[layer] if names else None)

    def linked_figures(state: VisitorState, request: gr.Request, layer_name: str | None) -> list:
        """What a link's Inside keys ask for (look=, ch=, gl=...), drawn as the buttons would draw it; within
        the visitor's share of heavy work, else left for them to click (a warning says why)."""
        settings = state.inside_settings
        drawn = {figure: [gr.update()] * count for figure, count in counts.items()}
        if settings.seed is None and settings.layer is None:
            return [*drawn["look"], *drawn["channel"], *drawn["ablation"]]
        channel, layer = settings.channel, settings.layer
        try:
            with heavy_turn(request, "a shared link's Inside figures"):
                if settings.seed is not None:
                    drawn["look"] = list(draw_look(catalog, state, "generated", settings.seed, None))
                    if channel:
                        drawn["channel"] = list(draw_channel(catalog, state, *channel))
                if layer is not None and layer_name is not None:
                    drawn["ablation"] = list(
                        draw_ablation(catalog, state, layer, settings.channels, settings.forget, settings.noise_seed)
                    )
        except gr.Error as error:  # refused, or a link naming what this model lacks: the rest of the page loads
            gr.Warning(f"the link's Inside figures were not drawn: {error.message}")
        return [*drawn["look"], *drawn["channel"], *drawn["ablation"]]

    return draw


def example_handler(catalog, parts: InsideParts) -> Callable:
    """The worked example (its outputs: InsideParts.example_outputs)."""
    example_count, ablation_count = len(parts.example_outputs), len(parts.ablation_outputs)

    @shows_user_errors
    def example(state: VisitorState) -> tuple:
        """The tab's first open, where a link drew nothing: example_look's figures, and G's filters 0-3 of
        layer 1 zeroed (cheap, but also done once per model)."""
        model = current_model(catalog, state)
        drawn = [gr.update()] * example_count

        # Not over what a link asks for (look=, gl=), even before the load's redraw has drawn it: the tab's
        # first showing can come first. Asked again after computing: on a cold model that takes seconds, and
        # the visitor's own look or ablation may have landed meanwhile.
        def nothing_looked_at() -> bool:
            return state.inside is None and state.inside_settings.seed is None

        def nothing_ablated() -> bool:
            return state.inside_settings.layer is None

        if nothing_looked_at():
            found = example_look(model)
            if nothing_looked_at():
                looked = draw_look(catalog, state, found.source, 0, found.path, look=found.look)
                shown = (found.channel, found.look.caption)
                clicked = draw_channel(catalog, state, found.layer, found.channel.channel, example=shown)
                drawn[: len(looked) + len(clicked)] = [*looked, *clicked]
        if nothing_ablated():
            layer = min(1, len(generator_layer_widths(model)) - 1)
            text = state.inside_settings.channels
            channels = channels_from(text)
            result = model.example(f"ablation: {layer} {channels}", lambda: ablation.ablate(model, layer, channels))
            if nothing_ablated():
                drawn[-ablation_count:] = draw_ablation(catalog, state, layer, text, "", 0, example=result)
        return tuple(drawn)

    return example


@dataclass
class InsideParts:
    """The tab's components, made by layout() in page order, and the app's state and query they update."""

    state: gr.State
    query: gr.Textbox
    source: gr.Radio
    seed: gr.Number
    upload: gr.File
    example_button: gr.Button
    look_button: gr.Button
    verdict: gr.Markdown
    shown: gr.Image
    score_plain: gr.Image
    score_guided: gr.Image
    layer_views: list[gr.Gallery]
    channel_title: gr.Markdown
    channel_images: list[gr.Image]  # large, guided, untrained, plain, top, max
    g_layer: gr.Dropdown
    channels_text: gr.Textbox
    class_choice: gr.Dropdown
    ablate_seed: gr.Number
    ablate_button: gr.Button
    ablate_caption: gr.Markdown
    ablation_images: list[gr.Image]  # before, after, difference

    @property
    def look_outputs(self) -> list:
        return [
            self.state,
            self.verdict,
            self.shown,
            self.score_plain,
            self.score_guided,
            *self.layer_views,
            self.query,
        ]

    @property
    def channel_outputs(self) -> list:
        return [self.state, self.channel_title, *self.channel_images, self.query]

    @property
    def ablation_outputs(self) -> list:
        return [self.state, *self.ablation_images, self.ablate_caption, self.query]

    @property
    def example_outputs(self) -> list:
        return [*self.look_outputs, *self.channel_outputs, *self.ablation_outputs]

    @property
    def draw_outputs(self) -> list:
        controls = [self.g_layer, self.class_choice, self.seed, self.source, self.channels_text, self.ablate_seed]
        return [*controls, *self.example_outputs]


def build(catalog, state: gr.State, query: gr.Textbox) -> tuple[Refresh, Refresh]:
    """The Inside the networks tab; returns how to redraw it after a model change, and its worked example."""
    return wire(layout(state, query), catalog)


def layout(state: gr.State, query: gr.Textbox) -> InsideParts:
    """The tab's components, inside the current gr.Tab: Figure 5's, then Figure 6's."""
    return InsideParts(state, query, *_discriminator_layout(), *_ablation_layout())


def _discriminator_layout() -> tuple:
    """Figure 5: the image, D's verdict and layers, one channel (InsideParts' fields from source to
    channel_images)."""
    gr.Markdown(
        "**The discriminator** (the paper's Figure 5): its verdict on an image and, per layer, the channels that "
        "fire most, overlaid on the image (red to yellow = stronger). Click a channel to see what it looks for."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=260):
            source = gr.Radio(["generated", "upload"], value="generated", label="image", elem_id="inside-source")
            seed = seed_box("seed (generated)", 0)
            upload = image_upload("an image (any size or format)", elem_id="inside-upload")
            example_button = gr.Button("take an image from the model's dataset")
            look_button = gr.Button("Look inside D", variant="primary", elem_id="inside-run")
        with gr.Column(scale=2, min_width=260):
            verdict = gr.Markdown(elem_id="inside-verdict")
            shown = panel("what D sees", elem_id="inside-image")
        with gr.Column(scale=3, min_width=300):
            with gr.Row():
                score_plain = panel("saliency of D's score", elem_id="inside-saliency")
                score_guided = panel("guided backprop of D's score", elem_id="inside-guided")
    layer_views = [
        gr.Gallery(
            label=f"layer {layer}: most active channels",
            columns=8,
            height="auto",  # both rows of 8 whole, at any width
            allow_preview=False,
            format="png",
            visible=False,
            elem_id=f"inside-layer-{layer}",
            elem_classes=["pixelated", "fit-gallery"],
        )
        for layer in range(INSIDE_LAYERS)
    ]
    channel_title = gr.Markdown("Click a channel above.", elem_id="inside-channel-title")
    gr.Markdown(
        "What to look for (the paper's Figure 5 compares trained filters with random ones): guided backprop shows "
        "where more (lighter) or less (darker) ink would make the channel fire. A trained D's channel picks out "
        "parts and edges (a sleeve's outline, a sole); the same channel of an **untrained** D of the same shape "
        "passes back a blurred copy of the whole image, whatever the channel. Each map is averaged over 16 "
        "slightly noisy copies of the image (SmoothGrad), or it is speckle at this size."
    )
    with gr.Row(equal_height=False):
        channel_images = [
            panel("its activation, large", elem_id="inside-channel"),
            panel("guided backprop of this channel", elem_id="inside-channel-guided"),
            panel("the same, untrained D", elem_id="inside-channel-untrained"),
            panel("plain gradient of this channel", elem_id="inside-channel-plain"),
            panel("the 9 generated samples that excite it most (of 2,000)", elem_id="inside-channel-top"),
            panel("an input optimised to excite it", elem_id="inside-channel-max"),
        ]
    return (
        source, seed, upload, example_button, look_button, verdict, shown, score_plain, score_guided, layer_views,
        channel_title, channel_images,
    )  # fmt: skip


def _ablation_layout() -> tuple:
    """Figure 6: filters zeroed, the same noise before and after (InsideParts' fields from g_layer on)."""
    gr.Markdown(
        "**Forgetting to draw** (the paper's Figure 6): zero some of the generator's filters and compare the "
        "same noise before and after. Name filters by number, or let the paper's probe find the ones that draw "
        "a class: a logistic regression on the layer's feature maps predicts whether the judge sees the class in "
        "2,000 samples, and the filters with positive weight are zeroed in samples of that class."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=260):
            # custom values allowed: the handler checks them (an API caller may not have drawn the tab)
            g_layer = gr.Dropdown(label="generator layer", elem_id="ablate-layer", allow_custom_value=True)
            channels_text = gr.Textbox(label="channels to zero (e.g. 0, 5, 12)", value="0, 1, 2, 3")
            class_choice = gr.Dropdown(
                label="or: forget a class (the paper's probe)",
                visible=False,
                allow_custom_value=True,
                elem_id="ablate-class",
            )
            ablate_seed = seed_box("noise seed", 0, elem_id="ablate-seed")
            ablate_button = gr.Button("Zero them", variant="primary", elem_id="ablate-run")
            ablate_caption = gr.Markdown(elem_id="ablate-caption")
        ablation_images = [
            panel("before (intact G)", elem_id="ablate-before"),
            panel("after (filters zeroed), same noise", elem_id="ablate-after"),
            panel("|before − after|", elem_id="ablate-difference"),
        ]
    return g_layer, channels_text, class_choice, ablate_seed, ablate_button, ablate_caption, ablation_images


def wire(parts: InsideParts, catalog) -> tuple[Refresh, Refresh]:
    """The tab's events, in the order the app has always registered them (Gradio numbers them so)."""
    look, picks_channel_of, take_example, ablate = button_handlers(catalog)
    draw = draw_handler(catalog, parts)
    example = example_handler(catalog, parts)
    state, query = parts.state, parts.query
    parts.look_button.click(
        look,
        [state, parts.source, parts.seed, parts.upload],
        parts.look_outputs,
        api_name="inside_look",
        concurrency_limit=HEAVY_SLOTS,  # a visitor's surplus is dequeued, and refused, while their first runs
    ).then(None, query, None, js=UPDATE_URL_JS)
    for layer, gallery in enumerate(parts.layer_views):
        gallery.select(
            picks_channel_of(layer),
            state,
            parts.channel_outputs,
            api_visibility="private",
            concurrency_limit=HEAVY_SLOTS,
        ).then(None, query, None, js=UPDATE_URL_JS)
    parts.example_button.click(take_example, state, [parts.upload, parts.source], api_name="inside_dataset_example")
    parts.ablate_button.click(
        ablate,
        [state, parts.g_layer, parts.channels_text, parts.class_choice, parts.ablate_seed],
        parts.ablation_outputs,
        api_name="ablate",
        concurrency_limit=HEAVY_SLOTS,
    ).then(None, query, None, js=UPDATE_URL_JS)
    return Refresh(draw, [state], parts.draw_outputs), Refresh(example, [state], parts.example_outputs)


def _layer_index(name: str | None) -> int:
    """'layer 2 (64 channels)' -> 2 (the library checks the range)."""
    try:
        return int(str(name).split()[1])
    except (IndexError, ValueError):
        raise UserError("pick a generator layer") from None
