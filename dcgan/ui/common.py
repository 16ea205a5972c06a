"""Small pieces every tab uses: the current model, image display, exports, user-facing errors."""

from __future__ import annotations

import functools
import random
import re
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import torch
from PIL import Image

from ..errors import DcganError
from ..images import grid_image, save_gif, save_png
from ..latent import generate
from .model_cache import Catalog, LoadedModel, get_model
from .session import MAX_SEED, VisitorState

NO_MODEL = "No model is loaded yet: pick one above, upload one, or train one (see the message at the top)."


@dataclass
class Refresh:
    """How a tab redraws itself after the model (or the whole state, from a URL) changed."""

    fn: Callable
    inputs: list
    outputs: list


def current_model(catalog: Catalog, state: VisitorState) -> LoadedModel:
    """The visitor's model; a gr.Error with the library's message when there is none or it won't load."""
    if not state.model:
        raise gr.Error(NO_MODEL)
    try:
        return get_model(catalog, state.model)
    except DcganError as error:
        raise gr.Error(str(error)) from None


def shows_user_errors(fn: Callable) -> Callable:
    """Handlers raise DcganError for things a visitor can fix; show its message, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DcganError as error:
            raise gr.Error(str(error)) from None

    return wrapper


def random_seed() -> int:
    return random.SystemRandom().randrange(MAX_SEED)  # not the global RNG: handlers never touch it


def picture(model: LoadedModel, images: torch.Tensor, nrow: int | None = None, scale: int | None = None) -> Image.Image:
    """Images (N, nc, S, S) in [-1, 1] -> one crisp (nearest-upscaled) PIL grid; no padding for one image."""
    padding = 0 if images.shape[0] == 1 else 2
    return grid_image(images, nrow=nrow, padding=padding, scale=scale or model.display_scale)


def render(model: LoadedModel, z: torch.Tensor, **kwargs) -> Image.Image:
    """One generator forward for z (N, nz) -> a picture."""
    return picture(model, generate(model.generator, z.reshape(-1, model.nz)), **kwargs)


def image_output(label: str, height: int | None = None, **kwargs) -> gr.Image:
    """An output image shown as PNG (webp would blur the pixels) with crisp upscaling in the browser."""
    return gr.Image(
        label=label,
        type="pil",
        format="png",
        interactive=False,
        height=height,
        buttons=["download"],
        elem_classes=["pixelated"],
        **kwargs,
    )


def image_upload(label: str, elem_id: str | None = None, height: int = 140) -> gr.File:
    """An upload box for one image file. A gr.File, not a gr.Image: gr.Image rejects a corrupt file
    before our handler runs, with a bare "Error"; this way load_image's message reaches the visitor."""
    return gr.File(label=label, type="filepath", file_types=["image"], height=height, elem_id=elem_id)


# ---- exports -----------------------------------------------------------------------------------------------

_EXPORT_ROOT: Path | None = None


def export_folder() -> Path:
    """A fresh folder per export under one temp root: visitors never overwrite each other's files."""
    global _EXPORT_ROOT
    if _EXPORT_ROOT is None:
        _EXPORT_ROOT = Path(tempfile.mkdtemp(prefix="dcgan-explorer-exports-"))
    folder = _EXPORT_ROOT / uuid.uuid4().hex[:12]
    folder.mkdir()
    return folder


def slug(text: str) -> str:
    """A file-name-safe piece: 'upload: my model' -> 'upload-my-model'."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")[:60] or "model"


def export_png_and_gif(
    still: Image.Image, frames: Sequence[Image.Image], stem: str, metadata: dict[str, object], frame_ms: int = 150
) -> list[str]:
    """Write `stem`.png (the still) and `stem`.gif (the frames, played forward and back), both carrying
    `metadata` (seeds, model, method): PNG text chunks and the GIF comment."""
    folder = export_folder()
    text = {key: str(value) for key, value in metadata.items()}
    png = save_png(still, folder / f"{stem}.png", metadata=text)
    gif = save_gif(frames, folder / f"{stem}.gif", frame_ms=frame_ms, metadata=text, bounce=True)
    return [str(png), str(gif)]
