import pytest
import torch

from graphsbr import ConfigError, DataError, load_dataset
from graphsbr.data import sources
from graphsbr.data.cache import cache_paths, save_cached


def beauty_folder(tmp_path):
    folder = tmp_path / "beauty"
    folder.mkdir()
    (folder / "Beauty.txt").write_text("1 1 2 3 4\n2 2 3 1\n")
    return folder


def test_unknown_key_lists_the_known_ones(tmp_path):
    with pytest.raises(DataError) as error:
        load_dataset("nosuchset", tmp_path)
    assert "unknown dataset 'nosuchset'" in str(error.value)
    for key in ("synthetic", "diginetica", "tmall", "beauty", "scientific", "yoochoose1_64"):
        assert key in str(error.value)


def test_missing_folder_and_unrecognised_files(tmp_path):
    with pytest.raises(DataError, match="dataset folder not found"):
        load_dataset("diginetica", tmp_path)
    (tmp_path / "diginetica").mkdir()
    (tmp_path / "diginetica" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="no recognisable dataset files"):
        load_dataset("diginetica", tmp_path)


def test_unknown_option_and_format(tmp_path):
    beauty_folder(tmp_path)
    with pytest.raises(ConfigError, match="unknown format"):
        load_dataset("beauty", tmp_path, format="parquet")
    with pytest.raises(ConfigError, match="unknown option"):
        load_dataset("beauty", tmp_path, colour="red")
    with pytest.raises(ConfigError, match="num_items"):
        load_dataset("synthetic", colour="red")


def test_refit_option_merges_validation_into_training(tmp_path):
    data = load_dataset("synthetic", num_items=100, num_sessions=300)
    for flag in (True, "true", "1", "yes"):
        merged = load_dataset("synthetic", num_items=100, num_sessions=300, refit=flag)
        assert merged.train.num_samples == data.train.num_samples + data.valid.num_samples
        assert merged.valid.num_samples == 0 and torch.equal(merged.test.items, data.test.items)
    assert load_dataset("synthetic", num_items=100, num_sessions=300, refit="false").valid.num_samples > 0
    with pytest.raises(ConfigError, match="refit must be true or false"):
        load_dataset("synthetic", refit="sometimes")
    beauty_folder(tmp_path)
    with pytest.raises(ConfigError, match="session protocol"):
        load_dataset("beauty", tmp_path, refit=True)


def test_cache_is_reused_and_rebuilt_when_an_input_changes(tmp_path, monkeypatch):
    folder = beauty_folder(tmp_path)
    first = load_dataset("beauty", tmp_path)
    assert len(list((folder / "processed").glob("*.pt"))) == 1

    def fail(files):
        raise AssertionError("read again despite a valid cache")

    with monkeypatch.context() as patch:
        patch.setattr(sources.s3rec, "read", fail)
        assert load_dataset("beauty", tmp_path).stats() == first.stats()
    (folder / "Beauty.txt").write_text("1 1 2 3 4\n2 2 3 1\n3 4 3 2 1\n")
    assert load_dataset("beauty", tmp_path).test.num_samples == 3


def test_corrupt_cache_is_rebuilt(tmp_path):
    folder = beauty_folder(tmp_path)
    load_dataset("beauty", tmp_path)
    for path in (folder / "processed").glob("*.pt"):
        path.write_bytes(b"garbage")
    assert load_dataset("beauty", tmp_path).test.num_samples == 2


def test_unwritable_root_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    folder = beauty_folder(tmp_path)
    (folder / "processed").write_text("a file where the cache folder would go")  # mkdir fails even for root
    monkeypatch.setenv("GRAPHSBR_CACHE", str(tmp_path / "user-cache"))
    dataset = load_dataset("beauty", tmp_path)
    assert list((tmp_path / "user-cache" / "beauty").glob("*.pt"))
    assert save_cached(dataset, cache_paths(folder, "beauty", "abc")) == tmp_path / "user-cache" / "beauty" / "abc.pt"


def test_read_only_root_is_never_written(tmp_path, monkeypatch):
    folder = beauty_folder(tmp_path)
    folder.chmod(0o555)  # no write bits: skipped even when running as root
    monkeypatch.setenv("GRAPHSBR_CACHE", str(tmp_path / "user-cache"))
    try:
        load_dataset("beauty", tmp_path)
    finally:
        folder.chmod(0o755)
    assert not (folder / "processed").exists()
    assert list((tmp_path / "user-cache" / "beauty").glob("*.pt"))
