import pytest

from graphsbr import ConfigError
from graphsbr.train.plot import plot_runs, samples_seen


def test_samples_seen_reads_the_records_or_rebuilds_them_from_rate_and_time():
    old = [{"samples_per_second": 100.0, "train_seconds": 2.0}, {"samples_per_second": 50.0, "train_seconds": 4.0}]
    assert samples_seen(old) == [200.0, 400.0]
    new = [{"samples": 300, "samples_per_second": 1.0, "train_seconds": 1.0}, {"samples": 700}]
    assert samples_seen(new) == [300.0, 700.0]
    mixed = [old[0], {"samples": 250}, old[1]]  # a run resumed by newer code: the rebuilt count goes on from 250
    assert samples_seen(mixed) == [200.0, 250.0, 450.0]


def test_an_unknown_x_axis_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="x axis"):
        plot_runs([tmp_path], tmp_path / "curves.png", x="steps")
