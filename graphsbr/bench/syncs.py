"""Ops dispatched and host syncs made by a call, counted on the CPU with the PyTorch profiler.

On a GPU a small step is bound by what the host does, not by the card: every dispatched op is a kernel launch, and a
host sync (``.item()``, ``float(t)``, ``.tolist()``, ``.cpu()``, a shape that depends on data such as ``nonzero``)
makes the host wait for the device, so the launches of the next ops cannot queue ahead. Both can be counted on the
CPU, deterministically: they are the CPU proxies of a launch-bound GPU step, and a regression check.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from torch.overrides import TorchFunctionMode
from torch.profiler import ProfilerActivity, profile

#: aten ops that make the host wait for the device (``aten::item`` calls ``_local_scalar_dense``: counted once).
SYNC_OPS = ("aten::_local_scalar_dense", "aten::nonzero", "aten::unique", "aten::_unique", "aten::_unique2",
            "aten::unique_consecutive", "aten::unique_dim", "aten::masked_select", "aten::equal")
#: Tensor methods that copy to the host.
SYNC_CALLS = ("tolist", "cpu", "numpy")


class HostCalls(TorchFunctionMode):
    """Counts the Tensor methods of :data:`SYNC_CALLS` called while it is active."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in SYNC_CALLS:
            self.count += 1
        return func(*args, **(kwargs or {}))


def ops_and_syncs(fn: Callable[[], object]) -> tuple[int, int, int]:
    """``(ops, syncs, host_reads)`` of one call of ``fn``: the ``aten::`` ops it dispatches (nested ops included),
    the ops of :data:`SYNC_OPS` (each waits for the device wherever it runs), and the calls of :data:`SYNC_CALLS`.
    A host read waits for the device only when its tensor lives there: the CPU cannot tell, so they are counted
    apart (those left in the models read the collator's host-side lengths, ``SequenceBatch.host_lengths``; the
    ``meta``-device tests of ``tests/nn/test_packing.py`` check that no device data is read)."""
    calls = HostCalls()
    with profile(activities=[ProfilerActivity.CPU]) as prof, calls:
        fn()
    names = Counter(event.name for event in prof.events())
    ops = sum(count for name, count in names.items() if name.startswith("aten::"))
    return ops, sum(names[name] for name in SYNC_OPS), calls.count
