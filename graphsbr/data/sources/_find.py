"""File discovery shared by the readers: search a dataset folder recursively, skipping caches."""
from __future__ import annotations

from pathlib import Path

SKIP = {"processed", "__pycache__"}


def find_files(folder: Path, pattern: str) -> list[Path]:
    """Files under ``folder`` matching the glob ``pattern``, sorted, outside ``processed/`` folders."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob(pattern)
                  if p.is_file() and not SKIP.intersection(p.relative_to(folder).parts[:-1]))


def find_file(folder: Path, pattern: str) -> Path | None:
    """The first file under ``folder`` matching ``pattern`` (shallowest, then by name), or ``None``."""
    found = find_files(folder, pattern)
    return min(found, key=lambda p: (len(p.parts), str(p))) if found else None
