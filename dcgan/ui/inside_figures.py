"""The Inside tab's three figures, drawn for a visitor's state (dcgan/ui/inside.py's buttons, a shared link's
redraw and the worked example call them): what D sees of an image (its verdict, its most active channels per
layer), one channel of it clicked, and generator filters zeroed. Each returns what its outputs show, as named
PNGs, and records the settings in the state (the URL's Inside keys)."""

from __future__ import annotations

import gradio as gr
from PIL import Image

from dcgan.errors import DcganError
from dcgan.explore.ablation import (
    Ablation,
    ablate,
    ablation_metadata,
    describe_ablation,
    describe_forgetting,
    forget_class,
    forgetting_metadata,
)
from dcgan.explore.inside import (
    INSIDE_LAYERS,
    ChannelLook,
    InsideLook,
    inside_image,
    inside_metadata,
    look_at_channel,
    look_inside,
)
from dcgan.images import gradient_image, upscaled
from dcgan.ui.common import UserError, current_model, named_png, picture, seed_from, shows_user_errors
from dcgan.ui.model_cache import Catalog
from dcgan.ui.session import VisitorState, query_string


def layer_galleries(look: InsideLook) -> list[list[tuple[Image.Image, str]]]:
    """Per D layer, its most active channels' overlays, labelled 'ch c' (short enough to show whole; the
    gallery's label names the layer, and a click reads the channel from the caption)."""
    return [[(upscaled(overlay, 96), f"ch {channel}") for channel, overlay in channels] for channels in look.layers]


def channels_from(text: str) -> list[int]:
    """'0, 5 12' -> [0, 5, 12]; a UserError for anything else."""
    try:
        return [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise UserError("channels are whole numbers separated by commas, e.g. 0, 5, 12") from None


@shows_user_errors
def draw_look(
    catalog: Catalog,
    state: VisitorState,
    source_name: str,
    seed_value: float | None,
    path: str | None,
    look: InsideLook | None = None,  # already computed (the worked example)
) -> tuple:
    model = current_model(catalog, state)
    seed_number = seed_from(seed_value)
    if look is None:
        look = look_inside(model, *inside_image(model, source_name, seed_number, path))
    state.inside = {"source": source_name, "seed": seed_number, "path": path}
    settings = state.inside_settings
    settings.seed, settings.channel = (seed_number if source_name == "generated" else None), None
    galleries = layer_galleries(look)
    updates = [
        gr.update(value=galleries[i], visible=True) if i < len(galleries) else gr.update(visible=False)
        for i in range(INSIDE_LAYERS)
    ]
    metadata = inside_metadata(model, look)
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


@shows_user_errors
def draw_channel(
    catalog: Catalog,
    state: VisitorState,
    layer: int,
    channel_index: int,
    example: tuple[ChannelLook, str] | None = None,
) -> tuple:
    model = current_model(catalog, state)
    stored = state.inside
    if not stored:
        raise UserError("look inside D first")
    if example is not None:  # the worked example's channel, already computed, and its image's caption
        channel, caption = example
    else:
        try:
            image, caption = inside_image(model, stored["source"], stored["seed"], stored["path"])
        except DcganError:
            message = "the image looked at is gone (uploads are kept for an hour): look inside D again"
            raise UserError(message) from None
        channel = look_at_channel(model, image, layer, channel_index)
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
def draw_ablation(
    catalog: Catalog,
    state: VisitorState,
    layer: int,
    text: str,
    class_name: str,
    seed_number: int,
    example: Ablation | None = None,  # already computed (the worked example)
) -> tuple:
    model = current_model(catalog, state)
    if class_name:
        result = forget_class(model, class_name, layer, seed=seed_number)
        caption, metadata = describe_forgetting(model, result), forgetting_metadata(model, result)
        stem = f"forgetting-{model.name}-{class_name}-layer{layer}-seed{seed_number}"
    else:
        result = example if example is not None else ablate(model, layer, channels_from(text), seed_number)
        caption, metadata = describe_ablation(model, result), ablation_metadata(model, result)
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
