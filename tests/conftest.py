"""Shared fixtures: the shared real-data folder (tests skip when absent) and a private cache folder."""
import os
from pathlib import Path

import pytest

#: The real datasets: ``$GRAPHSBR_SHARED_DATA``, else ``../shared/data`` beside the repository.
SHARED_DATA = Path(os.environ.get("GRAPHSBR_SHARED_DATA")
                   or Path(__file__).resolve().parents[1].parent / "shared" / "data")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Tests never write to the user's cache."""
    monkeypatch.setenv("GRAPHSBR_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
