"""Class vectors on the Vector arithmetic tab (dcgan/ui/arithmetic.py), for a model whose judge names classes:
a seed + t × (mean z of one class − mean z of another), drawn as a strip (and a GIF) from one class towards the
other; the box's class choices, and its /class_vector handler."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import torch

from dcgan.explore import arithmetic
from dcgan.explore.arithmetic import CLASS_STEPS, example_classes
from dcgan.explore.explorer import Explorer
from dcgan.images import save_gif
from dcgan.ui.common import current_model, named_png, picture, seed_from, shows_user_errors
from dcgan.ui.fairness import heavy_turn
from dcgan.ui.session import VisitorState

# The library's strip, its refusals (a class never drawn, no judge) shown to the visitor.
class_vector_strip = shows_user_errors(arithmetic.class_vector_strip)


def strip_files(
    model: Explorer, images: torch.Tensor, caption: str, source: str, target: str, start: int
) -> tuple[str, str, str]:
    """A class-vector strip as the tab shows it: (named PNG, caption, the same as a GIF), with its metadata.
    The seed named is the strip's first image's, as the caption says: the first seed from `start` on that
    draws the source class (arithmetic.class_vector_strip), not `start` itself."""
    strip = picture(model, images, nrow=CLASS_STEPS, scale=max(1, 96 // model.image_size))
    seed = strip_seed(caption, start)
    metadata = {"model": model.name, "from": source, "to": target, "seed": seed, "searched from seed": start}
    metadata["caption"] = caption
    png = named_png(strip, f"class-vector-{model.name}-{source}-to-{target}-seed{seed}", metadata)
    frames = [picture(model, image[None], scale=max(1, 128 // model.image_size)) for image in images]
    text = {key: str(value) for key, value in metadata.items()}
    gif = save_gif(frames, Path(png).with_suffix(".gif"), frame_ms=300, metadata=text, bounce=True)
    return png, caption, str(gif)


def strip_seed(caption: str, start: int) -> int:
    """The seed a class-vector caption starts from ("seed 4 (the first seed from 0 on ...")"; `start` if it
    names none."""
    found = re.match(r"seed (\d+) ", caption)
    return int(found.group(1)) if found else start


def class_controls(model: Explorer | None) -> list:
    """The class vectors' box (shown for a model whose judge names classes) and its two class choices."""
    found = model.class_means() if model else None
    if found is None:
        return [gr.update(visible=False), gr.update(), gr.update()]
    names = [name for name, count in zip(found[0], found[2], strict=True) if count > 0]
    classes = example_classes(model) or ()
    pair = classes[1::-1]  # the worked example's: from B's class to A's
    source, target = pair if len(pair) == 2 and set(pair) <= set(names) else names[:2]
    return [
        gr.update(visible=True),
        gr.update(choices=names, value=source),
        gr.update(choices=names, value=target),
    ]


def class_vector_handler(catalog) -> Callable:
    """/class_vector: a seed + t × (mean z of one class − mean z of another), within the visitor's share."""

    def on_class_vector(
        state: VisitorState, source: str, target: str, seed: float | None, request: gr.Request
    ) -> tuple:
        with heavy_turn(request, "class vector"):  # the first one per model: 2,000 samples through the judge
            return _class_vector(state, source, target, seed)

    def _class_vector(state: VisitorState, source: str, target: str, seed: float | None) -> tuple:
        model = current_model(catalog, state)
        start = seed_from(seed)
        return strip_files(model, *class_vector_strip(model, source, target, start), source, target, start)

    return on_class_vector
