"""The process's resident memory on Linux, read from ``/proc/self/status``, and a reset of its peak."""
from __future__ import annotations

from pathlib import Path


def resident_mb() -> float:
    """The resident set now, in MB (``VmRSS``)."""
    return _status_mb("VmRSS")


def peak_resident_mb() -> float:
    """The resident set's high-water mark since the process started or :func:`reset_peak_resident`, in MB
    (``VmHWM``)."""
    return _status_mb("VmHWM")


def reset_peak_resident() -> None:
    """Resets the high-water mark to the current resident set, so that the next peak is measured from here."""
    Path("/proc/self/clear_refs").write_text("5")


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(f"{field} not in /proc/self/status")
