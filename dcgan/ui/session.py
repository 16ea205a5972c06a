"""Per-visitor state (held in gr.State) and its round trip through the page URL.

Everything here is small plain data (ints, floats, lists): gr.State deep-copies it per visitor,
and the URL holds enough of it (model, seeds, slider values) to reopen the same images.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

import numpy as np

from dcgan.errors import DcganError
from dcgan.explore.walk import WalkState  # the walk's plain data lives in the library; the tabs import it from here
from dcgan.nets.workload import MAX_INTERPOLATION_ROWS, MAX_INTERPOLATION_STEPS

GROUPS = ("A", "B", "C")
MAX_PICKS = 3  # exemplars per arithmetic group, as in the paper
MAX_PROJECTED = 6  # projected images a visitor keeps
MAX_SEED = 2**31 - 1
MAX_UPLOADS = 10  # uploaded models a visitor's picker remembers
# The first tab registered in dcgan/ui/tabs.py: what a page opens on, so its id never goes into the URL.
# Any other registered tab's id round-trips as tab=<id> (the app falls back here for ids it lacks).
DEFAULT_TAB = "walk"


@dataclass
class InterpolationState:
    seed_a: int = 1
    seed_b: int = 2
    steps: int = 9
    rows: int = 4
    start: str = "seed"  # "seed" or the name of a projected image
    end: str = "seed"


@dataclass
class Pick:
    label: str  # where the exemplar came from, e.g. "batch 7, #3"
    z: list[float]  # empty until the model is known, for a pick restored from a link by its ref
    ref: str = ""  # "7.3" for sample #3 of the gallery's batch 7: how a link names it (else by its z)


@dataclass
class InsideSettings:
    """What the Inside tab was last asked to draw, as a link reproduces it (an uploaded image is the
    visitor's own file: a link holds only a generated sample's seed)."""

    seed: int | None = None  # the generated sample looked inside; None: nothing yet (or an upload)
    channel: list[int] | None = None  # [layer, channel] of D clicked
    layer: int | None = None  # the G layer of the last ablation; None: none drawn yet
    channels: str = "0, 1, 2, 3"  # the filters zeroed by number
    forget: str = ""  # or the class forgotten with the probe
    noise_seed: int = 0  # the ablation's noise


@dataclass
class VisitorState:
    model: str | None = None  # the picker name of the current model
    tab: str = DEFAULT_TAB  # a TabSpec.id
    walk: WalkState = field(default_factory=WalkState)
    interpolation: InterpolationState = field(default_factory=InterpolationState)
    batch_seed: int = 0  # the arithmetic tab's gallery
    picks: dict[str, list[Pick]] = field(default_factory=lambda: {group: [] for group in GROUPS})
    projected: dict[str, list[float]] = field(default_factory=dict)  # name -> z, from the Real images tab
    uploads: list[str] = field(
        default_factory=list
    )  # names of the models this visitor uploaded (their picker lists them)
    # What the Inside tab last looked at, as a recipe, not pixels (state is kept per visitor):
    # {"source": "generated" | "upload", "seed": int, "path": the uploaded file in Gradio's cache}
    inside: dict | None = None
    inside_settings: InsideSettings = field(default_factory=InsideSettings)
    present: bool = False  # presenter view (dcgan/ui/presenter.py): a prepared link opens the class's screen
    examples_shown: set[str] = field(default_factory=set)  # tabs whose worked example this model has shown

    def reset_for_model(self, name: str) -> None:
        """A new model: z's from the old one mean nothing there (nz may even differ)."""
        self.model = name
        self.walk = WalkState(seed=self.walk.seed, strip="direction 0")
        self.interpolation.start = self.interpolation.end = "seed"
        self.picks = {group: [] for group in GROUPS}
        self.projected = {}
        self.inside = None
        self.inside_settings = InsideSettings()
        self.examples_shown = set()

    def add_upload(self, name: str) -> None:
        self.uploads = [upload for upload in self.uploads if upload != name][-(MAX_UPLOADS - 1) :] + [name]

    def add_projected(self, name: str, z: list[float]) -> None:
        self.projected[name] = z
        while len(self.projected) > MAX_PROJECTED:
            self.projected.pop(next(iter(self.projected)))


# ---- the URL ----------------------------------------------------------------------------------------------


def encode_z(z: list[float]) -> str:
    """z as URL-safe base64 of float16 (100 dims -> 268 characters): enough precision for the same image."""
    return base64.urlsafe_b64encode(np.asarray(z, dtype="<f2").tobytes()).decode().rstrip("=")


def decode_z(text: str) -> list[float]:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    values = np.frombuffer(raw, dtype="<f2").astype(np.float64)
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError("not a z vector")
    return values.tolist()


def _pairs(mapping: dict[int, float]) -> str:
    return ",".join(f"{key}:{value:.2f}" for key, value in sorted(mapping.items()))


def _parse_pairs(text: str) -> dict[int, float]:
    pairs = {}
    for item in filter(None, text.split(",")):
        key, value = item.split(":")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{value} is not a number")
        pairs[int(key)] = number
    return pairs


def _named_pairs(mapping: dict[str, float]) -> str:
    return ",".join(f"{name}:{value:.2f}" for name, value in sorted(mapping.items()))


def _parse_named_pairs(text: str) -> dict[str, float]:
    """attr=glasses:1.50,smiling:-1.00 -> {attribute: amount}; names are short words (the walk drops unknown
    ones), at most 8 of them."""
    pairs = {}
    for item in list(filter(None, text.split(",")))[:8]:
        name, value = item.split(":")
        number = float(value)
        if not re.fullmatch(r"[a-z_]{1,24}", name) or not math.isfinite(number):
            raise ValueError(f"{item} is not an attribute and an amount")
        pairs[name] = number
    return pairs


def query_string(state: VisitorState) -> str:
    """The shareable part of the state as a query string; empty values mean "remove this key"."""
    walk, interpolation = state.walk, state.interpolation
    params = {
        "model": state.model or "",
        "tab": state.tab if state.tab != DEFAULT_TAB else "",
        "seed": "" if walk.base is not None else walk.seed,
        "z": encode_z(walk.base) if walk.base is not None else "",
        "dims": ",".join(map(str, walk.dims)) if walk.custom_dims else "",
        "d": _pairs(walk.edits),
        "k": _pairs(walk.offsets),
        "attr": _named_pairs(walk.attributes),
        "keep": "1" if walk.keep_others else "",
        "strip": walk.strip if walk.strip != "direction 0" else "",
        "a": interpolation.seed_a,
        "b": interpolation.seed_b,
        "steps": interpolation.steps,
        "rows": interpolation.rows,
        "batch": state.batch_seed,
        **{f"p{group.lower()}": ",".join(map(_pick_ref, state.picks[group])) for group in GROUPS},
        **_inside_params(state.inside_settings),
        "present": "1" if state.present else "",
    }
    return urlencode(params, safe=":,")  # readable: d=66:1.25,5:-0.40


def apply_query(state: VisitorState, params: dict[str, str]) -> list[str]:
    """Restore what a shared link holds into `state`; returns the names of parameters it had to ignore.

    Only shapes are checked here; ranges that depend on the model (a dimension beyond nz) are
    dropped by the tabs when they build z.
    """
    ignored = []
    walk, interpolation = state.walk, state.interpolation

    def take(key: str, parse, apply) -> None:
        if params.get(key) in (None, ""):
            return
        try:
            apply(parse(params[key]))
        except (ValueError, TypeError):
            ignored.append(key)

    take("model", str, lambda value: setattr(state, "model", value))
    take("tab", str, lambda value: setattr(state, "tab", value))
    take("seed", _seed, lambda value: setattr(walk, "seed", value))
    take("z", decode_z, lambda value: (setattr(walk, "base", value), setattr(walk, "base_label", "a shared z")))
    take("dims", lambda text: [int(d) for d in text.split(",") if d][:8], lambda dims: _set_dims(walk, dims))
    take("d", _parse_pairs, lambda pairs: setattr(walk, "edits", pairs))
    take("k", _parse_pairs, lambda pairs: setattr(walk, "offsets", pairs))
    take("attr", _parse_named_pairs, lambda pairs: setattr(walk, "attributes", pairs))
    take("keep", _flag, lambda value: setattr(walk, "keep_others", value))
    take("strip", str, lambda value: setattr(walk, "strip", value))
    take("a", _seed, lambda value: setattr(interpolation, "seed_a", value))
    take("b", _seed, lambda value: setattr(interpolation, "seed_b", value))
    take("steps", lambda text: _clamped(text, 3, MAX_INTERPOLATION_STEPS), lambda n: setattr(interpolation, "steps", n))
    take("rows", lambda text: _clamped(text, 1, MAX_INTERPOLATION_ROWS), lambda n: setattr(interpolation, "rows", n))
    take("batch", _seed, lambda value: setattr(state, "batch_seed", value))
    for group in GROUPS:
        take(f"p{group.lower()}", _parse_picks, lambda picks, group=group: state.picks.__setitem__(group, picks))
    inside = state.inside_settings
    take("look", _seed, lambda value: setattr(inside, "seed", value))
    take("ch", _parse_channel, lambda value: setattr(inside, "channel", value))
    take("gl", lambda text: _bounded(text, 0, 16), lambda value: setattr(inside, "layer", value))
    take("zero", _parse_channels, lambda value: setattr(inside, "channels", value))
    take("forget", lambda text: text[:40], lambda value: setattr(inside, "forget", value))
    take("noise", _seed, lambda value: setattr(inside, "noise_seed", value))
    take("present", _flag, lambda value: setattr(state, "present", value))
    return ignored


def _pick_ref(pick: Pick) -> str:
    return pick.ref or "z" + encode_z(pick.z)


def _parse_picks(text: str) -> list[Pick]:
    """ "7.3,z<base64>" -> picks: sample #3 of batch 7 (its z filled in once the model is known), a z."""
    picks = []
    for item in filter(None, text.split(",")[:MAX_PICKS]):
        if item.startswith("z"):
            picks.append(Pick("a shared z", decode_z(item[1:])))
            continue
        batch, index = item.split(".")
        picks.append(Pick(f"batch {_seed(batch)}, #{_bounded(index, 0, 1000)}", [], ref=item))
    return picks


def _inside_params(inside: InsideSettings) -> dict[str, object]:
    """The Inside tab's keys; only those it has drawn (a link to another tab stays short)."""
    params: dict[str, object] = {"look": "", "ch": "", "gl": "", "zero": "", "forget": "", "noise": ""}
    if inside.seed is not None:
        params["look"] = inside.seed
        params["ch"] = ".".join(map(str, inside.channel)) if inside.channel else ""
    if inside.layer is not None:
        params |= {"gl": inside.layer, "noise": inside.noise_seed}
        params |= {"forget": inside.forget} if inside.forget else {"zero": inside.channels.replace(" ", "")}
    return params


def _parse_channel(text: str) -> list[int]:
    layer, channel = text.split(".")
    return [_bounded(layer, 0, 16), _bounded(channel, 0, 100_000)]


def _parse_channels(text: str) -> str:
    return ", ".join(str(_bounded(part, 0, 100_000)) for part in text.split(",")[:512] if part)


def _clamped(text: str, low: int, high: int) -> int:
    return min(max(int(text), low), high)


def _bounded(text: str, low: int, high: int) -> int:
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{value} is not from {low} to {high}")
    return value


def valid_seed(value: float | int | str | None) -> int:
    """A seed as every box, button and link of the app takes it: a whole number in [0, MAX_SEED].
    Empty means 0. DcganError otherwise (NaN, inf, 1e30, -1, 2.5, "x")."""
    if value is None or value == "":
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number == int(number) and 0 <= number <= MAX_SEED):
        raise DcganError(f"a seed is a whole number from 0 to {MAX_SEED:,}; {value!r} is not")
    return int(number)


def _seed(text: str) -> int:
    try:
        return valid_seed(text)
    except DcganError as error:
        raise ValueError(str(error)) from None


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(f"{text!r} is not 0 or 1")
    return text == "1"


def _set_dims(walk: WalkState, dims: list[int]) -> None:
    walk.dims, walk.custom_dims = dims, True


# Runs in the browser after a handler returns the new query string: merge it into the address bar
# without reloading (keys with empty values are removed; keys we don't own, like Gradio's, stay).
UPDATE_URL_JS = """
(query) => {
    if (!query) return [];
    const url = new URL(window.location.href);
    for (const [key, value] of new URLSearchParams(query)) {
        if (value === "") url.searchParams.delete(key); else url.searchParams.set(key, value);
    }
    window.history.replaceState(null, "", url);
    return [];
}
"""

# The last step of a page's start (and of a model change): the URL, then a mark on <html> that the page has
# started. Browser tests and scripts wait for it before pressing keys: a key pressed during the start's
# redraws races them.
READY_JS = f"""(query) => {{
    ({UPDATE_URL_JS.strip()})(query);
    document.documentElement.dataset.ready = '1';
    return [];
}}"""
