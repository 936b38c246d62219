"""The files of a run folder, and the lock a run holds on it while it writes there.

A run folder holds ``config.yaml``, :data:`METRICS` (one line per epoch), :data:`BEST` (the selected epoch's
weights), :data:`LAST` (everything needed to resume, :data:`LAST_KEYS`), ``results.json`` and :data:`RANKS` (every
test sample's target rank). Every file is written to a temporary file beside it and then renamed, so a reader, or a
run resumed after a kill, never sees half a file; checkpoints are read with ``torch.load(weights_only=True)``, so no
code runs while reading them. A run holds :func:`exclusive` on its folder while it writes there.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import torch

from ..data.cache import atomic_save
from ..errors import DataError, TrainingError

try:
    import fcntl
except ImportError:  # Windows: runs are not locked
    fcntl = None

BEST, LAST, LOCK = "best.pt", "last.pt", ".lock"
METRICS = "metrics.jsonl"
RANKS = "ranks.pt"  #: every test sample's target rank (int32, split order), written with results.json
#: What ``last.pt`` holds besides the weights.
LAST_KEYS = ("model", "optimizer", "scheduler", "epoch", "best_epoch", "best_value", "stale", "history",
             "train_seconds", "train_samples", "torch_rng", "cuda_rng")


def write_best(folder: Path, weights: dict, epoch: int) -> None:
    """Writes :data:`BEST`: the selected epoch's number and weights (a model's ``state_dict``)."""
    atomic_save({"model": weights, "epoch": epoch}, folder / BEST)


def write_last(folder: Path, state: dict, history: list[dict]) -> None:
    """Writes :data:`LAST` (the trainer's ``state``, :data:`LAST_KEYS` at least) and :data:`METRICS` (``history``,
    one JSON line per epoch)."""
    atomic_save(state, folder / LAST)
    write_text(folder / METRICS, "".join(json.dumps(record) + "\n" for record in history))


def save_ranks(ranks: list[torch.Tensor], folder: Path) -> None:
    """Writes the test samples' target ranks (batches of :meth:`~graphsbr.train.Trainer.evaluate`, split order) to
    ``folder``'s :data:`RANKS` as int32."""
    atomic_save({"test": torch.cat(ranks).to(torch.int32)}, Path(folder) / RANKS)


def write_text(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file beside it, then renames it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def remove_partial_writes(folder: Path) -> None:
    """Deletes the temporary files of writes cut short by a kill (the files they were to replace are intact)."""
    for partial in folder.glob(".*.tmp"):
        partial.unlink()


def read_checkpoint(path: Path, device: torch.device | str = "cpu", keys: tuple[str, ...] = ("model",)) -> dict:
    """A checkpoint written by the trainer, read with ``weights_only=True`` (no code runs while reading).

    Raises:
        DataError: the file is truncated, not a torch file, or lacks ``keys`` (not a graphsbr checkpoint).
    """
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise DataError("checkpoint not found", path) from None
    except Exception as error:  # a damaged file fails inside the unpickler in many ways (KeyError, IndexError, ...)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"not a readable checkpoint (truncated, or not written by graphsbr): {reason}", path) from None
    missing = [key for key in keys if not isinstance(state, dict) or key not in state]
    if missing:
        raise DataError(f"not a graphsbr checkpoint: no {', '.join(missing)}", path)
    return state


def load_weights(model: torch.nn.Module, state: dict, path: Path) -> None:
    """Loads ``state["model"]`` into ``model``; a checkpoint of another model or dataset is a :class:`DataError`."""
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError) as error:
        detail = str(error).strip().splitlines()
        reason = detail[-1].strip() if detail else error
        raise DataError(f"holds weights for another model, dataset or setting ({reason})", path) from None


def load_checkpoint(model: torch.nn.Module, path: Path, device: torch.device | str = "cpu",
                    keys: tuple[str, ...] = ("model",)) -> dict:
    """:func:`read_checkpoint`, then :func:`load_weights` into ``model``; returns the whole checkpoint."""
    state = read_checkpoint(path, device, keys)
    load_weights(model, state, path)
    return state


@contextmanager
def exclusive(out: Path | None):
    """Holds an exclusive lock on ``out/.lock`` while a run writes to ``out``: a second run into the same folder is
    refused instead of interleaving checkpoints. The OS drops the lock when the process ends, however it ends
    (a killed run leaves no stale lock).

    Raises:
        TrainingError: another process holds the lock.
    """
    if out is None or fcntl is None:
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            raise TrainingError(f"{out} is in use by another run{f' (pid {holder})' if holder else ''}; "
                                "wait for it to finish or choose another --out") from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


__all__ = ["BEST", "LAST", "LAST_KEYS", "LOCK", "METRICS", "RANKS", "exclusive", "load_checkpoint", "load_weights",
           "read_checkpoint", "remove_partial_writes", "save_ranks", "write_best", "write_last", "write_text"]
