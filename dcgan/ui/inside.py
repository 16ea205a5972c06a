"""Inside the networks: what the discriminator's channels respond to (the paper's Figure 5, with
guided backpropagation), and "forgetting to draw": zeroing generator filters (its Figure 6)."""

from __future__ import annotations

import gradio as gr
import numpy as np
import torch
from PIL import Image

from ..errors import DcganError
from ..features import (
    ablation_images,
    class_correlated_channels,
    d_verdict_and_maps,
    g_layers,
    heatmap_overlay,
    maximise_channel,
    most_active_channels,
    saliency,
)
from ..latent import sample_noise
from .common import Refresh, UserError, current_model, image_output, image_upload, picture, seed_box, seed_from
from .fairness import HEAVY_SLOTS, heavy_turn
from .model_cache import LoadedModel
from .projection import dataset_example, target_image
from .session import VisitorState

CHANNELS_SHOWN = 16  # most active channels per layer
MAX_D_LAYERS = 4
TOP_SAMPLES = 9
ABLATION_GRID = 16


def panel(label: str, elem_id: str) -> gr.Image:
    return image_output(label, height=220, elem_id=elem_id)


# ---- plain functions ---------------------------------------------------------------------------------------


def input_image(model: LoadedModel, source: str, seed: int, path: str | None) -> tuple[torch.Tensor, str]:
    """(nc, S, S) in [-1, 1] and a caption: a generated sample, or an uploaded / dataset image."""
    if source == "generated":
        z = sample_noise(1, model.nz, model.noise, seed=seed)
        with torch.inference_mode():
            return model.generator.eval()(z)[0].float(), f"generated, seed {seed}"
    if not path:
        raise DcganError("upload an image (or take one from the dataset) first")
    return target_image(model, path, invert=False)[0], "your image"


def crisp(array: np.ndarray, size: int = 96) -> Image.Image:
    """An (S, S, 3) uint8 array shown at `size` px with nearest-neighbour upscaling."""
    return Image.fromarray(array).resize((size, size), Image.Resampling.NEAREST)


def gradient_picture(gradient: torch.Tensor, size: int = 192) -> Image.Image:
    """A saliency map (nc, S, S) as a grey image: |gradient| summed over channels, normalised."""
    magnitude = gradient.abs().sum(0)
    magnitude = magnitude / magnitude.max().clamp_min(1e-12)
    array = (magnitude.sqrt() * 255).round().byte().numpy()  # sqrt: faint structure stays visible
    return Image.fromarray(array).resize((size, size), Image.Resampling.NEAREST)


def layer_galleries(image: torch.Tensor, maps: list[torch.Tensor]) -> list[list[tuple[Image.Image, str]]]:
    """Per D layer, the most active channels' maps overlaid on the image, labelled 'layer l · ch c'."""
    galleries = []
    for layer, layer_map in enumerate(maps[:MAX_D_LAYERS]):
        channels = most_active_channels(layer_map[0], CHANNELS_SHOWN)
        galleries.append(
            [(crisp(heatmap_overlay(image, layer_map[0, c])), f"layer {layer} · ch {c}") for c in channels]
        )
    return galleries


# ---- the tab -----------------------------------------------------------------------------------------------


def build(catalog, state: gr.State) -> Refresh:
    """The Inside the networks tab; returns how to redraw it after a model change."""
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
            rows=2,
            height=230,
            allow_preview=False,
            format="png",
            visible=False,
            elem_id=f"inside-layer-{layer}",
            elem_classes=["pixelated"],
        )
        for layer in range(MAX_D_LAYERS)
    ]
    channel_title = gr.Markdown("Click a channel above.", elem_id="inside-channel-title")
    with gr.Row(equal_height=False):
        channel_large = panel("its activation, large", elem_id="inside-channel")
        channel_guided = panel("guided backprop of this channel", elem_id="inside-channel-guided")
        channel_plain = panel("plain gradient of this channel", elem_id="inside-channel-plain")
        channel_top = panel("the 9 generated samples that excite it most (of 2,000)", elem_id="inside-channel-top")
        channel_max = panel("an input optimised to excite it", elem_id="inside-channel-max")

    gr.Markdown(
        "**Forgetting to draw** (the paper's Figure 6): zero some of the generator's filters and compare the "
        "same noise before and after. Pick channels by number, or the ones that go with a class."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=260):
            # custom values allowed: the handler checks them (an API caller may not have drawn the tab)
            g_layer = gr.Dropdown(label="generator layer", elem_id="ablate-layer", allow_custom_value=True)
            channels_text = gr.Textbox(label="channels to zero (e.g. 0, 5, 12)", value="0, 1, 2, 3")
            with gr.Row():
                class_choice = gr.Dropdown(label="or: the channels of a class", visible=False, allow_custom_value=True)
                k_class = gr.Slider(1, 32, value=8, step=1, label="how many", visible=False)
            ablate_button = gr.Button("Zero them", variant="primary", elem_id="ablate-run")
            ablate_caption = gr.Markdown()
        before = panel("before (intact G)", elem_id="ablate-before")
        after = panel("after (filters zeroed), same noise", elem_id="ablate-after")

    def look(state: VisitorState, source_name: str, seed_value: float | None, path: str | None, request: gr.Request):
        with heavy_turn(request, "look inside D"):  # refused at once when over the visitor's share
            return _look(state, source_name, seed_value, path)

    def _look(state: VisitorState, source_name: str, seed_value: float | None, path: str | None):
        model = current_model(catalog, state)
        try:
            discriminator = model.discriminator()
            image, caption = input_image(model, source_name, seed_from(seed_value), path)
        except DcganError as error:
            raise UserError(error) from None
        state.inside = {"source": source_name, "seed": seed_from(seed_value), "path": path}
        probability, maps = d_verdict_and_maps(discriminator, image[None])
        galleries = layer_galleries(image, maps)
        updates = [
            gr.update(value=galleries[i], visible=True) if i < len(galleries) else gr.update(visible=False)
            for i in range(MAX_D_LAYERS)
        ]
        text = f"D says: **{100 * float(probability[0]):.1f}% real** ({caption})"
        return (
            state,
            text,
            picture(model, image[None], scale=max(1, 192 // model.image_size)),
            gradient_picture(saliency(discriminator, image)),
            gradient_picture(saliency(discriminator, image, guided=True)),
            *updates,
        )

    def pick_channel(state: VisitorState, event: gr.SelectData, request: gr.Request):
        with heavy_turn(request, "channel view"):  # ~0.7 s: an optimised input, two gradients
            return _pick_channel(state, event)

    def _pick_channel(state: VisitorState, event: gr.SelectData):
        model = current_model(catalog, state)
        stored = state.inside
        if not stored:
            raise UserError("look inside D first")
        layer_text, channel_text = str(event.value["caption"]).split(" · ")
        layer, channel = int(layer_text.split()[1]), int(channel_text.split()[1])
        try:
            image, _ = input_image(model, stored["source"], stored["seed"], stored["path"])
        except DcganError:
            raise UserError("the image looked at is gone (uploads are kept for an hour): look inside D again") from None
        discriminator = model.discriminator()
        _, maps = d_verdict_and_maps(discriminator, image[None])
        probe_images, probe_scores = model.probe()
        top = torch.argsort(probe_scores[layer][:, channel], descending=True)[:TOP_SAMPLES]
        scale, large = max(1, 64 // model.image_size), max(1, 192 // model.image_size)
        return (
            f"**layer {layer}, channel {channel}**: mean activation {float(maps[layer][0, channel].mean()):.3f} on "
            f"this image; best of the probe batch {float(probe_scores[layer][top[0], channel]):.3f}",
            crisp(heatmap_overlay(image, maps[layer][0, channel]), size=192),
            gradient_picture(saliency(discriminator, image, layer, channel, guided=True)),
            gradient_picture(saliency(discriminator, image, layer, channel)),
            picture(model, probe_images[top], nrow=3, scale=scale),
            picture(model, maximise_channel(discriminator, layer, channel)[None], scale=large),
        )

    def take_example(state: VisitorState) -> tuple:
        try:
            return dataset_example(current_model(catalog, state)), "upload"
        except DcganError as error:
            raise UserError(error) from None

    def ablate(
        state: VisitorState, layer_name: str | None, text: str, class_name: str | None, k: float, request: gr.Request
    ):
        with heavy_turn(request, "ablation"):  # with a class: 512 samples through G and the judge
            return _ablate(state, layer_name, text, class_name, k)

    def _ablate(state: VisitorState, layer_name: str | None, text: str, class_name: str | None, k: float):
        model = current_model(catalog, state)
        layers = g_layers(model.generator)
        layer = _layer_index(layer_name, len(layers))
        width = _layer_width(model, layer)
        if class_name:
            judge = model.judge()
            if judge is None or class_name not in judge.config.class_names:
                raise UserError(f"no class {class_name!r} for this model: leave the class empty and name channels")
            channels = class_correlated_channels(
                model.generator, layer, judge, judge.config.class_names.index(class_name), k=int(k)
            )
            how = f"the {int(k)} channels most correlated with the judge's '{class_name}'"
        else:
            try:
                channels = sorted({int(part) for part in text.replace(",", " ").split()})
            except ValueError:
                raise UserError("channels are whole numbers separated by commas, e.g. 0, 5, 12") from None
            bad = [c for c in channels if not 0 <= c < width]
            if not channels or bad:
                raise UserError(f"layer {layer} has channels 0-{width - 1}; got {text!r}")
            how = f"channels {', '.join(map(str, channels))}"
        z = sample_noise(ABLATION_GRID, model.nz, model.noise, seed=0)
        intact, ablated = ablation_images(model.generator, z, layer, channels)
        scale = max(1, 64 // model.image_size)
        changed = float((intact - ablated).abs().mean())
        caption = f"Zeroed {how} of layer {layer} ({width} channels). Mean pixel change {changed:.3f}."
        return picture(model, intact, nrow=4, scale=scale), picture(model, ablated, nrow=4, scale=scale), caption

    def draw(state: VisitorState) -> tuple:
        if not state.model:
            return gr.update(), gr.update(visible=False), gr.update(visible=False)
        model = current_model(catalog, state)
        names = [f"layer {i} ({_layer_width(model, i)} channels)" for i in range(len(g_layers(model.generator)))]
        judge = model.judge()
        classes = [""] + list(judge.config.class_names) if judge is not None else []
        return (
            gr.update(choices=names, value=names[min(1, len(names) - 1)] if names else None),
            gr.update(choices=classes, value="", visible=judge is not None),
            gr.update(visible=judge is not None),
        )

    layer_outputs = [state, verdict, shown, score_plain, score_guided, *layer_views]
    look_button.click(
        look,
        [state, source, seed, upload],
        layer_outputs,
        api_name="inside_look",
        concurrency_limit=HEAVY_SLOTS,  # a visitor's surplus is dequeued, and refused, while their first runs
    )
    channel_outputs = [channel_title, channel_large, channel_guided, channel_plain, channel_top, channel_max]
    for gallery in layer_views:
        gallery.select(pick_channel, state, channel_outputs, api_visibility="private", concurrency_limit=HEAVY_SLOTS)
    example_button.click(take_example, state, [upload, source], api_name="inside_dataset_example")
    ablate_button.click(
        ablate,
        [state, g_layer, channels_text, class_choice, k_class],
        [before, after, ablate_caption],
        api_name="ablate",
        concurrency_limit=HEAVY_SLOTS,
    )
    return Refresh(draw, [state], [g_layer, class_choice, k_class])


def _layer_index(name: str | None, count: int) -> int:
    try:
        layer = int(str(name).split()[1])
    except (IndexError, ValueError):
        raise UserError("pick a generator layer") from None
    if not 0 <= layer < count:
        raise UserError(f"the generator has layers 0-{count - 1}")
    return layer


def _layer_width(model: LoadedModel, layer: int) -> int:
    """Output channels of a generator layer (from its last parameterised module)."""
    block = g_layers(model.generator)[layer]
    for module in reversed(list(block.modules())):
        if isinstance(module, torch.nn.BatchNorm2d):
            return module.num_features
        if isinstance(module, (torch.nn.ConvTranspose2d, torch.nn.Conv2d)):
            return module.out_channels
    raise UserError(f"layer {layer} has no channels to zero")
