"""Tensors in [-1, 1] -> uint8 arrays and PIL images; grids, strips, GIF animations.

This is the only place where images leave the library: the UI never rescales tensors itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageColor, ImageDraw, PngImagePlugin

from dcgan.io_utils import atomic_write


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) floats in [-1, 1] -> (N, H, W, C) uint8, rounding to nearest."""
    if images.dim() == 3:
        images = images.unsqueeze(0)
    scaled = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> one (H', W', C) uint8 grid, `nrow` images per row (default: square)."""
    pixels = to_uint8(images)
    count, height, width, channels = pixels.shape
    per_row = nrow or math.ceil(math.sqrt(count))
    rows = math.ceil(count / per_row)
    grid = np.full(
        (rows * (height + padding) + padding, per_row * (width + padding) + padding, channels), pad_value, np.uint8
    )
    for index in range(count):
        top = padding + (index // per_row) * (height + padding)
        left = padding + (index % per_row) * (width + padding)
        grid[top : top + height, left : left + width] = pixels[index]
    return grid


def to_pil(pixels: np.ndarray, scale: int = 1) -> Image.Image:
    """(H, W, C) uint8 -> PIL ('L' for one channel), optionally upscaled with crisp nearest pixels."""
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    return image


def grid_image(images: torch.Tensor, nrow: int | None = None, padding: int = 2, scale: int = 1) -> Image.Image:
    return to_pil(make_grid(images, nrow=nrow, padding=padding), scale=scale)


def save_png(image: Image.Image, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write a PNG atomically; `metadata` goes into its text chunks (seed, model, method...)."""
    path = Path(path)
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG", pnginfo=png_info(metadata)))
    return path


def png_info(metadata: dict[str, object] | None) -> PngImagePlugin.PngInfo:
    """PNG text chunks holding `metadata` (values as text)."""
    info = PngImagePlugin.PngInfo()
    for key, value in (metadata or {}).items():
        info.add_text(key, str(value))
    return info


def save_gif(
    frames: Sequence[Image.Image],
    path: str | Path,
    frame_ms: int = 120,
    metadata: dict[str, str] | None = None,
    bounce: bool = False,
) -> Path:
    """An endlessly looping GIF; `bounce` plays it forward then back (nice for interpolations)."""
    frames = list(frames)
    if bounce and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    comment = gif_comment(metadata)
    path = Path(path)
    atomic_write(
        path,
        lambda tmp: frames[0].save(
            tmp, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0, comment=comment
        ),
    )
    return path


def gif_comment(metadata: dict[str, object] | None) -> str:
    """A GIF's comment text for `metadata`: "key=value; key=value"."""
    return "; ".join(f"{key}={value}" for key, value in (metadata or {}).items())


def gif_with_comment(gif: bytes, metadata: dict[str, object]) -> bytes:
    """The GIF `gif` (its bytes) with `metadata` as a comment block, frames untouched: no re-encoding, so
    this costs a copy. The comment goes where readers look for it, before the first frame: right after the
    header, the screen descriptor and its global colour table."""
    if gif[:6] not in (b"GIF87a", b"GIF89a"):
        raise ValueError("not a GIF file")
    flags = gif[10]
    start = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # a colour table of 2^(n+1) RGB entries
    text = gif_comment(metadata).encode("utf-8")
    blocks = b"".join(bytes([len(part)]) + part for part in (text[i : i + 255] for i in range(0, len(text), 255)))
    return b"GIF89a" + gif[6:start] + b"\x21\xfe" + blocks + b"\x00" + gif[start:]  # comments need GIF89a


def upscaled(pixels: np.ndarray, size: int) -> Image.Image:
    """An (S, S, C) uint8 array shown at `size` x `size` px with crisp nearest-neighbour pixels."""
    return to_pil(pixels).resize((size, size), Image.Resampling.NEAREST)


def gradient_image(gradient: torch.Tensor, size: int = 192, signed: bool = False) -> Image.Image:
    """A saliency map (nc, S, S) as a picture of `size` px, smoothly upscaled (a gradient has no crisp pixels).

    signed=False: |gradient| summed over channels, grey, normalised to the largest and square-rooted so faint
    structure stays visible. signed=True: the gradient itself around mid-grey (lighter: more of this colour
    would raise the target; darker: less), in the image's own channels: how guided backprop is usually shown.
    """
    gradient = gradient.detach().float().cpu()
    if signed:
        scaled = gradient / gradient.abs().max().clamp_min(1e-12)  # [-1, 1], like an image
        return to_pil(to_uint8(scaled)[0]).resize((size, size), Image.Resampling.BICUBIC)
    magnitude = gradient.abs().sum(0)
    magnitude = magnitude / magnitude.max().clamp_min(1e-12)
    grey = to_pil((magnitude.sqrt() * 255).round().byte().numpy()[..., None])
    return grey.resize((size, size), Image.Resampling.BICUBIC)


def rows_image(rows: Sequence[Sequence[Image.Image]], gap: int = 4, background: int = 255) -> Image.Image:
    """Pictures laid out row by row, left-aligned, `gap` px apart (rows may differ in length and height)."""
    widths = [sum(picture.width for picture in row) + gap * (len(row) + 1) for row in rows]
    heights = [max(picture.height for picture in row) for row in rows]
    canvas = Image.new("RGB", (max(widths), sum(heights) + gap * (len(rows) + 1)), (background,) * 3)
    top = gap
    for row, height in zip(rows, heights, strict=True):
        left = gap
        for picture in row:
            canvas.paste(picture.convert("RGB"), (left, top))
            left += picture.width + gap
        top += height + gap
    return canvas


def line_chart(
    x: Sequence[float],
    series: dict[str, Sequence[Sequence[float]]],
    title: str,
    reference: tuple[float, str] | None = None,
    size: tuple[int, int] = (720, 360),
) -> Image.Image:
    """A plain line chart as a picture (for exports: no plotting library needed): each series' first line
    drawn bold, the others faint, a dotted horizontal `reference` (value, label), axes with min/max ticks."""
    width, height = size
    left, right, top, bottom = 60, 20, 36, 40
    values = [v for lines in series.values() for line in lines for v in line] + ([reference[0]] if reference else [])
    low, high = min(values), max(values)
    low, high = (low - 1, high + 1) if high == low else (low - 0.05 * (high - low), high + 0.05 * (high - low))
    x_low, x_high = min(x), max(x) if max(x) > min(x) else min(x) + 1

    def point(xv: float, yv: float) -> tuple[float, float]:
        return (
            left + (xv - x_low) / (x_high - x_low) * (width - left - right),
            top + (high - yv) / (high - low) * (height - top - bottom),
        )

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.text((left, 10), title, fill="black")
    draw.line([point(x_low, low), point(x_high, low)], fill="black")
    draw.line([point(x_low, low), point(x_low, high)], fill="black")
    for value in (low, high):
        draw.text((4, point(x_low, value)[1] - 6), f"{value:.1f}", fill="black")
    draw.text((left, height - bottom + 6), f"{x_low:g}", fill="black")
    draw.text((width - right - 24, height - bottom + 6), f"{x_high:g}", fill="black")
    if reference:
        y = point(x_low, reference[0])[1]
        for start in range(left, width - right, 8):
            draw.line([(start, y), (start + 4, y)], fill="grey")
        draw.text((width - right - 8 * len(reference[1]), y - 14), reference[1], fill="grey")
    colours = ["#e4572e", "#2e86ab", "#4c9f38", "#a23b72"]
    for index, (name, lines) in enumerate(series.items()):
        colour = ImageColor.getrgb(colours[index % len(colours)])
        faint = tuple(round(255 - (255 - c) * 0.4) for c in colour)
        for row, line in reversed(list(enumerate(lines))):  # the bold first line on top
            draw.line(
                [point(a, b) for a, b in zip(x, line, strict=True)],
                fill=colour if row == 0 else faint,
                width=3 if row == 0 else 1,
            )
        draw.text((left + 10 + 80 * index, height - 18), name, fill=colour)
    return image
