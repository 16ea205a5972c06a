"""What a long-running public server must clear out by itself: idle visitors' sessions, expired and
over-quota uploads, visitors' raw uploads in Gradio's cache, old exports.

One daemon thread runs `sweep` every SWEEP_SECONDS. Each step is a plain function, testable alone.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from pathlib import Path

import gradio as gr

from dcgan.io_utils import remove_older_than
from dcgan.serve.hosting import HostLimits
from dcgan.serve.uploads import prune_uploads

LOG = logging.getLogger("dcgan.ui")
SWEEP_SECONDS = 60.0
SESSION_IDLE_SECONDS = 3600.0  # a visitor idle for an hour starts afresh (their page URL still holds the view)
SESSION_CAPACITY = 1000  # Gradio keeps ~0.4 MB per session (a copy of the page's config): at most ~0.4 GB
EXPORT_TTL_SECONDS = 3600.0  # exports are copied into Gradio's cache when shown; ours are only the originals
GRADIO_CACHE_DELETE = (600, 3600)  # Gradio deletes its cached files (uploads included) older than an hour


def expire_idle_sessions(demo: gr.Blocks, idle_seconds: float = SESSION_IDLE_SECONDS) -> int:
    """Forget Gradio sessions not used for `idle_seconds`; returns how many.

    Gradio only drops a session when 10,000 newer ones exist (its `state_session_capacity`), and each holds
    a copy of the page's config: without this, memory grows with every visitor who ever came.
    """
    holder = getattr(demo, "state_holder", None)
    if holder is None:
        return 0
    cutoff = datetime.datetime.now() - datetime.timedelta(seconds=idle_seconds)
    with holder.lock:
        idle = [session for session, used in list(holder.time_last_used.items()) if used < cutoff]
        for session in idle:
            holder.session_data.pop(session, None)
            holder.time_last_used.pop(session, None)
    return len(idle)


def limit_gradio_uploads(demo: gr.Blocks, quota_bytes: float) -> int:
    """Delete visitors' raw uploads in Gradio's cache, oldest first, until they fit `quota_bytes`.

    Gradio's own deletion (GRADIO_CACHE_DELETE) goes by age only; a visitor uploading as fast as they
    can must not fill the disk within that hour.
    """
    files = []
    for name in list(getattr(demo, "upload_file_set", ())):
        try:
            stat = Path(name).stat()
        except OSError:
            continue
        files.append((stat.st_mtime, stat.st_size, Path(name)))
    total = sum(size for _, size, _ in files)
    removed = 0
    for _, size, path in sorted(files):
        if total <= quota_bytes:
            break
        path.unlink(missing_ok=True)
        demo.upload_file_set.discard(str(path))
        total -= size
        removed += 1
    return removed


def sweep(demo: gr.Blocks, uploads_dir: Path, limits: HostLimits, export_root: Path | None) -> None:
    expired = expire_idle_sessions(demo)
    pruned = prune_uploads(uploads_dir, limits)
    if limits.uploads_quota_mb:
        limit_gradio_uploads(demo, limits.uploads_quota_mb * 2**20)
    if export_root is not None:
        remove_older_than(export_root, EXPORT_TTL_SECONDS)
    if expired or pruned:
        LOG.info("housekeeping: %d idle sessions forgotten, %d uploaded models deleted", expired, len(pruned))


def start(demo: gr.Blocks, uploads_dir: Path, limits: HostLimits, export_root) -> threading.Thread:
    """The sweeping thread; `export_root` is a callable giving the exports folder (or None) at sweep time."""

    def loop() -> None:
        served = False
        while True:
            served = served or demo.is_running
            if served and not demo.is_running:
                return  # demo.close(): this server is gone
            try:
                sweep(demo, uploads_dir, limits, export_root())
            except Exception:  # housekeeping must never end; the next sweep tries again
                LOG.exception("housekeeping sweep failed")
            time.sleep(SWEEP_SECONDS)

    thread = threading.Thread(target=loop, name="housekeeping", daemon=True)
    thread.start()
    return thread
