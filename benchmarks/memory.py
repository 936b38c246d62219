"""The process's resident memory on Linux, read from ``/proc/self/status``, for the benchmarks."""
from __future__ import annotations

from pathlib import Path


def status_mb(field: str) -> float:
    """A memory field of ``/proc/self/status`` in MB: ``VmRSS`` (resident now) or ``VmHWM`` (its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(f"{field} not in /proc/self/status")


def reset_peak() -> None:
    """Resets ``VmHWM`` to the current resident set, so that the next peak is measured from here."""
    Path("/proc/self/clear_refs").write_text("5")
