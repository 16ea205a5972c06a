"""Small pieces every tab uses: the current model, image display, exports, user-facing errors."""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import random
import re
import tempfile
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import torch
from PIL import Image

from dcgan.errors import DcganError
from dcgan.explore.explorer import Explorer
from dcgan.images import grid_image, png_info, save_gif, save_png
from dcgan.nets.latent import generate
from dcgan.ui.model_cache import Catalog, get_model
from dcgan.ui.session import MAX_SEED, VisitorState, valid_seed

LOG = logging.getLogger("dcgan.ui")
NO_MODEL = "No model is loaded yet: pick one above, upload one, or train one (see the message at the top)."


@dataclass
class Refresh:
    """How a tab redraws itself after the model (or the whole state, from a URL) changed."""

    fn: Callable
    inputs: list
    outputs: list


# An absolute path (or ~/...) in a message: the server's folders are nobody else's business.
# Not inside URLs ("https://host/a/b": the slashes after "//" or a host are not the start of a path).
_SERVER_PATH = re.compile(r"(?<![\w.:/~-])~?/(?:[^\s/'\"`]+/)*([^\s/'\"`]*[^\s/'\"`.,;:)\]])")


MAX_MESSAGE_CHARS = 2500


def public_message(message: object) -> str:
    """A message fit to show any visitor: server paths reduced to their last part ("/tmp/gradio/ab12/x.pth"
    -> "x.pth"), and not overly long."""
    text = _SERVER_PATH.sub(lambda match: match.group(1) or "(a server folder)", str(message))
    # Room for an import's refusal, which lists the layouts that fit (~1.5 KB); nothing needs more.
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + " ..."


# CommonMark's escapable characters (all ASCII punctuation): each, after a backslash, is shown as itself.
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def as_text(value: object, max_chars: int = 120) -> str:
    """A string from a model file or a visitor (a config's train.data, a model's name) for a line of Markdown,
    shown as the text it is: every ASCII punctuation character escaped (no HTML, links, images, emphasis or
    code), on one line (no headings, lists or blocks), without control or invisible formatting characters
    (no right-to-left override reordering what follows), and not overly long."""
    text = "".join(" " if unicodedata.category(char).startswith("C") else char for char in str(value))
    text = " ".join(text.split())
    if len(text) > max_chars:
        text = text[:max_chars] + "…"
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


class UserError(gr.Error):
    """What a visitor did wrong or can fix: shown in the page (server paths removed), logged as one line
    rather than Gradio's full traceback (expected errors are not the server's failures).

    Gradio renders a gr.Error's message as HTML in the page's toast, and a message may quote a model file (a
    config.json's unknown keys) or a link's values: its "<" is sent as "&lt;", so no tag can start and the
    toast shows the message as the text it is."""

    def __init__(self, message: object, **options) -> None:
        text = public_message(message)
        LOG.info("user error: %s", text)
        super().__init__(text.replace("<", "&lt;"), print_exception=False, **options)


def seed_from(value: float | int | None) -> int:
    """A seed box's value, or a UserError (the same range in every box and link: session.valid_seed)."""
    try:
        return valid_seed(value)
    except DcganError as error:
        raise UserError(error) from None


def seed_box(label: str, value: int = 0, **options) -> gr.Number:
    """A number box for a seed, with the range every seed in the app has."""
    refusal = f"a seed is a whole number from 0 to {MAX_SEED:,}"
    return whole_number_box(label, value, 0, MAX_SEED, refusal, **options)


def whole_number_box(label: str, value: int, low: int, high: int, refusal: str, **options) -> gr.Number:
    """A number box for a whole number from `low` to `high`. What a request can send that the box cannot
    hold ("abc", NaN, 1e400, out of range) is refused with `refusal` and the value, as a UserError: Gradio's
    own refusals are a bare "Error" (NaN, text) or log a traceback per request (out of range). Empty (None)
    passes, as Gradio's does. (Patched on the instance: a gr.Number subclass makes Gradio write a .pyi stub
    beside this file; the box must never be an event's output with new bounds, which would replace it.)"""
    box = gr.Number(label=label, value=value, precision=0, minimum=low, maximum=high, **options)
    checked = box.preprocess

    def preprocess(payload: object) -> float | int | None:
        if payload is None:
            return None
        whole = isinstance(payload, int) or (isinstance(payload, float) and math.isfinite(payload))
        if isinstance(payload, bool) or not whole:
            raise UserError(f"{refusal}; {shown_value(payload)} is not")
        try:
            return checked(payload)
        except gr.Error:
            raise UserError(f"{refusal}; {shown_value(payload)} is not") from None

    box.preprocess = preprocess
    return box


def shown_value(value: object, max_chars: int = 60) -> str:
    """A value a request sent, for a message: its repr, cut short (it may be a megabyte of text)."""
    text = repr(value)
    return text if len(text) <= max_chars else text[:max_chars] + "..."


def number_from(value: object, name: str) -> float:
    """A number as a request sent it, for an event wired with preprocess=False (its handler gets the raw
    JSON): a UserError for text, null or true. NaN and inf pass, and a huge integer becomes inf: the caller
    says which range it takes."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{name} must be a number, not {shown_value(value)}")
    try:
        return float(value)
    except OverflowError:  # an integer of hundreds of digits
        return math.copysign(math.inf, value)


def bounded_int(value: float | int | None, low: int, high: int, name: str) -> int:
    """A whole number from a box or slider, within [low, high]; a UserError for NaN, inf or a fraction."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not (math.isfinite(number) and number == int(number) and low <= number <= high):
        raise UserError(f"{name} must be a whole number from {low} to {high}, not {shown_value(value)}")
    return int(number)


def current_model(catalog: Catalog, state: VisitorState) -> Explorer:
    """The visitor's model; a gr.Error with the library's message when there is none or it won't load."""
    if not state.model:
        raise UserError(NO_MODEL)
    try:
        return get_model(catalog, state.model)
    except DcganError as error:
        raise UserError(error) from None


def shows_user_errors(fn: Callable) -> Callable:
    """Handlers raise DcganError for things a visitor can fix; show its message, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DcganError as error:
            raise UserError(error) from None

    return wrapper


def random_seed() -> int:
    return random.SystemRandom().randrange(MAX_SEED)  # not the global RNG: handlers never touch it


def picture(model: Explorer, images: torch.Tensor, nrow: int | None = None, scale: int | None = None) -> Image.Image:
    """Images (N, nc, S, S) in [-1, 1] -> one crisp (nearest-upscaled) PIL grid; no padding for one image."""
    padding = 0 if images.shape[0] == 1 else 2
    return grid_image(images, nrow=nrow, padding=padding, scale=scale or model.display_scale)


def render(model: Explorer, z: torch.Tensor, **kwargs) -> Image.Image:
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


def animation_output(label: str, height: int, **kwargs) -> gr.Image:
    """A GIF shown as a picture that plays (a file path: a PIL image would be re-encoded as one frame)."""
    return gr.Image(
        label=label,
        type="filepath",
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


def show_box() -> dict:
    """An update that shows a component kept hidden until it holds something (an exports box)."""
    return gr.update(visible=True)


EXPORT_ROOT: Path | None = None


def export_folder() -> Path:
    """A fresh folder per export under one temp root: visitors never overwrite each other's files."""
    global EXPORT_ROOT
    if EXPORT_ROOT is None:
        EXPORT_ROOT = Path(tempfile.mkdtemp(prefix="dcgan-explorer-exports-"))
    folder = EXPORT_ROOT / uuid.uuid4().hex[:12]
    folder.mkdir()
    return folder


def slug(text: str) -> str:
    """A file-name-safe piece: 'upload: my model' -> 'upload-my-model'."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")[:60] or "model"


MAX_STEM_CHARS = 100
_STEM_HEAD, _STEM_TAIL = 50, 40


def export_stem(stem: str) -> str:
    """A file name (without extension) for an export: `stem` made file-name-safe ("+" kept: a walk's
    "z5+0.50" is not its "z5-0.50"). A stem over MAX_STEM_CHARS keeps its head (the figure, the model) and
    its tail (what tells sibling figures apart, e.g. "-guided-backprop-untrained-D") around a short hash of
    the whole, so two long stems never share a name, as they did when cut at 60 characters."""
    safe = re.sub(r"[^A-Za-z0-9.+]+", "-", stem).strip("-.") or "export"
    if len(safe) <= MAX_STEM_CHARS:
        return safe
    digest = hashlib.sha256(safe.encode("utf-8")).hexdigest()[:8]
    return f"{safe[:_STEM_HEAD].rstrip('-.')}-{digest}-{safe[-_STEM_TAIL:].lstrip('-.')}"


def signed(value: float) -> str:
    """A setting's value for a file name: 2.5 -> '+2.50', -0.5 -> '-0.50'."""
    return f"{value:+.2f}"


def named_png(image: Image.Image, stem: str, metadata: dict[str, object]) -> str:
    """`image` as a file named after `stem` (export_stem) carrying `metadata` (model, seeds, settings) in
    its PNG text chunks. Returned to a gr.Image, its download button then saves that file, name and metadata
    included (Gradio keeps a file's name; a PIL image it would save as image.png with nothing in it). The
    pixels are the image's own (PNG), so the page shows what a PIL image showed. A display file like Gradio's
    own: no fsync, and the exports' sweep deletes it after an hour."""
    path = export_folder() / f"{export_stem(stem)}.png"
    image.save(path, format="PNG", pnginfo=png_info(metadata))
    return str(path)


def export_png_and_gif(
    still: Image.Image, frames: Sequence[Image.Image], stem: str, metadata: dict[str, object], frame_ms: int = 150
) -> list[str]:
    """Write `stem`.png (the still) and `stem`.gif (the frames, played forward and back), both carrying
    `metadata` (seeds, model, method): PNG text chunks and the GIF comment."""
    folder, stem = export_folder(), export_stem(stem)
    text = {key: str(value) for key, value in metadata.items()}
    png = save_png(still, folder / f"{stem}.png", metadata=text)
    gif = save_gif(frames, folder / f"{stem}.gif", frame_ms=frame_ms, metadata=text, bounce=True)
    return [str(png), str(gif)]
