"""Learning curves of one or more runs: training loss and the validation metrics per epoch, as a PNG."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError


def read_history(run: Path) -> list[dict]:
    path = Path(run) / "metrics.jsonl"
    if not path.is_file():
        raise ConfigError(f"{run}: no metrics.jsonl (not a run folder, or no epoch finished yet)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_runs(runs: list[Path], out: Path, metrics=("hr@20", "mrr@20", "ndcg@20")) -> Path:
    """Draws loss and validation ``metrics`` against the epoch for every run, one line per run."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("plotting needs matplotlib: pip install 'graphsbr[plot]'") from None
    panels = ["loss", *metrics]
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), constrained_layout=True)
    for run in runs:
        history = read_history(run)
        epochs = [h["epoch"] for h in history]
        label = Path(run).name
        for axis, panel in zip(axes, panels):
            values = [h.get(panel) if panel == "loss" else h["valid"].get(panel) for h in history]
            axis.plot(epochs, values, marker="o", label=label)
    for axis, panel in zip(axes, panels):
        axis.set_title(panel if panel == "loss" else f"valid {panel}")
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
