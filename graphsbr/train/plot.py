"""Learning curves of one or more runs: training loss and the validation metrics, as a PNG."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError


def read_history(run: Path) -> list[dict]:
    path = Path(run) / "metrics.jsonl"
    if not path.is_file():
        raise ConfigError(f"{run}: no metrics.jsonl (not a run folder, or no epoch finished yet)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def samples_seen(history: list[dict]) -> list[float]:
    """The training samples seen by the end of each epoch: the record's ``samples`` or, in records written before
    it was kept, the sum of ``samples_per_second * train_seconds`` (exact up to their rounding)."""
    seen, total = [], 0.0
    for record in history:
        total += record.get("samples_per_second", 0.0) * record.get("train_seconds", 0.0)
        seen.append(float(record.get("samples", total)))
        total = seen[-1]
    return seen


def plot_runs(runs: list[Path], out: Path, metrics=("hr@20", "mrr@20", "ndcg@20"), x: str = "samples",
              labels: list[str | None] | None = None) -> Path:
    """Draws loss and validation ``metrics`` for every run, one line per run, against the training samples seen
    (``x="samples"``: runs whose epochs differ in size, by batch size or ``epoch_steps``, line up) or the epoch. A
    run's line is named by its entry in ``labels``, or by its folder."""
    if x not in ("samples", "epoch"):
        raise ConfigError(f"unknown x axis {x!r}; choose samples or epoch")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("plotting needs matplotlib: pip install 'graphsbr[plot]'") from None
    panels = ["loss", *metrics]
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), constrained_layout=True)
    for run, label in zip(runs, labels or [None] * len(runs), strict=True):
        history = read_history(run)
        where = [h["epoch"] for h in history] if x == "epoch" else [n / 1e6 for n in samples_seen(history)]
        label = label or Path(run).name
        for axis, panel in zip(axes, panels):
            values = [h.get(panel) if panel == "loss" else h["valid"].get(panel) for h in history]
            axis.plot(where, values, marker="o", label=label)
    for axis, panel in zip(axes, panels):
        axis.set_title(panel if panel == "loss" else f"valid {panel}")
        axis.set_xlabel("epoch" if x == "epoch" else "training samples (millions)")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
