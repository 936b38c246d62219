"""What the benchmarks in ``benchmarks/`` share (the scripts there answer one question each: ``speed.py`` how fast
and how much memory, ``graphs.py`` how fast the graphs build, ``reproduce.py`` how close to the papers).

* :mod:`~graphsbr.bench.memory`: the process's resident memory and its peak (Linux);
* :mod:`~graphsbr.bench.timing`: seconds of a piece of work on the CPU or a GPU, and the machine;
* :mod:`~graphsbr.bench.syncs`: the ops and host syncs of a call (the CPU proxies of a launch-bound GPU step);
* :mod:`~graphsbr.bench.paper`: the papers' published numbers and how their protocols differ from ours;
* :mod:`~graphsbr.bench.runs`: training runs as resumable child processes, and the records of finished ones;
* :mod:`~graphsbr.bench.tables`: markdown tables, command lines and the ``.md`` + ``.json`` report pair.
"""
from .memory import peak_resident_mb, reset_peak_resident, resident_mb
from .paper import PAPER, PROTOCOL_NOTES, VARIANTS, paper_value
from .runs import (
    as_refit,
    history,
    include,
    parse_run,
    parse_variant,
    refit_folder,
    refit_run,
    run_folder,
    stop_reason,
    train_run,
)
from .syncs import ops_and_syncs
from .tables import command_line, format_mean_std, markdown_table, mean_std, write_report
from .timing import cpu_seconds, describe_machine, machine, seconds, synchronize

__all__ = ["PAPER", "PROTOCOL_NOTES", "VARIANTS", "as_refit", "command_line", "cpu_seconds", "describe_machine",
           "format_mean_std", "history", "include", "machine", "markdown_table", "mean_std", "ops_and_syncs",
           "paper_value", "parse_run", "parse_variant", "peak_resident_mb", "refit_folder", "refit_run",
           "reset_peak_resident", "resident_mb", "run_folder", "seconds", "stop_reason", "synchronize", "train_run",
           "write_report"]
