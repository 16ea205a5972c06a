"""Labelled cartoon faces as a dataset: facesjs (npm, Apache-2.0) faces, rasterised by resvg, on white.

For the paper's Figure 7 (man with glasses - man without + woman without = woman with glasses; the
smile vector) the attributes the arithmetic uses are balanced by overriding facesjs's own draws: half
the faces are women, half wear glasses (facesjs alone gives ~9%, and a DCGAN trained on that drew none)
and half smile, each independently of the others: every 8 aligned faces hold each of the 8
combinations (`FACE_CLASSES`) once, in a shuffled order. Facial hair, hats, hair and skin colour are
as facesjs draws them.

The renderer is a node script (scripts/faces/render.mjs, with facesjs and @resvg/resvg-js pinned in
its package-lock.json): it draws faces [start, start+count) of a base seed, each from a PRNG seeded
by (seed, index), so face i is the same in every render (the first k of N faces are the render of k).
Node is needed only to render: the uint8 pixels and the attributes are cached as a compressed .npz
in `cache_dir()/faces/` (60,000 faces at 64x64: 7 min on two busy cores, ~6 ms of CPU a face),
and the app and shipped models never run it. Install it with `npm ci --prefix scripts/faces` (node >= 18).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dcgan.data.dataset import ImageDataset, cache_dir, check_load_arguments
from dcgan.errors import DcganError
from dcgan.io_utils import atomic_write

log = logging.getLogger(__name__)

FACES_COUNT = 60_000  # the dataset's size (load_faces' `limit` renders only the first faces)
FACES_SEED = 0  # the base seed: face i is drawn from a PRNG seeded by (FACES_SEED, i)
RENDER_VERSION = 1  # bump when the pictures change in a way the package-lock and the lists below do not show
RENDERER_DIR = Path(__file__).resolve().parents[2] / "scripts" / "faces"
NODE = "node"  # the node executable, looked up on PATH
MIN_NODE_MAJOR = 18
INSTALL_HINT = "install Node.js >= 18 (https://nodejs.org), then run `npm ci --prefix scripts/faces`"

# The square of facesjs's 400x600 picture that is drawn: x, y, side. It holds the head from the chin
# (y ~ 490) to the top of most hair (median y ~ 76) and every afro's width; the tips of the tallest
# dreads and of a Santa hat (y ~ 0) are cut. The shirt is left out.
VIEW = (-30, 35, 460)

# Glasses: every facesjs pair (all visible at 64x64: the thick frames and the tinted half-rims). Not
# "facemask", a sports mask that covers the upper face, which is not glasses.
GLASSES_IDS = ("glasses1-primary", "glasses1-secondary", "glasses2-black", "glasses2-primary", "glasses2-secondary")
# Mouths, judged on a contact sheet of every facesjs mouth at 64x64 and 200 px. Smiling: the upturned
# ones that still read as a smile at 64 px (white teeth in a U, or a wide curve with corners). Not
# smiling: closed or neutral lips, a straight line, a slight frown. Left out of both, so that neither
# class holds a look-alike of the other: "smile-closed" (a real smile, but a thin curve that is almost
# a straight line at 64 px), "mouth" (a small open oval: a white blob like a smile's teeth), "mouth3",
# "mouth7", "mouth8" (half grins), "angry" (bared teeth, like a grin at 64 px) and "side" (a smirk).
SMILING_MOUTHS = ("smile", "smile2", "smile3", "smile4")
PLAIN_MOUTHS = ("straight", "closed", "mouth2", "mouth4", "mouth5", "mouth6")
# Hats: the accessories facesjs itself treats as hats (it swaps tall hair for short under them). Not
# the headbands (a thin band across the hair) or "eye-black" (stripes under the eyes).
HAT_IDS = ("hat", "hat2", "hat3", "santa-hat")

# The single class of each image (the app's class means and class vectors): 4*female + 2*glasses + smiling.
FACE_CLASSES = [
    "man",
    "man, smiling",
    "man, glasses",
    "man, glasses, smiling",
    "woman",
    "woman, smiling",
    "woman, glasses",
    "woman, glasses, smiling",
]
# Each class-defining attribute, and the classes that have it (its bit in the label above)
FACE_CLASS_ATTRIBUTES = {
    name: [label for label in range(len(FACE_CLASSES)) if label & bit]
    for name, bit in (("female", 4), ("glasses", 2), ("smiling", 1))
}
BINARY_ATTRIBUTES = ("female", "glasses", "smiling", "facial_hair", "hat")
# Categorical attributes: the index into these names. facesjs picks a skin and a hair colour from its
# palette of each race; these group its colours (`_HAIR_PALETTE`, `_SKIN_PALETTE`; an unknown colour
# goes to the nearest).
HAIR_COLORS = ["black", "dark brown", "brown", "light brown", "blond", "red"]
SKIN_TONES = ["light", "medium-light", "medium", "dark"]  # by luminance: > 200, 180-200, 110-150, < 100
_HAIR_PALETTE = {
    "#272421": 0, "#0f0902": 0, "#1c1008": 0, "#2c1608": 1, "#3d2314": 1, "#5a3825": 2,
    "#cc9966": 3, "#e9c67b": 4, "#d7bf91": 4, "#b55239": 5,
}  # fmt: skip
_SKIN_PALETTE = {
    "#fedac7": 0, "#f2d6cb": 0, "#f0c5a3": 0, "#ddb7a0": 1, "#eab687": 1,
    "#bb876f": 2, "#aa816f": 2, "#a67358": 2, "#ad6453": 2, "#74453d": 3, "#5c3937": 3,
}  # fmt: skip

_PROGRESS_EVERY = 10.0  # seconds between progress lines while rendering


@dataclass
class FacesDataset(ImageDataset):
    # per face: female, glasses, smiling, facial_hair, hat (bool) and hair_color, skin_tone (int8
    # indices into HAIR_COLORS, SKIN_TONES)
    attributes: dict[str, np.ndarray] = field(default_factory=dict)


# ----------------------------------------------------------------------------- attributes


def renderer_config() -> dict:
    """What render.mjs is told to draw (this module is the one source of these lists)."""
    return {
        "glasses": list(GLASSES_IDS),
        "smiling": list(SMILING_MOUTHS),
        "plain": list(PLAIN_MOUTHS),
        "view": list(VIEW),
    }


def _colour_index(hex_colour: str, palette: dict[str, int]) -> int:
    colour = hex_colour.strip().lower()
    if colour in palette:
        return palette[colour]

    def rgb(text: str) -> np.ndarray:
        return np.array([int(text[k : k + 2], 16) for k in (1, 3, 5)], dtype=np.int64)

    if not re.fullmatch(r"#[0-9a-f]{6}", colour):
        raise DcganError(f"facesjs drew an unexpected colour {hex_colour!r}; update dcgan/data/faces.py's palettes")
    distances = {known: int(((rgb(known) - rgb(colour)) ** 2).sum()) for known in palette}
    return palette[min(distances, key=distances.get)]


def face_attributes(faces: list[dict]) -> dict[str, np.ndarray]:
    """The attributes of facesjs face objects, as render_faces returns them."""
    columns: dict[str, list] = {name: [] for name in (*BINARY_ATTRIBUTES, "hair_color", "skin_tone")}
    for face in faces:
        columns["female"].append(face["gender"] == "female")
        columns["glasses"].append(face["glasses"]["id"] != "none")
        columns["smiling"].append(face["mouth"]["id"] in SMILING_MOUTHS)
        columns["facial_hair"].append(face["facialHair"]["id"] != "none")
        columns["hat"].append(face["accessories"]["id"] in HAT_IDS)
        columns["hair_color"].append(_colour_index(face["hair"]["color"], _HAIR_PALETTE))
        columns["skin_tone"].append(_colour_index(face["body"]["color"], _SKIN_PALETTE))
    return {
        name: np.array(values, dtype=bool if name in BINARY_ATTRIBUTES else np.int8) for name, values in columns.items()
    }


def face_labels(attributes: dict[str, np.ndarray]) -> np.ndarray:
    """The FACE_CLASSES index of each face: 4*female + 2*glasses + smiling."""
    female, glasses, smiling = (attributes[name].astype(np.int64) for name in ("female", "glasses", "smiling"))
    return 4 * female + 2 * glasses + smiling


# ----------------------------------------------------------------------------- the node renderer


def _lock_file() -> Path:
    return RENDERER_DIR / "package-lock.json"


def check_renderer() -> str:
    """The node executable's path, after checking node >= 18 and the installed packages (else DcganError)."""
    node = shutil.which(NODE)
    if node is None:
        raise DcganError(f"rendering the faces dataset needs Node.js, which is not on PATH: {INSTALL_HINT}")
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        raise DcganError(f"cannot run {node} ({error}): {INSTALL_HINT}") from None
    match = re.match(r"v(\d+)\.", version)
    if match is None or int(match.group(1)) < MIN_NODE_MAJOR:
        raise DcganError(f"rendering the faces dataset needs Node.js >= 18, and {node} is {version!r}: {INSTALL_HINT}")
    modules = RENDERER_DIR / "node_modules"
    missing = [name for name in ("facesjs", "@resvg/resvg-js") if not (modules / name / "package.json").is_file()]
    if not (RENDERER_DIR / "render.mjs").is_file():
        raise DcganError(f"the faces renderer {RENDERER_DIR / 'render.mjs'} is missing; reinstall DCGAN Explorer")
    if missing:
        raise DcganError(
            f"the faces renderer's packages ({', '.join(missing)}) are not installed in {modules}: "
            "run `npm ci --prefix scripts/faces` (Node.js >= 18)"
        )
    return node


def _run_renderer(node: str, arguments: list[str]) -> subprocess.Popen:
    command = [node, str(RENDERER_DIR / "render.mjs"), *arguments]
    return subprocess.Popen(command, cwd=RENDERER_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen) -> None:
    _out, err = process.communicate()
    if process.returncode != 0:
        tail = "\n".join(err.strip().splitlines()[-5:])
        raise DcganError(f"the faces renderer failed (exit status {process.returncode}):\n{tail}")


def render_faces(
    start: int, count: int, image_size: int, seed: int = FACES_SEED, workers: int | None = None
) -> tuple[np.ndarray, list[dict]]:
    """Faces [start, start+count): (count, S, S, 3) uint8 pixels and their facesjs face objects.

    Runs `workers` node processes side by side, each on a contiguous chunk (None: 2, one per
    core, or 1 for under 512 faces: a node process costs ~0.3 s to start); logs progress."""
    node = check_renderer()
    workers = (2 if count >= 512 else 1) if workers is None else max(1, min(workers, count))
    bounds = np.linspace(start, start + count, workers + 1).round().astype(int)
    face_bytes = image_size * image_size * 3
    config = json.dumps(renderer_config())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dcgan-faces-") as folder:
        chunks = []
        for k, (first, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            pixels_path, faces_path = Path(folder) / f"{k}.rgb", Path(folder) / f"{k}.jsonl"
            arguments = ["--config", config, "--seed", str(seed), "--start", str(first), "--count", str(stop - first)]
            arguments += ["--size", str(image_size), "--pixels", str(pixels_path), "--attributes", str(faces_path)]
            chunks.append((_run_renderer(node, arguments), pixels_path, faces_path, stop - first))
        try:
            last_log = time.perf_counter()
            while any(process.poll() is None for process, *_ in chunks):
                time.sleep(0.2)
                if time.perf_counter() - last_log >= _PROGRESS_EVERY:
                    last_log = time.perf_counter()
                    done = sum(path.stat().st_size // face_bytes for _, path, _, _ in chunks if path.exists())
                    elapsed = last_log - started
                    log.info("rendering faces: %d/%d at %dx%d (%.0f s)", done, count, image_size, image_size, elapsed)
            for process, *_ in chunks:
                _finish(process)
        finally:
            for process, *_ in chunks:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        pixels, faces = [], []
        for _, pixels_path, faces_path, chunk_count in chunks:
            raw = np.fromfile(pixels_path, dtype=np.uint8)
            if raw.size != chunk_count * face_bytes:
                raise DcganError(f"the faces renderer wrote {raw.size} bytes, not {chunk_count * face_bytes}")
            pixels.append(raw.reshape(chunk_count, image_size, image_size, 3))
            records = [json.loads(line) for line in faces_path.read_text().splitlines() if line.strip()]
            faces.extend(record["face"] for record in records)
    log.info("rendered %d faces at %dx%d in %.1f s", count, image_size, image_size, time.perf_counter() - started)
    return np.concatenate(pixels), faces


def render_face_objects(faces: list[dict], image_size: int) -> np.ndarray:
    """Draw given facesjs face objects (e.g. a face from render_faces with its glasses changed): (N, S, S, 3) uint8."""
    node = check_renderer()
    with tempfile.TemporaryDirectory(prefix="dcgan-faces-") as folder:
        faces_path, pixels_path = Path(folder) / "faces.jsonl", Path(folder) / "faces.rgb"
        faces_path.write_text("".join(json.dumps(face) + "\n" for face in faces))
        arguments = ["--config", json.dumps(renderer_config()), "--faces", str(faces_path)]
        _finish(_run_renderer(node, [*arguments, "--size", str(image_size), "--pixels", str(pixels_path)]))
        return np.fromfile(pixels_path, dtype=np.uint8).reshape(len(faces), image_size, image_size, 3)


# ----------------------------------------------------------------------------- the cached dataset


def _render_key() -> str:
    """What the pictures depend on besides count and size: the pinned packages, the lists, the version."""
    digest = hashlib.sha256(json.dumps([RENDER_VERSION, FACES_SEED, renderer_config()]).encode())
    try:
        digest.update(_lock_file().read_bytes())
    except OSError:
        digest.update(b"no package-lock")
    return digest.hexdigest()[:12]


def faces_cache_path(count: int, image_size: int) -> Path:
    return cache_dir() / "faces" / f"faces-{_render_key()}-{image_size}px-{count}.npz"


def _read_cache(path: Path, count: int, image_size: int) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """The first `count` faces of a cache file, or None when it is damaged or too small."""
    try:
        with np.load(path, allow_pickle=False) as cache:
            pixels = cache["pixels"]
            attributes = {name: cache[f"attribute_{name}"] for name in (*BINARY_ATTRIBUTES, "hair_color", "skin_tone")}
    except (OSError, ValueError, KeyError, EOFError) as error:  # damaged or foreign: render again
        log.warning("ignoring the faces cache %s: %s", path, error)
        return None
    if pixels.shape[1:] != (image_size, image_size, 3) or len(pixels) < count:
        return None
    if any(len(values) != len(pixels) for values in attributes.values()):
        return None
    return pixels[:count], {name: values[:count] for name, values in attributes.items()}


def _cached(count: int, image_size: int) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """The first `count` faces from the exact cache, else from the smallest larger one (renders are prefix-stable)."""
    exact = faces_cache_path(count, image_size)
    candidates = [exact] if exact.is_file() else []
    pattern = f"faces-{_render_key()}-{image_size}px-*.npz"
    larger = []
    for path in exact.parent.glob(pattern) if exact.parent.is_dir() else []:
        size = path.stem.rsplit("-", 1)[-1]
        if size.isdigit() and int(size) > count:
            larger.append((int(size), path))
    candidates += [path for _, path in sorted(larger)]
    for path in candidates:
        found = _read_cache(path, count, image_size)
        if found is not None:
            return found
    return None


def load_face_pixels(count: int, image_size: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(count, S, S, 3) uint8 and the attributes of the first `count` faces: cached, else rendered and cached."""
    cached = _cached(count, image_size)
    if cached is not None:
        return cached
    pixels, faces = render_faces(0, count, image_size)
    attributes = face_attributes(faces)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as out:  # a file object: np.savez would add ".npz" to a path
            arrays = {f"attribute_{name}": values for name, values in attributes.items()}
            np.savez_compressed(out, pixels=pixels, **arrays)

    atomic_write(faces_cache_path(count, image_size), write)
    return pixels, attributes


def load_faces(image_size: int = 64, channels: int | None = 3, limit: int | None = None) -> FacesDataset:
    """The faces as (N, 3, S, S) floats in [-1, 1] (channels=1: grey), labelled by FACE_CLASSES.

    Rendered at `image_size` (sharper than resizing); `limit` renders (or reads) only the first N."""
    check_load_arguments(image_size, channels, limit)
    pixels, attributes = load_face_pixels(min(limit or FACES_COUNT, FACES_COUNT), image_size)
    if channels == 1:
        # Pillow's RGB -> L weights (ITU-R 601), in fixed point as Pillow does it.
        weights = np.array([19595, 38470, 7471], dtype=np.uint32)
        pixels = ((pixels.astype(np.uint32) @ weights + 0x8000) >> 16).astype(np.uint8)[..., None]
    images = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))).float().div_(127.5).sub_(1.0)
    labels = torch.from_numpy(face_labels(attributes))
    return FacesDataset(images, labels, list(FACE_CLASSES), "faces", attributes=attributes)
