"""Inside the networks: what the discriminator's channels respond to (the paper's Figure 5, with
guided backpropagation), and "forgetting to draw": zeroing generator filters (its Figure 6)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from .. import explore
from ..errors import DcganError
from ..explore import ChannelLook, Explorer, InsideLook
from ..images import gradient_image, upscaled
from .common import (
    Refresh,
    UserError,
    current_model,
    image_output,
    image_upload,
    named_png,
    picture,
    seed_box,
    seed_from,
    shows_user_errors,
)
from .fairness import HEAVY_SLOTS, heavy_turn
from .projection import dataset_example
from .session import UPDATE_URL_JS, VisitorState, query_string


def panel(label: str, elem_id: str) -> gr.Image:
    return image_output(label, height=220, elem_id=elem_id)


def layer_galleries(look: InsideLook) -> list[list[tuple[Image.Image, str]]]:
    """Per D layer, its most active channels' overlays, labelled 'ch c' (short enough to show whole; the
    gallery's label names the layer, and a click reads the channel from the caption)."""
    return [[(upscaled(overlay, 96), f"ch {channel}") for channel, overlay in channels] for channels in look.layers]


def channel_of(caption: str) -> int:
    """'ch 17' -> 17."""
    return int(str(caption).split()[-1])


def channels_from(text: str) -> list[int]:
    """'0, 5 12' -> [0, 5, 12]; a UserError for anything else."""
    try:
        return [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise UserError("channels are whole numbers separated by commas, e.g. 0, 5, 12") from None


def layer_choices(model: Explorer) -> list[str]:
    return [f"layer {i} ({width} channels)" for i, width in enumerate(explore.generator_layer_widths(model))]


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
    (explore.most_distinct_channel among the layer's most active ones). The model work is done once
    per model (Explorer.example; the app warms it at start); the image's PNG is written per call, for the
    channel view of a later click to read."""
    try:
        path, source = dataset_example(model, index=0), "upload"
    except DcganError:
        path, source = None, "generated"
    image, caption = explore.inside_image(model, source, 0, path)
    if path:
        caption = f"{Path(str(model.facts['data'])).name} test image 0"

    def compute() -> tuple[InsideLook, int, ChannelLook]:
        look = explore.look_inside(model, image, caption)
        layer = min(2, len(look.layers) - 1)
        # Fig. 5's point by a measured rule: of the layer's most active channels, the one whose trained map
        # differs most from the untrained D's
        channel, _ = explore.most_distinct_channel(model, image, layer, [c for c, _ in look.layers[layer]])
        return look, layer, explore.look_at_channel(model, image, layer, channel)

    look, layer, channel = model.example(f"inside: {caption}", compute)
    return ExampleLook(source, path, look, layer, channel)


# ---- the tab -----------------------------------------------------------------------------------------------


def build(catalog, state: gr.State, query: gr.Textbox) -> tuple[Refresh, Refresh]:
    """The Inside the networks tab; returns how to redraw it after a model change, and its worked example."""
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
        for layer in range(explore.INSIDE_LAYERS)
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
        channel_large = panel("its activation, large", elem_id="inside-channel")
        channel_guided = panel("guided backprop of this channel", elem_id="inside-channel-guided")
        channel_untrained = panel("the same, untrained D", elem_id="inside-channel-untrained")
        channel_plain = panel("plain gradient of this channel", elem_id="inside-channel-plain")
        channel_top = panel("the 9 generated samples that excite it most (of 2,000)", elem_id="inside-channel-top")
        channel_max = panel("an input optimised to excite it", elem_id="inside-channel-max")

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
        before = panel("before (intact G)", elem_id="ablate-before")
        after = panel("after (filters zeroed), same noise", elem_id="ablate-after")
        difference = panel("|before − after|", elem_id="ablate-difference")

    def look(state: VisitorState, source_name: str, seed_value: float | None, path: str | None, request: gr.Request):
        with heavy_turn(request, "look inside D"):  # refused at once when over the visitor's share
            return _look(state, source_name, seed_value, path)

    @shows_user_errors
    def _look(
        state: VisitorState,
        source_name: str,
        seed_value: float | None,
        path: str | None,
        look: InsideLook | None = None,  # already computed (the worked example)
    ) -> tuple:
        model = current_model(catalog, state)
        seed_number = seed_from(seed_value)
        if look is None:
            look = explore.look_inside(model, *explore.inside_image(model, source_name, seed_number, path))
        state.inside = {"source": source_name, "seed": seed_number, "path": path}
        settings = state.inside_settings
        settings.seed, settings.channel = (seed_number if source_name == "generated" else None), None
        galleries = layer_galleries(look)
        updates = [
            gr.update(value=galleries[i], visible=True) if i < len(galleries) else gr.update(visible=False)
            for i in range(explore.INSIDE_LAYERS)
        ]
        metadata = explore.inside_metadata(model, look)
        stem = f"inside-{model.name}-{look.caption}"
        figures = {
            "image": picture(model, look.image[None], scale=max(1, 192 // model.image_size)),
            "saliency": gradient_image(look.saliency),
            "guided-backprop": gradient_image(look.guided, signed=True),
        }
        return (
            state,
            f"D says: **{100 * look.real_probability:.1f}% real** ({look.caption})",
            *(named_png(image, f"{stem}-{name}", metadata | {"figure": name}) for name, image in figures.items()),
            *updates,
            query_string(state),
        )

    def picks_channel_of(layer: int):
        def pick_channel(state: VisitorState, event: gr.SelectData, request: gr.Request):
            with heavy_turn(request, "channel view"):  # ~0.7 s: an optimised input, two gradients
                return _channel(state, layer, channel_of(event.value["caption"]))

        pick_channel.__name__ = f"pick_channel_of_layer_{layer}"
        return pick_channel

    @shows_user_errors
    def _channel(
        state: VisitorState, layer: int, channel_index: int, example: tuple[ChannelLook, str] | None = None
    ) -> tuple:
        model = current_model(catalog, state)
        stored = state.inside
        if not stored:
            raise UserError("look inside D first")
        if example is not None:  # the worked example's channel, already computed, and its image's caption
            channel, caption = example
        else:
            try:
                image, caption = explore.inside_image(model, stored["source"], stored["seed"], stored["path"])
            except DcganError:
                message = "the image looked at is gone (uploads are kept for an hour): look inside D again"
                raise UserError(message) from None
            channel = explore.look_at_channel(model, image, layer, channel_index)
        state.inside_settings.channel = [layer, channel_index]
        figures = {
            "activation": upscaled(channel.overlay, 192),
            "guided-backprop": gradient_image(channel.guided, signed=True),
            "guided-backprop-untrained-D": gradient_image(channel.guided_untrained, signed=True),
            "gradient": gradient_image(channel.plain),
            "top-9-samples": picture(model, channel.top_samples, nrow=3, scale=max(1, 64 // model.image_size)),
            "optimised-input": picture(model, channel.maximised[None], scale=max(1, 192 // model.image_size)),
        }
        where = f"layer {channel.layer}, channel {channel.channel}"
        metadata = {"model": model.name, "image": caption, "channel": where}
        stem = f"inside-{model.name}-{caption}-layer{channel.layer}-channel{channel.channel}"
        return (
            state,
            f"**{where}**: mean activation {channel.mean_activation:.3f} on this image; best of the probe batch "
            f"{channel.best_probe_score:.3f}",
            *(named_png(image, f"{stem}-{name}", metadata | {"figure": name}) for name, image in figures.items()),
            query_string(state),
        )

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
            return _ablate(state, _layer_index(layer_name), text, class_name or "", seed_from(seed_value))

    @shows_user_errors
    def _ablate(
        state: VisitorState,
        layer: int,
        text: str,
        class_name: str,
        seed_number: int,
        example: explore.Ablation | None = None,  # already computed (the worked example)
    ) -> tuple:
        model = current_model(catalog, state)
        if class_name:
            result = explore.forget_class(model, class_name, layer, seed=seed_number)
            caption, metadata = explore.describe_forgetting(model, result), explore.forgetting_metadata(model, result)
            stem = f"forgetting-{model.name}-{class_name}-layer{layer}-seed{seed_number}"
        else:
            result = example if example is not None else explore.ablate(model, layer, channels_from(text), seed_number)
            caption, metadata = explore.describe_ablation(model, result), explore.ablation_metadata(model, result)
            zeroed = "+".join(map(str, result.channels))  # two ablations of one layer differ in their channels
            stem = f"ablation-{model.name}-layer{layer}-ch{zeroed}-seed{seed_number}"
        settings = state.inside_settings
        settings.layer, settings.channels, settings.forget, settings.noise_seed = layer, text, class_name, seed_number
        scale = max(1, 64 // model.image_size)
        pictures = [picture(model, images, nrow=4, scale=scale) for images in result.intact_ablated_difference()]
        names = ("before", "after", "difference")
        files = [
            named_png(image, f"{stem}-{name}", metadata | {"figure": name})
            for name, image in zip(names, pictures, strict=True)
        ]
        return state, *files, caption, query_string(state)

    look_outputs = [state, verdict, shown, score_plain, score_guided, *layer_views, query]
    channel_outputs = [
        state,
        channel_title,
        channel_large,
        channel_guided,
        channel_untrained,
        channel_plain,
        channel_top,
        channel_max,
        query,
    ]
    ablation_outputs = [state, before, after, difference, ablate_caption, query]
    control_outputs = [g_layer, class_choice, seed, source, channels_text, ablate_seed]

    def draw(state: VisitorState, request: gr.Request) -> tuple:
        """After a model change or a page load: the controls, and what a shared link asked to see drawn."""
        unchanged = [gr.update()] * (len(look_outputs) + len(channel_outputs) + len(ablation_outputs))
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
        drawn = {"look": [gr.update()] * len(look_outputs), "channel": [gr.update()] * len(channel_outputs)}
        drawn["ablation"] = [gr.update()] * len(ablation_outputs)
        if settings.seed is None and settings.layer is None:
            return [*drawn["look"], *drawn["channel"], *drawn["ablation"]]
        channel, layer = settings.channel, settings.layer
        try:
            with heavy_turn(request, "a shared link's Inside figures"):
                if settings.seed is not None:
                    drawn["look"] = list(_look(state, "generated", settings.seed, None))
                    if channel:
                        drawn["channel"] = list(_channel(state, *channel))
                if layer is not None and layer_name is not None:
                    drawn["ablation"] = list(
                        _ablate(state, layer, settings.channels, settings.forget, settings.noise_seed)
                    )
        except gr.Error as error:  # refused, or a link naming what this model lacks: the rest of the page loads
            gr.Warning(f"the link's Inside figures were not drawn: {error.message}")
        return [*drawn["look"], *drawn["channel"], *drawn["ablation"]]

    example_outputs = [*look_outputs, *channel_outputs, *ablation_outputs]

    @shows_user_errors
    def example(state: VisitorState) -> tuple:
        """The tab's first open, where a link drew nothing: example_look's figures, and G's filters 0-3 of
        layer 1 zeroed (cheap, but also done once per model)."""
        model = current_model(catalog, state)
        drawn = [gr.update()] * len(example_outputs)

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
                looked = _look(state, found.source, 0, found.path, look=found.look)
                shown = (found.channel, found.look.caption)
                clicked = _channel(state, found.layer, found.channel.channel, example=shown)
                drawn[: len(looked) + len(clicked)] = [*looked, *clicked]
        if nothing_ablated():
            layer = min(1, len(explore.generator_layer_widths(model)) - 1)
            text = state.inside_settings.channels
            channels = channels_from(text)
            result = model.example(f"ablation: {layer} {channels}", lambda: explore.ablate(model, layer, channels))
            if nothing_ablated():
                drawn[-len(ablation_outputs) :] = _ablate(state, layer, text, "", 0, example=result)
        return tuple(drawn)

    look_button.click(
        look,
        [state, source, seed, upload],
        look_outputs,
        api_name="inside_look",
        concurrency_limit=HEAVY_SLOTS,  # a visitor's surplus is dequeued, and refused, while their first runs
    ).then(None, query, None, js=UPDATE_URL_JS)
    for layer, gallery in enumerate(layer_views):
        gallery.select(
            picks_channel_of(layer), state, channel_outputs, api_visibility="private", concurrency_limit=HEAVY_SLOTS
        ).then(None, query, None, js=UPDATE_URL_JS)
    example_button.click(take_example, state, [upload, source], api_name="inside_dataset_example")
    ablate_button.click(
        ablate,
        [state, g_layer, channels_text, class_choice, ablate_seed],
        ablation_outputs,
        api_name="ablate",
        concurrency_limit=HEAVY_SLOTS,
    ).then(None, query, None, js=UPDATE_URL_JS)
    draw_outputs = [*control_outputs, *look_outputs, *channel_outputs, *ablation_outputs]
    return Refresh(draw, [state], draw_outputs), Refresh(example, [state], example_outputs)


def _layer_index(name: str | None) -> int:
    """'layer 2 (64 channels)' -> 2 (the library checks the range)."""
    try:
        return int(str(name).split()[1])
    except (IndexError, ValueError):
        raise UserError("pick a generator layer") from None
