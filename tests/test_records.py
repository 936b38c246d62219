"""The run records committed under ``benchmarks/`` stay commands: each ``config.yaml`` is a valid ``--config`` for
today's models and trainer (``graphsbr train --config RECORD --out NEW`` trains that run again)."""
from pathlib import Path

import pytest
import yaml

from graphsbr.models import MODELS
from graphsbr.train.config import data_options, model_config, read_yaml, split_settings, train_config
from graphsbr.models.base import config_dict
from graphsbr.train.run import get_model_class, read_config

RECORDS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("**/config.yaml"))


def test_there_are_records():
    assert len(RECORDS) > 20


@pytest.mark.parametrize("path", RECORDS, ids=lambda path: str(path.parent.relative_to(path.parents[3])))
def test_a_committed_run_record_is_a_valid_config(path):
    model, dataset, root, settings = read_config(path)
    assert model and dataset
    cls = get_model_class(model)
    model_values, train_values, data_values = split_settings(cls, settings)
    config, train = model_config(cls, model_values), train_config(cls, train_values)
    data_options(data_values)
    recorded = read_yaml(path)
    written = yaml.safe_load(yaml.safe_dump(config_dict(config)))  # as the trainer writes config.yaml
    assert written == {**written, **recorded.get("model_config", {})}
    assert train.lr == recorded.get("train", {}).get("lr", train.lr)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_legacy_settings_are_settings_whose_default_is_another(name):
    cls = MODELS[name]
    defaults = yaml.safe_load(yaml.safe_dump(config_dict(cls.Config())))
    for key, value in cls.legacy_settings.items():
        assert key in defaults and defaults[key] != value
