"""How much of a step is overhead: dispatched ops and host syncs per training step and per evaluation batch.

    python benchmarks/overhead.py                      # every model, writes results/overhead-cpu.{json,md}
    python benchmarks/overhead.py --models a2dmtl sasrec --out /tmp/overhead

On a GPU a small step is bound by what the host does, not by the card: every dispatched op is a kernel launch, and a
host sync (``.item()``, ``float(t)``, ``.tolist()``, ``.cpu()``, a shape that depends on data such as ``nonzero``)
makes the host wait for the device, so the launches of the next ops cannot queue ahead. Both can be counted on the
CPU, deterministically, with the PyTorch profiler: they are the CPU proxies of a launch-bound GPU step, and a
regression check.

Per model, on the built-in synthetic set at tiny sizes (``d = 8``, 300 items: what time is left is overhead), with the
trainer's own batches and training mode:

* **ops / step**: ``aten::`` ops dispatched by a training step's forward and backward (nested ops included);
* **syncs / step**: host-sync operations in that forward and backward: ``aten::_local_scalar_dense`` (``item``,
  ``float``, ``int``, ``bool`` of a tensor), ``aten::nonzero``, ``aten::unique*``, ``aten::masked_select``,
  ``aten::equal``, and the Python calls ``Tensor.tolist``, ``Tensor.cpu``, ``Tensor.numpy``;
* **ops / eval batch**, **syncs / eval batch**: the same for one evaluation batch (scores of 256 samples);
* **ms / step**: a training step with the optimizer at these sizes (median of ``--steps``).

The optimizer is left out of the counts (CPU Adam reads each parameter's step count; fused CUDA Adam does not).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode
from torch.profiler import ProfilerActivity, profile

MODELS = ("pop", "gru4rec", "srgnn", "sasrec", "core", "nova", "difsr", "a2dmtl", "scorenet", "comif", "asif", "srim")
#: aten ops that make the host wait for the device (``aten::item`` calls ``_local_scalar_dense``: counted once).
SYNC_OPS = ("aten::_local_scalar_dense", "aten::nonzero", "aten::unique", "aten::_unique", "aten::_unique2",
            "aten::unique_consecutive", "aten::unique_dim", "aten::masked_select", "aten::equal")
#: Tensor methods that copy to the host.
SYNC_CALLS = ("tolist", "cpu", "numpy")
#: Tiny sizes per setting name, where a model has the setting.
TINY = {"dim": 8, "hidden": 8, "attribute_dim": 8, "num_heads": 2, "inner_dim": 16, "num_bases": 4}
DATA = {"data.num_items": 300, "data.num_sessions": 2000}


class HostCalls(TorchFunctionMode):
    """Counts the Tensor methods of :data:`SYNC_CALLS` called while it is active."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in SYNC_CALLS:
            self.count += 1
        return func(*args, **(kwargs or {}))


def counted(fn) -> tuple[int, int]:
    """``(ops, syncs)`` of one call of ``fn``."""
    calls = HostCalls()
    with profile(activities=[ProfilerActivity.CPU]) as prof, calls:
        fn()
    names = Counter(event.name for event in prof.events())
    ops = sum(count for name, count in names.items() if name.startswith("aten::"))
    return ops, sum(names[name] for name in SYNC_OPS) + calls.count


def measure(model_name: str, steps: int) -> dict:
    from graphsbr.train.run import build_trainer, get_model_class
    from graphsbr.train.trainer import refresh_memory

    fields = {f for f in get_model_class(model_name).Config.__dataclass_fields__}
    settings = {**DATA, **{k: v for k, v in TINY.items() if k in fields}, "progress": "false", "threads": 1}
    trainer = build_trainer(model_name, "synthetic", None, settings)
    model = trainer.model
    row = {"model": model_name, "mode": trainer.training_mode}
    if trainer.optimizer is None:  # nothing to train (Pop)
        row.update({"ops_step": 0, "syncs_step": 0, "ms_step": 0.0})
    else:
        refresh_memory(model, trainer.dataset, 512, trainer.device)
        model.train()
        loader = trainer._train_loader()
        loader.shuffle_seed = 0
        batches = list(loader.batches(0, steps + 3))

        def forward_backward(batch):
            loss, _ = trainer.objective(batch)
            trainer.optimizer.zero_grad(set_to_none=True)
            loss.backward()

        def step(batch):
            forward_backward(batch)
            trainer.optimizer.step()

        for batch in batches[:2]:
            step(batch)
        row["ops_step"], row["syncs_step"] = counted(lambda: forward_backward(batches[2]))
        times = []
        for batch in batches[3:]:
            start = time.perf_counter()
            step(batch)
            times.append(time.perf_counter() - start)
        row["ms_step"] = round(1000 * statistics.median(times), 2)
    refresh_memory(model, trainer.dataset, 512, trainer.device)
    model.eval()
    batch = next(iter(trainer.loader("test", batch_size=256)))
    with torch.no_grad():
        model(batch)
        row["ops_eval"], row["syncs_eval"] = counted(lambda: model(batch))
    return row


def markdown(rows: list[dict], note: str) -> str:
    lines = ["# Step overhead on the CPU (the proxies of a launch-bound GPU step)", "",
             "`python benchmarks/overhead.py` — synthetic set, 300 items, d = 8, one thread. "
             "Ops and syncs are counted in forward + backward (see the script's docstring).", ""]
    if note:
        lines += [note, ""]
    lines += ["| model | training mode | ops / step | syncs / step | ops / eval batch | syncs / eval batch | ms / step |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['mode']} | {r['ops_step']:,} | {r['syncs_step']} | {r['ops_eval']:,} | "
                     f"{r['syncs_eval']} | {r['ms_step']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per model")
    parser.add_argument("--note", default="", help="a paragraph under the header")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "overhead-cpu"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name in args.models:
        torch.manual_seed(0)
        rows.append(measure(name, args.steps))
        print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(rows, args.note))
    print(f"wrote {out}.json and {out}.md")


if __name__ == "__main__":
    main()
