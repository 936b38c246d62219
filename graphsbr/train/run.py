"""Build a run from settings, or rebuild a finished one from its folder (for ``evaluate`` and ``recommend``)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..data import SessionDataset, load_dataset
from ..data.load import as_flag
from ..errors import ConfigError
from ..models import MODELS, SessionRecommender, load_plugins
from ..models.base import config_dict
from .config import config_settings, data_options, model_config, read_yaml, split_settings, train_config
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


def read_config(path) -> tuple[str | None, str | None, str | None, dict[str, Any]]:
    """``(model, dataset, root, settings)`` of a ``--config`` file or a run folder's ``config.yaml``
    (:func:`~graphsbr.train.config.config_settings`). A run record's model settings that it does not list take the
    values the model had before they existed (its ``legacy_settings``), so that an older record rebuilds the model
    it trained."""
    values = read_yaml(path)
    model, dataset, root, settings = config_settings(values, path)
    if model and isinstance(values.get("model_config"), dict):
        recorded = values["model_config"]
        for key, value in get_model_class(model).legacy_settings.items():
            if key not in recorded:
                settings.setdefault(key, value)
    return model, dataset, root, settings


def read_run_config(run_dir) -> tuple[str, str, str | None, dict[str, Any]]:
    """``(model, dataset, root, settings)`` of a run folder's ``config.yaml`` (:func:`read_config`)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: not a run folder (config.yaml not found)")
    model, dataset, root, settings = read_config(path)
    if not model or not dataset:
        raise ConfigError(f"{path}: a run's config.yaml records its model and dataset")
    return model, dataset, root, settings


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


def labelled_folder(text: str) -> tuple[str, Path]:
    """``(label, folder)`` of a ``[LABEL=]FOLDER`` argument (``""``: no label); an existing folder whose name has
    ``=`` stays a folder, and a label may hold ``=`` (the folder is what follows the last one)."""
    label, _, folder = text.rpartition("=") if "=" in text and not Path(text).exists() else ("", "", text)
    return label, Path(folder)


def load_run_dataset(run_dir) -> SessionDataset:
    """The dataset a run trained on (its data options from ``config.yaml``), without building the model."""
    model, dataset, root, settings = read_run_config(run_dir)
    return load_dataset(dataset, root, **data_options(split_settings(get_model_class(model), settings)[2]))


def selected_steps(run_dir, epoch_steps: int, pass_steps: int) -> tuple[int, int]:
    """``(epoch, steps)``: a finished run's selected epoch and the training steps taken by its end (read from
    ``results.json`` and ``metrics.jsonl``; records older than the ``steps`` field count whole epochs); ``(0, 0)``
    for a model without parameters."""
    run_dir = Path(run_dir)
    path = run_dir / "results.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no results.json: a refit needs a finished run (its selected epoch)")
    results = json.loads(path.read_text())
    if results.get("stopped") == "untrained":  # Pop, S-POP: nothing to train, the counts change
        return 0, 0
    epoch = int(results.get("best_epoch") or 0)
    if epoch < 1:
        raise ConfigError(f"{run_dir}: no selected epoch (best_epoch {epoch}): nothing to refit")
    if "best_steps" in results:
        return epoch, int(results["best_steps"])
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    record = next((h for h in history if h.get("epoch") == epoch), {})
    return epoch, int(record.get("steps") or epoch * (epoch_steps or pass_steps))


def build_refit(run_dir, out=None, settings: dict[str, Any] | None = None) -> Trainer:
    """A :class:`Trainer` that retrains a finished ``session``-protocol run on its training and validation sessions
    (:func:`~graphsbr.data.protocols.merge_validation`) for as many passes as the run's selected epoch had taken,
    from the same seed; the test split then scores the last weights. The selection stays on validation: the refit
    only adds the validation sessions to what the selected length of training sees, as the session-based papers
    train on their whole training file.

    Args:
        run_dir: the finished run (``results.json``).
        out: the refit's run folder.
        settings: changes of how the refit runs (``device``, ``threads``, ``progress`` …).
    """
    model, dataset, root, recorded = read_run_config(run_dir)
    recorded = {**recorded, **(settings or {})}
    if as_flag(recorded.get("data.refit", False), "refit"):
        raise ConfigError(f"{run_dir} is a refit already")
    original = build_trainer(model, dataset, root, recorded)
    epoch, steps = selected_steps(run_dir, original.config.epoch_steps, original.pass_steps())
    passes = steps / original.pass_steps()
    del original
    refit = {**recorded, "data.refit": True, "budget_minutes": 0.0}
    trainer = build_trainer(model, dataset, root, refit, out)
    config = trainer.config
    config.max_steps = max(1, round(passes * trainer.pass_steps())) if steps else 0
    full, rest = divmod(config.max_steps, trainer.pass_steps())  # epochs end at the end of a pass too
    size = config.epoch_steps or trainer.pass_steps()
    config.epochs = full * math.ceil(trainer.pass_steps() / size) + math.ceil(rest / size)
    trainer.run["refit_of"] = {"run": str(run_dir), "selected_epoch": epoch, "selected_steps": steps,
                               "passes": round(passes, 4)}
    return trainer
