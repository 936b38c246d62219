import threading

import pytest
import torch

from graphsbr import load_dataset
from graphsbr.train.loader import BatchLoader, prefetched


def test_prefetched_yields_every_item_in_order():
    assert list(prefetched(iter(range(100)), 3)) == list(range(100))
    assert list(prefetched(iter([]), 2)) == []


def test_an_error_while_producing_is_raised_at_its_item():
    def items():
        yield from range(5)
        raise ValueError("bad batch")

    got = []
    with pytest.raises(ValueError, match="bad batch"):
        for item in prefetched(items(), 2):
            got.append(item)
    assert got == list(range(5))


def test_a_consumer_that_stops_early_stops_the_thread():
    produced = []

    def items():
        for i in range(1000):
            produced.append(i)
            yield i

    stream = prefetched(items(), 2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert not any(t.name == "graphsbr-prefetch" for t in threading.enumerate())
    assert len(produced) < 10


@pytest.mark.parametrize("kind", ["sequence", "graph"])
def test_prefetching_gives_the_same_batches(kind):
    data = load_dataset("synthetic", num_items=200, num_sessions=600)
    loaders = [BatchLoader(data, data.train, kind, 10, 64, shuffle_seed=3, prefetch=depth) for depth in (0, 2)]
    plain, ahead = (list(loader.batches(1, 5)) for loader in loaders)
    assert len(plain) == len(ahead) == 5
    for a, b in zip(plain, ahead):
        if kind == "sequence":
            assert torch.equal(a.items, b.items) and torch.equal(a.targets, b.targets)
        else:
            assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index) and torch.equal(a.y, b.y)
