"""What the host allows anonymous visitors of the app: upload sizes, how long uploads are kept and how
much disk they may take, the training job's budget, and the token that lets the host stop any job.

Read from the environment (a Hugging Face Space's "variables and secrets"), overridden by app.py's
flags. Nothing here imports gradio. (It imports dcgan.data, hence torch, as `import dcgan` does
anyway; app.py imports this module only after --help.)
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dcgan.data.registry import is_registered_dataset
from dcgan.errors import DcganError

ENV_PREFIX = "DCGAN_"


@dataclass(frozen=True)
class HostLimits:
    """Each field is also the environment variable DCGAN_<FIELD NAME IN CAPITALS>; 0 means no limit."""

    max_upload_mb: float = 100.0  # the largest file a visitor may upload (Gradio refuses bigger ones)
    uploads_quota_mb: float = 1000.0  # uploaded models on disk in all; each address keeps at most a quarter
    # (uploads.OWNER_SHARE), its oldest deleted first
    uploads_ttl_hours: float = 24.0  # an uploaded model is deleted this long after its upload
    job_max_steps: int = 10_000  # a visitor's training job may ask for at most this many steps
    job_max_minutes: float = 60.0  # ... and is stopped (with a checkpoint) after this long
    job_pause_minutes: float = 10.0  # a paused job is stopped after this long, freeing the server's slot
    host_token: str = ""  # lets whoever types it stop or pause any job; "" makes a random one at launch
    # What the app may spend on one visitor's model (an upload, a Hub id), estimated from its config before
    # anything is built (dcgan/nets/workload.py): preparing every view, or any one request on it, in CPU seconds;
    # and the memory it holds at its peak. The defaults fit a 16 GB, 2-vCPU Space with 4 models loaded.
    max_model_seconds: float = 120.0
    max_model_memory_mb: float = 2048.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> HostLimits:
        """Defaults, then DCGAN_* variables, then `overrides` that are not None (app.py's flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for spec in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + spec.name.upper(), "").strip()
            if raw:
                values[spec.name] = _parse(spec.name, raw, type(spec.default))
        values |= {name: value for name, value in overrides.items() if value is not None}
        limits = cls(**values)
        if not limits.host_token:
            limits = dataclasses.replace(limits, host_token=secrets.token_urlsafe(12))
        return limits

    @property
    def max_upload_bytes(self) -> int | None:
        return int(self.max_upload_mb * 2**20) if self.max_upload_mb > 0 else None

    def is_host(self, token: str | None) -> bool:
        """Constant-time comparison: the token is the host's only credential. Compared as UTF-8 bytes:
        compare_digest refuses str with non-ASCII characters (a TypeError, not False), and a request's
        JSON may even hold a lone surrogate ("\\ud800"), which only surrogatepass encodes."""
        if not token:
            return False
        typed = str(token).strip().encode("utf-8", "surrogatepass")
        return secrets.compare_digest(typed, self.host_token.encode("utf-8", "surrogatepass"))


def _parse(name: str, raw: str, kind: type) -> object:
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a {kind.__name__}") from None
    if isinstance(value, (int, float)) and value < 0:
        raise ValueError(f"{ENV_PREFIX}{name.upper()} must be 0 (no limit) or positive, got {raw}")
    return value


# ---- server folders a visitor's request may open ------------------------------------------------------------


def data_roots(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Folders whose insides visitors may train on or take examples from: $DCGAN_DATA_ROOTS
    (os.pathsep-separated), else ./data; resolved, so a comparison against them follows symlinks."""
    environ = os.environ if environ is None else environ
    raw = environ.get("DCGAN_DATA_ROOTS", "data")
    return [Path(root).expanduser().resolve() for root in raw.split(os.pathsep) if root.strip()]


def inside_data_roots(folder: str | Path, roots: list[Path] | None = None) -> Path | None:
    """The resolved folder when it lies under a data root (after following every symlink and '..'), else None."""
    resolved = Path(folder).expanduser().resolve()
    for root in data_roots() if roots is None else roots:
        if resolved == root or resolved.is_relative_to(root):
            return resolved
    return None


def openable_data(data: str) -> str:
    """`data` (a model's train.data) when the app may open it for a visitor, else a DcganError.

    A model's config.json is a visitor's text when the model was uploaded or fetched from the Hub,
    so it may name only a registered dataset ("fashion-mnist", "emoji", ...) or a folder under the
    data roots; the message names no server path.
    """
    if is_registered_dataset(data):
        return data
    if inside_data_roots(data) is not None:
        return data
    raise DcganError(
        "this model's dataset is not one the server shares (a registered dataset like fashion-mnist, or a "
        "folder under the host's DCGAN_DATA_ROOTS); upload an image instead"
    )
