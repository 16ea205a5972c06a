"""Uploaded models on a shared server: expire, and stay within a disk quota (oldest deleted first).

The app calls `prune_uploads` before it takes a new upload and every few minutes; `space_for`
refuses an upload that could never fit. Nothing here imports gradio.
"""

from __future__ import annotations

import time
from pathlib import Path

from .errors import DcganError
from .hosting import HostLimits
from .io_utils import remove_entry, remove_older_than, tree_size

DATASETS = "datasets"  # the Train tab's unpacked image zips live here too; they are not models


def prune_uploads(uploads_dir: str | Path, limits: HostLimits, now: float | None = None) -> list[Path]:
    """Delete uploads older than the TTL, then the oldest ones until the rest fit the quota; returns them."""
    uploads_dir = Path(uploads_dir)
    if not uploads_dir.is_dir():
        return []
    now = time.time() if now is None else now
    removed = remove_older_than(uploads_dir, limits.uploads_ttl_hours * 3600, now) if limits.uploads_ttl_hours else []
    removed = [path for path in removed if path.name != DATASETS]
    if limits.uploads_quota_mb:
        quota = limits.uploads_quota_mb * 2**20
        entries = [entry for entry in uploads_dir.iterdir() if entry.name != DATASETS]
        sized = sorted(
            (entry.lstat().st_mtime, entry, tree_size(entry) if entry.is_dir() else entry.lstat().st_size)
            for entry in entries
        )
        total = sum(size for _, _, size in sized)
        for _, entry, size in sized:  # oldest first
            if total <= quota:
                break
            remove_entry(entry)
            removed.append(entry)
            total -= size
    return removed


def check_upload_fits(size_bytes: int, limits: HostLimits) -> None:
    """Refuse an upload larger than the whole uploads quota: it could never be kept."""
    if limits.uploads_quota_mb and size_bytes > limits.uploads_quota_mb * 2**20:
        raise DcganError(
            f"this upload is {size_bytes / 2**20:.0f} MB, more than the server keeps for all uploads together "
            f"({limits.uploads_quota_mb:.0f} MB)"
        )
