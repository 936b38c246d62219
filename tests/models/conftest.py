"""Fixtures of the model tests."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Runs a module on one torch thread (small models; steadier timings beside other work)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
