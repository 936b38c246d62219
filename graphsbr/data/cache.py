"""The processed-dataset cache: ``<root>/<key>/processed/<hash>.pt``, keyed by the inputs and the protocol.

The hash covers the reader, the protocol options, and every input file's name, size and modification time, so a
changed input is rebuilt. A read-only data root sends the cache to ``$GRAPHSBR_CACHE`` (default
``~/.cache/graphsbr``). Files are written atomically and read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import torch

from .dataset import SessionDataset

log = logging.getLogger(__name__)

#: Bumped whenever the processed layout or a protocol changes, so old caches are not reused.
CACHE_VERSION = 2


def cache_key(fmt: str, key: str, files: list[Path], options: dict) -> str:
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    blob = json.dumps({"version": CACHE_VERSION, "format": fmt, "key": key, "files": stats,
                       "options": options}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def user_cache_dir() -> Path:
    return Path(os.environ.get("GRAPHSBR_CACHE", Path.home() / ".cache" / "graphsbr"))


def cache_paths(folder: Path, key: str, digest: str) -> list[Path]:
    """Where a processed dataset may live: beside the data, then in the user cache."""
    return [folder / "processed" / f"{digest}.pt", user_cache_dir() / key / f"{digest}.pt"]


def load_cached(paths: list[Path]) -> SessionDataset | None:
    for path in paths:
        if not path.is_file():
            continue
        try:
            return SessionDataset.from_dict(torch.load(path, weights_only=True))
        except Exception as error:  # noqa: BLE001 -- a corrupt or outdated cache is rebuilt, never trusted
            log.warning("ignoring unreadable cache %s (%s)", path, error)
    return None


def save_cached(dataset: SessionDataset, paths: list[Path]) -> Path | None:
    """Writes to the first writable location; returns it, or ``None`` if none is writable."""
    for path in paths:
        if not writable(path.parent):
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_save(dataset.to_dict(), path)
            return path
        except OSError as error:
            log.info("cannot write cache %s (%s)", path, error)
    return None


def writable(folder: Path) -> bool:
    """Whether ``folder`` (or, when it does not exist yet, its nearest existing ancestor) may be written.

    A folder without any write bit counts as read-only even for root, who could write it anyway: a shared data
    root handed out read-only must stay untouched.
    """
    folder = Path(folder).absolute()
    while not folder.exists():
        folder = folder.parent
    return folder.is_dir() and bool(folder.stat().st_mode & 0o222) and os.access(folder, os.W_OK)


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename: a reader never sees half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
