"""The walk (the paper's "walking in the latent space"): a seed, dimension and direction sliders, attribute
sliders, and the 9-image strip along one of them. A `WalkState` is plain data (the app keeps one per visitor)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from dcgan.errors import DcganError
from dcgan.explore.attributes import attribute_label
from dcgan.explore.explorer import Explorer
from dcgan.nets.latent import generate, sample_noise

WALK_DIMS = 8  # z dimensions a walk drives (the app's dimension sliders)
WALK_DIRECTIONS = 6  # directions a walk can move along (the app's direction sliders)
STRIP_LENGTH = 9  # images in the paper's "walking in the latent space" strip
# The sizes of the bulk work (2,000 probe samples, ...) live in dcgan/nets/workload.py, beside the estimate of
# what they cost that decides whether a visitor's model may be shown at all.


@dataclass
class WalkState:
    """One walk through z: where it starts and what has been moved. Plain data (the app keeps it per visitor)."""

    seed: int = 0
    base: list[float] | None = None  # a projected image's z, used instead of the seed's
    base_label: str = ""
    dims: list[int] = field(default_factory=list)  # the z dimensions the sliders drive
    custom_dims: bool = False  # True when the visitor chose them (else: the most sensitive)
    edits: dict[int, float] = field(default_factory=dict)  # z[dim] = value, set by the dimension sliders
    offsets: dict[int, float] = field(default_factory=dict)  # direction k -> amount moved along it
    attributes: dict[str, float] = field(default_factory=dict)  # attribute ("glasses") -> amount along its direction
    keep_others: bool = False  # attribute directions with the other attributes' projected out
    strip: str = "direction 0"  # what the 9-image strip walks along: "direction k", "z[d]" or "attribute NAME"


# ---- the walk ------------------------------------------------------------------------------------------------


def seed_z(explorer: Explorer, walk: WalkState) -> torch.Tensor:
    """(nz,) the walk's starting point: a projected image's z, or the seed's."""
    if walk.base is not None and len(walk.base) == explorer.nz:
        return torch.tensor(walk.base, dtype=torch.float32)
    return sample_noise(1, explorer.nz, explorer.noise, seed=walk.seed)[0]


def edited_z(explorer: Explorer, walk: WalkState) -> torch.Tensor:
    """(nz,) the start with the dimension sliders' values set (what those sliders show)."""
    z = seed_z(explorer, walk)
    for dim, value in walk.edits.items():
        if 0 <= dim < explorer.nz:
            z[dim] = value
    return z


def walk_z(explorer: Explorer, walk: WalkState) -> torch.Tensor:
    """(nz,) the z on screen: the start, with the dimension sliders' values, moved along the directions."""
    z = edited_z(explorer, walk)
    directions, _ = explorer.directions()
    for k, amount in walk.offsets.items():
        if 0 <= k < len(directions):
            z = z + amount * directions[k]
    found = explorer.attribute_directions() if walk.attributes else None
    for name, amount in walk.attributes.items():
        if found is not None and name in found.names:
            z = z + amount * found.direction(name, walk.keep_others)
    return z


def dim_limit(explorer: Explorer) -> float:
    """Range of one z dimension in a walk: +-3 sigma for N(0, 1), the whole of U(-1, 1)."""
    return 3.0 if explorer.noise == "normal" else 1.0


def direction_limit(explorer: Explorer) -> float:
    """Directions are unit vectors, so z's coordinate along one has the noise's per-dimension spread."""
    return round(3.0 * explorer.noise_std, 2)


def clamp(value: float, limit: float) -> float:
    return max(-limit, min(limit, value))


def valid_dims(explorer: Explorer, walk: WalkState) -> None:
    """Keep the walk's dimensions when they fit this model, else the WALK_DIMS most sensitive; clamp the
    edits and offsets to their ranges (in place)."""
    wanted = [d for d in walk.dims if 0 <= d < explorer.nz][:WALK_DIMS] if walk.custom_dims else []
    walk.custom_dims = bool(wanted)
    walk.dims = wanted or explorer.ranked_dimensions()[:WALK_DIMS]
    walk.edits = {d: clamp(v, dim_limit(explorer)) for d, v in walk.edits.items() if d in walk.dims}
    n_directions = min(WALK_DIRECTIONS, len(explorer.directions()[0]))
    walk.offsets = {k: clamp(v, direction_limit(explorer)) for k, v in walk.offsets.items() if 0 <= k < n_directions}
    names = attribute_names(explorer) if walk.attributes else []
    walk.attributes = {a: clamp(v, direction_limit(explorer)) for a, v in walk.attributes.items() if a in names and v}


def attribute_names(explorer: Explorer) -> list[str]:
    """The attributes this model's walk has a slider for (none without an attribute-reading judge)."""
    found = explorer.attribute_directions()
    return list(found.names) if found is not None else []


def strip_choices(explorer: Explorer, walk: WalkState) -> list[str]:
    """What the strip can walk along: every direction, then the attributes', then the walk's dimensions."""
    directions = [f"direction {k}" for k in range(len(explorer.directions()[0]))]
    attributes = [f"attribute {name}" for name in attribute_names(explorer)]
    return directions + attributes + [f"z[{d}]" for d in walk.dims]


def strip_images(explorer: Explorer, walk: WalkState) -> tuple[torch.Tensor, str]:
    """(9, nc, S, S) along walk.strip, and a caption. One generator forward for the whole strip.

    A direction: the current z moved from -3 sigma to +3 sigma along it. A dimension z[d]: z[d]
    swept over its slider range with the rest of z fixed.
    """
    z = walk_z(explorer, walk)
    choice = walk.strip if walk.strip in strip_choices(explorer, walk) else "direction 0"
    if choice.startswith("direction"):
        k = int(choice.split()[1])
        limit = direction_limit(explorer)
        amounts = torch.linspace(-limit, limit, STRIP_LENGTH)
        path = z + amounts[:, None] * explorer.directions()[0][k]
        caption = f"{explorer.direction_labels()[k]}: z moved from {-limit:+.2f} to {limit:+.2f} along it"
    elif choice.startswith("attribute "):
        name = choice.removeprefix("attribute ")
        limit = direction_limit(explorer)
        amounts = torch.linspace(-limit, limit, STRIP_LENGTH)
        path = z + amounts[:, None] * explorer.attribute_directions().direction(name, walk.keep_others)
        kept = ", the other attributes kept" if walk.keep_others else ""
        caption = f"{attribute_label(name)}: z moved from {-limit:+.2f} to {limit:+.2f} along its direction{kept}"
    else:
        dim = int(choice[2:-1])
        limit = dim_limit(explorer)
        path = z.repeat(STRIP_LENGTH, 1)
        path[:, dim] = torch.linspace(-limit, limit, STRIP_LENGTH)
        caption = f"z[{dim}] swept from {-limit:+.1f} to {limit:+.1f}, the rest of z fixed"
    return generate(explorer.generator, path), caption


def strip_metadata(explorer: Explorer, walk: WalkState, caption: str) -> dict[str, object]:
    """What an exported strip carries (PNG text chunks, GIF comment): enough to draw it again."""
    return {
        "model": explorer.name,
        "seed": walk.seed if walk.base is None else walk.base_label,
        "along": walk.strip,
        "caption": caption,
        "edits": walk.edits,
        "offsets": walk.offsets,
        "attributes": walk.attributes,
        "keep_others": walk.keep_others,
    }


def move_slider(explorer: Explorer, walk: WalkState, kind: str, slot: int, value: float) -> bool:
    """Apply one slider's value to the walk: dimension slider `slot` sets z[walk.dims[slot]], direction
    slider `slot` sets the amount along direction `slot`, attribute slider `slot` the amount along the
    `slot`th attribute's direction, clamped to the slider's range. False when that
    slider is unused; DcganError for NaN or inf (a request can send what no slider can)."""
    value = float(value)
    if not math.isfinite(value):
        raise DcganError(f"a slider value must be a finite number, not {value}")
    if kind == "dim":
        if not 0 <= slot < len(walk.dims):
            return False
        walk.edits[walk.dims[slot]] = clamp(value, dim_limit(explorer))
    elif kind == "attribute":
        names = attribute_names(explorer)
        if not 0 <= slot < len(names):
            return False
        walk.attributes[names[slot]] = clamp(value, direction_limit(explorer))
        walk.attributes = {name: v for name, v in walk.attributes.items() if v != 0}
    else:
        if not 0 <= slot < min(WALK_DIRECTIONS, len(explorer.directions()[0])):
            return False
        walk.offsets[slot] = clamp(value, direction_limit(explorer))
        walk.offsets = {k: v for k, v in walk.offsets.items() if v != 0}
    return True


def walk_along(explorer: Explorer, seed: int, along: str = "direction 0") -> WalkState:
    """A fresh walk from `seed` whose strip goes along `along` ("direction k", "attribute NAME" or "z[d]", any
    d < nz); DcganError naming the choices when it is none of them."""
    walk = WalkState(seed=seed, strip=along)
    if along.startswith("z[") and along.endswith("]") and along[2:-1].isdigit():
        walk.dims, walk.custom_dims = [int(along[2:-1])], True
    valid_dims(explorer, walk)
    n_directions = len(explorer.directions()[0])
    if along not in strip_choices(explorer, walk):
        attributes = "".join(f", 'attribute {name}'" for name in attribute_names(explorer))
        raise DcganError(
            f"cannot walk along {along!r}: use 'direction K' (K from 0 to {n_directions - 1}){attributes} "
            f"or 'z[D]' (D from 0 to {explorer.nz - 1})"
        )
    return walk
