"""What a benchmark writes: markdown tables, the command line that produced them, mean ± std, and the report pair
``PREFIX.md`` (for people) and ``PREFIX.json`` (for the next script)."""
from __future__ import annotations

import json
import os
import shlex
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

#: environment variables that change what a benchmark measures, so its command line names them
COMMAND_ENV = ("OMP_NUM_THREADS", "GRAPHSBR_CACHE")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None) -> list[str]:
    """The lines of a markdown table. A row may be shorter than the header (an error cell spans the rest);
    ``align`` is one ``l`` or ``r`` per column (default: markdown's own)."""
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in (align or "l" * len(header))) + "|"
    return ["| " + " | ".join(header) + " |", rule] + ["| " + " | ".join(map(str, row)) + " |" for row in rows]


def command_line(script: str, argv: Sequence[str]) -> str:
    """``"[VAR=value ...] python SCRIPT ARGS"`` as it can be pasted into a shell, with the variables of
    :data:`COMMAND_ENV` that are set."""
    env = [f"{key}={os.environ[key]}" for key in COMMAND_ENV if key in os.environ]
    return " ".join([*env, "python", shlex.join([script, *argv])])


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (0 for one value)."""
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def format_mean_std(values: Sequence[float]) -> str:
    """``"0.1234 ± 0.0056"``."""
    mean, std = mean_std(values)
    return f"{mean:.4f} ± {std:.4f}"


def write_report(prefix: str | Path, markdown: str, data: object) -> tuple[Path, Path]:
    """Writes ``PREFIX.md`` and ``PREFIX.json`` (creating the folder) and returns their paths."""
    md, js = Path(f"{prefix}.md"), Path(f"{prefix}.json")
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(markdown if markdown.endswith("\n") else markdown + "\n")
    js.write_text(json.dumps(data, indent=1) + "\n")
    return md, js
