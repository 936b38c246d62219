"""Fixtures of the model tests."""
import pytest
import torch

import graphsbr


@pytest.fixture(scope="module")
def one_thread():
    """Runs a module on one torch thread (small models; steadier timings beside other work)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset():
    """The small synthetic set the model tests share: 300 items, 3,000 sessions, categories, brands and text."""
    return graphsbr.load_dataset("synthetic", num_items=300, num_sessions=3000)
