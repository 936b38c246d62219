"""Build a run from settings, or rebuild a finished one from its folder (for ``evaluate`` and ``recommend``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data import SessionDataset, load_dataset
from ..errors import ConfigError
from ..models import MODELS, SessionRecommender, load_plugins
from ..models.base import config_dict
from .config import data_options, model_config, read_yaml, split_settings, train_config
from .trainer import BEST, Trainer, load_weights, read_checkpoint


def get_model_class(name: str) -> type[SessionRecommender]:
    """The registered model ``name`` (:data:`graphsbr.models.MODELS`, then the installed plugins)."""
    if name not in MODELS:
        load_plugins()
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def build_trainer(model: str, dataset: str = "synthetic", root=None, settings: dict[str, Any] | None = None,
                  out=None, callbacks: list | tuple = ()) -> Trainer:
    """Loads the dataset, builds the model with its settings, and returns a ready :class:`Trainer`.

    Args:
        model: a key of :data:`graphsbr.models.MODELS`.
        dataset, root: as for :func:`graphsbr.load_dataset`.
        settings: flat ``key -> value`` settings of the model or the trainer, and ``data.KEY`` dataset options
            (values may be strings, as from ``--set``); unknown keys raise :class:`ConfigError`.
        out: the run folder.
        callbacks: as for :class:`Trainer`.
    """
    cls = get_model_class(model)
    model_values, train_values, data_values = split_settings(cls, settings or {})
    train = train_config(cls, train_values)
    config = model_config(cls, model_values)
    options = data_options(data_values)
    data = load_dataset(dataset, root, **options)
    from .trainer import seed_everything

    seed_everything(train.seed)  # parameter initialisation depends on the seed only
    network = cls.from_dataset(data, config)
    run = {"model": model, "dataset": dataset, "root": None if root is None else str(root), "data": options,
           "model_config": config_dict(config)}
    return Trainer(network, data, train, out, run, callbacks)


def read_run_config(run_dir) -> tuple[str, str, str | None, dict[str, Any]]:
    """``(model, dataset, root, settings)`` of a run folder's ``config.yaml``."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: not a run folder (config.yaml not found)")
    saved = read_yaml(path)
    settings = {**saved.get("model_config", {}), **saved.get("train", {}),
                **{f"data.{k}": v for k, v in (saved.get("data") or {}).items()}}
    return saved["model"], saved["dataset"], saved.get("root"), settings


def load_run(run_dir, device: str | None = None) -> tuple[SessionRecommender, SessionDataset, Trainer]:
    """Rebuilds a finished (or running) run from its ``config.yaml`` and loads its ``best.pt`` weights."""
    run_dir = Path(run_dir)
    model, dataset, root, settings = read_run_config(run_dir)
    if device is not None:
        settings["device"] = device
    trainer = build_trainer(model, dataset, root, settings)
    best = run_dir / BEST
    if not best.is_file():
        raise ConfigError(f"{run_dir}: no {BEST} yet (the run has not finished an epoch)")
    load_weights(trainer.model, read_checkpoint(best, trainer.device), best)
    return trainer.model, trainer.dataset, trainer
