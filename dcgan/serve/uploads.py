"""Uploaded models on a shared server: expire, and stay within a disk quota, each address within its share.

The app calls `prune_uploads` after it takes a new upload and every few minutes; `check_upload_fits`
refuses an upload that could never fit. Who uploaded a model is noted beside its folder (`record_owner`:
NAME.owners, one salted hash of an address a line), so that one visitor's uploads, however many, only ever
evict their own: each address keeps at most OWNER_SHARE of the quota, and when all together still exceed it,
whoever holds the most loses their oldest first. Nothing here imports gradio.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from dcgan.errors import DcganError
from dcgan.io_utils import atomic_write_text, remove_entry, remove_older_than, tree_size
from dcgan.serve.hosting import HostLimits

DATASETS = "datasets"  # the Train tab's unpacked image zips live here too; they are not models
OWNER_SHARE = 0.25  # of the uploads quota, per address: a quarter, so at least 4 visitors' uploads fit
OWNERS_SUFFIX = ".owners"  # beside each upload folder: who uploaded it (a zip cannot write outside its folder)
MAX_OWNERS = 8  # a public .pth uploaded by many: once shared it counts against no one's share anyway
# Addresses are stored hashed with a secret that lives only in this process: the files name no address, and
# after a restart an old note names no one who can upload again (those uploads keep a share nobody adds to).
_OWNER_SALT = secrets.token_bytes(16)
_OWNERS_LOCK = threading.Lock()  # two uploads of the same file at once must not lose an owner


def owner_key(address: str) -> str:
    """How an address (fairness.client_address: an IPv4 address or an IPv6 /64) is noted beside uploads."""
    return hashlib.sha256(_OWNER_SALT + address.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def record_owner(upload: str | Path, owner: str) -> None:
    """Note that `owner` (an owner_key) uploaded the folder `upload` (again: the same file twice is one folder)."""
    upload = Path(upload)
    with _OWNERS_LOCK:
        owners = owners_of(upload)
        if owner not in owners and len(owners) < MAX_OWNERS:
            atomic_write_text(_owners_file(upload), "".join(f"{name}\n" for name in [*owners, owner]))


def owners_of(upload: str | Path) -> list[str]:
    """Who uploaded the folder `upload` (owner keys, first uploader first); [] when nobody is noted."""
    try:
        return _owners_file(Path(upload)).read_text().split()
    except (FileNotFoundError, UnicodeDecodeError):
        return []


def _owners_file(upload: Path) -> Path:
    return upload.with_name(upload.name + OWNERS_SUFFIX)


def prune_uploads(uploads_dir: str | Path, limits: HostLimits, now: float | None = None) -> list[Path]:
    """Delete uploads older than the TTL, then keep each owner within their share and all within the quota
    (see _keep_within_quota); returns the uploads deleted."""
    uploads_dir = Path(uploads_dir)
    if not uploads_dir.is_dir():
        return []
    now = time.time() if now is None else now
    removed = remove_older_than(uploads_dir, limits.uploads_ttl_hours * 3600, now) if limits.uploads_ttl_hours else []
    removed = [path for path in removed if path.name != DATASETS and not path.name.endswith(OWNERS_SUFFIX)]
    if limits.uploads_quota_mb:
        removed += _keep_within_quota(_uploads(uploads_dir), limits.uploads_quota_mb * 2**20)
    _remove_stray_owner_files(uploads_dir)
    return removed


@dataclass
class _Upload:
    path: Path
    changed: float  # mtime: when it was uploaded
    size: int
    holder: str  # whose share it counts against: its one owner, else (unknown, or shared) itself alone


def _uploads(uploads_dir: Path) -> list[_Upload]:
    """The uploads in the folder, oldest first."""
    uploads = []
    for entry in uploads_dir.iterdir():
        if entry.name == DATASETS or entry.name.endswith(OWNERS_SUFFIX):
            continue
        try:
            changed = entry.lstat().st_mtime
            size = tree_size(entry) if entry.is_dir() else entry.lstat().st_size
        except FileNotFoundError:
            continue  # another thread removed it first
        owners = owners_of(entry)
        holder = f"owner {owners[0]}" if len(owners) == 1 else f"upload {entry.name}"
        uploads.append(_Upload(entry, changed, size, holder))
    return sorted(uploads, key=lambda upload: (upload.changed, upload.path.name))


def _keep_within_quota(uploads: list[_Upload], quota: float) -> list[Path]:
    """First each holder within OWNER_SHARE of `quota`, their own oldest going first (a visitor's newest
    upload goes last, and only when it cannot fit alone); then, while all together exceed `quota`, the
    oldest upload of whoever holds the most. `uploads` oldest first; returns the ones deleted."""
    held: dict[str, list[_Upload]] = defaultdict(list)
    for upload in uploads:
        held[upload.holder].append(upload)
    removed = []

    def remove(holder: str) -> None:
        upload = held[holder].pop(0)
        remove_entry(upload.path)
        _owners_file(upload.path).unlink(missing_ok=True)
        removed.append(upload.path)
        if not held[holder]:
            del held[holder]

    for holder in [holder for holder in held if holder.startswith("owner ")]:
        while holder in held and sum(upload.size for upload in held[holder]) > quota * OWNER_SHARE:
            remove(holder)
    while held and sum(upload.size for theirs in held.values() for upload in theirs) > quota:
        # the largest holding, and of equal ones the one holding the oldest upload
        remove(max(held, key=lambda holder: (sum(u.size for u in held[holder]), -held[holder][0].changed)))
    return removed


def _remove_stray_owner_files(uploads_dir: Path) -> None:
    """Owner notes whose upload is gone (expired, or deleted by another sweep)."""
    for note in uploads_dir.glob(f"*{OWNERS_SUFFIX}"):
        if not note.with_name(note.name[: -len(OWNERS_SUFFIX)]).exists():
            note.unlink(missing_ok=True)


def check_upload_fits(size_bytes: int, limits: HostLimits) -> None:
    """Refuse an upload larger than one address's share of the uploads quota: it could never be kept."""
    share_mb = limits.uploads_quota_mb * OWNER_SHARE
    if limits.uploads_quota_mb and size_bytes > share_mb * 2**20:
        raise DcganError(
            f"this upload is {size_bytes / 2**20:.1f} MB, more than the server keeps for one visitor's uploads "
            f"({share_mb:.1f} MB)"
        )
