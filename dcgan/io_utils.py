"""Files on disk: atomic writes (a process killed mid-save leaves the old file or the new one, never half),
and clearing out old temporary files and uploads."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dcgan.errors import DcganError


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp_path)`, fsync, then rename over `path` (atomic on POSIX and Windows)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp_path = Path(tmp_name)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        with open(tmp_path, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp_path, path)
    except Exception as error:
        full = disk_full(error, path)
        if full is None:
            raise
        raise full from None
    finally:
        tmp_path.unlink(missing_ok=True)
    _fsync_dir(path.parent)


# errno values of "no room": the disk, the user's quota, or a per-process file size limit
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# How writers that wrap the OS error (safetensors' Rust IoError) spell the same thing
_NO_ROOM_TEXT = ("No space left on device", "StorageFull", "Disk quota exceeded", "File too large", "FileTooLarge")


def disk_full(error: BaseException, path: Path) -> DcganError | None:
    """A plain "disk full" DcganError when `error` means there was no room to write `path`, else None.
    Writes are atomic, so whatever was at `path` before is still there, whole."""
    no_room = isinstance(error, OSError) and error.errno in _NO_ROOM
    no_room = no_room or any(marker in str(error) for marker in _NO_ROOM_TEXT)
    if not no_room:
        return None
    return DcganError(
        f"disk full: could not write {Path(path).name} in {Path(path).parent}. Nothing already saved there was "
        "damaged (the last checkpoint is intact); free some space, then continue with --resume"
    )


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def remove_stale_temp_files(folder: Path) -> int:
    """Delete temp files left by a process killed mid-write; returns how many."""
    stale = list(Path(folder).glob(".*.tmp")) if Path(folder).is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def _fsync_dir(directory: Path) -> None:
    # The rename itself must reach the disk too; not possible on Windows.
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_older_than(folder: Path, seconds: float, now: float | None = None) -> list[Path]:
    """Delete the entries (files or whole folders) directly in `folder` last changed over `seconds` ago."""
    now = time.time() if now is None else now
    removed = []
    for entry in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else []:
        try:
            if now - entry.lstat().st_mtime > seconds:
                remove_entry(entry)
                removed.append(entry)
        except FileNotFoundError:
            continue  # another thread removed it first
    return removed


def remove_entry(entry: Path) -> None:
    """A file, a symlink (not what it points to) or a whole folder."""
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def tree_size(folder: Path) -> int:
    """Bytes in the files under `folder` (symlinks not followed)."""
    total = 0
    for path in Path(folder).rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except FileNotFoundError:
            continue
    return total


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """sha256 of a file, read in chunks (an upload may be 100+ MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
