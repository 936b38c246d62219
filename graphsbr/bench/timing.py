"""Timing a piece of work on the CPU or a GPU, and the machine it ran on."""
from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch


def synchronize(device: str | torch.device) -> None:
    """Waits for the work queued on ``device`` (nothing to wait for on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def seconds(fn: Callable[[], object], device: str | torch.device = "cpu") -> float:
    """Wall-clock seconds of ``fn()``, with ``device``'s queue drained before and after."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def cpu_seconds(fn: Callable[[], object]) -> float:
    """CPU seconds of ``fn()`` (``time.process_time``: steadier than wall time on a shared machine)."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def machine(device: str = "cpu") -> dict:
    """The CPU (model name, cores), torch's threads and version, Python's, and on CUDA the GPU's name."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
               platform.processor() or platform.machine())
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "torch": torch.__version__,
            "python": platform.python_version()}
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "cuda (not available here)"
    return info


def describe_machine(device: str = "cpu", threads: int | None = None) -> str:
    """:func:`machine` in one line: ``"GPU, torch V"`` on CUDA, ``"CPU, N cores, T torch threads, torch V"``
    otherwise (``threads``: the torch threads of the processes that measured, where not this one's)."""
    info = machine(device)
    if "gpu" in info:
        return f"{info['gpu']}, torch {info['torch']}"
    threads = info["torch_threads"] if threads is None else threads
    return f"{info['cpu']}, {info['cpu_count']} cores, {threads} torch threads, torch {info['torch']}"
