"""Run settings: the trainer's dataclass, and how ``--config`` YAML and ``--set key=value`` resolve against it and
the model's dataclass. Nothing is ever ``eval``-ed: values are parsed by YAML's safe loader or cast to the type
of the setting's default."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..models.base import coerce, make_config


@dataclass
class TrainConfig:
    """The trainer's settings (a model's ``train_defaults`` override these defaults with its paper's values).

    Args:
        epochs: the most epochs to run.
        batch_size: training pairs (prefix, target) per step, in both training modes (in ``sequence`` mode a
            batch holds as many sessions as carry about that many targets).
        eval_batch_size: samples scored at once during evaluation (each needs ``num_items`` scores).
        lr: Adam's learning rate.
        weight_decay: Adam's L2 penalty.
        lr_step: multiply the learning rate by ``lr_gamma`` every ``lr_step`` passes over the training samples
            (0: never), as the papers' "every k epochs" mean; with ``epoch_steps`` the decay applies at the end of
            the epoch that completes those passes.
        lr_gamma: the decay factor.
        patience: stop once this many passes over the training samples went by without a better validation
            ``metric`` (with ``epoch_steps``, a pass is several epochs).
        metric: the validation metric that selects the epoch (``""``: ``mrr@20`` under the session protocol,
            ``ndcg@20`` otherwise).
        seed: seeds Python, NumPy and torch; the same seed and device give the same metrics.
        device: ``cpu`` or ``cuda`` (``cuda:1`` …; under ``torchrun``, ``cuda`` puts each process on
            ``cuda:LOCAL_RANK``).
        amp: mixed precision on CUDA: ``off``, ``bf16`` (autocast to bfloat16) or ``fp16`` (float16 with a
            gradient scaler). Evaluation ranks float32 scores either way.
        budget_minutes: stop cleanly after the epoch during which this budget ran out (0: none).
        epoch_steps: training steps per epoch (0: one pass over the training samples). A smaller value makes an
            epoch a slice of the shuffled pass: validation, checkpoints and the budget then work every
            ``epoch_steps`` steps (``lr_step`` and ``patience`` still count passes), and the next epoch goes on
            where the last one stopped (a new pass, shuffled anew, starts when one ends). For learning curves of
            slow models on large sets.
        max_steps: stop after this many training steps, the last epoch cut short where they end (0: no limit). A
            refit (``graphsbr refit``) trains this long.
        warmup_steps: the learning rate grows linearly over the first this many steps, from ``lr / warmup_steps``
            at the first to the schedule's rate (0: none).
        grad_clip: clip the gradient norm to this (0: never); an epoch's record then holds the mean norm before
            clipping (``grad_norm``) and the share of steps clipped (``clipped``).
        threads: torch CPU threads (0: torch's default).
        prefetch: batches collated ahead by a background thread, in training and evaluation (-1: 2 on CUDA, none
            on the CPU, where the thread competes with the step for the cores). The same batches either way.
        progress: show tqdm progress bars.
        log_every: read the running loss from the device every this many steps (the progress bar's loss and the
            check that it is finite; also at the end of every epoch). Between reads a step never waits for the
            device.
        training: ``prefix`` (one sample = one prefix and its target), ``sequence`` (causal models only: each
            training session encoded once, a loss at every position — the same pairs, far less encoder work) or
            ``auto`` (``sequence`` where the model supports it and the training samples are every prefix).
        report_test: also evaluate the test split after every epoch and log it in ``metrics.jsonl`` (for learning
            curves only: selection never looks at it).
        tensorboard: write every epoch's metrics and the step loss as TensorBoard events into this folder (needs
            the ``tensorboard`` extra); empty: off.
        compile: ``torch.compile`` the training step's forward and backward (on the CPU it needs a C++ compiler);
            where compiling fails, the run goes on in eager mode with a warning. Evaluation stays eager.
    """

    epochs: int = 30
    batch_size: int = 256
    eval_batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_step: int = 0
    lr_gamma: float = 0.1
    patience: int = 5
    metric: str = ""
    seed: int = 0
    device: str = "cpu"
    amp: str = "off"
    budget_minutes: float = 0.0
    epoch_steps: int = 0
    max_steps: int = 0
    warmup_steps: int = 0
    grad_clip: float = 0.0
    threads: int = 0
    prefetch: int = -1
    progress: bool = True
    log_every: int = 50
    training: str = "auto"
    report_test: bool = False
    tensorboard: str = ""
    compile: bool = False


TRAIN_KEYS = tuple(f.name for f in fields(TrainConfig))
#: Top-level keys of a ``--config`` file besides the settings.
RUN_KEYS = ("model", "dataset", "root", "data")


def read_yaml(path) -> dict[str, Any]:
    """A ``--config`` file: a mapping of run keys and settings, read with YAML's safe loader."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    return values


#: The sections of a run folder's ``config.yaml`` that hold settings; its other keys besides :data:`RUN_KEYS` are
#: records (``refit_of``).
SECTIONS = ("model_config", "train")


def config_settings(values: dict[str, Any], path) -> tuple[str | None, str | None, str | None, dict[str, Any]]:
    """``(model, dataset, root, settings)`` of a config mapping: a ``--config`` file of flat ``key: value``
    settings, or a run folder's ``config.yaml`` (settings under ``model_config`` and ``train``), so that a finished
    run's record trains the same run again. ``data`` options become ``data.KEY`` settings."""
    values = dict(values)
    model, dataset, root, data = (values.pop(key, None) for key in RUN_KEYS)
    settings = {}
    for section in SECTIONS:
        part = values.pop(section, None) or {}
        if not isinstance(part, dict):
            raise ConfigError(f"{path}: {section} must be a mapping of settings")
        settings.update(part)
    values.pop("refit_of", None)
    if not isinstance(data or {}, dict):
        raise ConfigError(f"{path}: data must be a mapping of dataset options")
    settings.update(values)
    settings.update({f"data.{key}": value for key, value in (data or {}).items()})
    return model, dataset, root, settings


#: The settings that ``--resume`` may change: how a run proceeds on this machine, not what it learns.
RESUMABLE = ("epochs", "budget_minutes", "device", "threads", "eval_batch_size", "progress", "log_every",
             "prefetch", "tensorboard", "compile")
#: The settings a refit (``graphsbr refit``) may change: how it runs on this machine, not what or how long it learns.
RUN_ONLY = tuple(key for key in RESUMABLE if key not in ("epochs", "budget_minutes"))


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """``["lr=0.01", "data.num_items=500"]`` -> ``{"lr": "0.01", "data.num_items": "500"}`` (strings, cast later)."""
    values = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        values[key.strip()] = value.strip()
    return values


def split_settings(model_cls, settings: dict[str, Any]) -> tuple[dict, dict, dict]:
    """Sorts flat settings into (model, trainer, data) dicts; ``data.KEY`` keys go to the dataset.

    Raises:
        ConfigError: a key that neither the model nor the trainer knows, listing the valid ones.
    """
    model_keys = {f.name for f in fields(model_cls.Config)}
    model, train, data = {}, {}, {}
    for key, value in settings.items():
        if key.startswith("data."):
            data[key[5:]] = value
        elif key in model_keys:
            model[key] = value
        elif key in TRAIN_KEYS:
            train[key] = value
        else:
            raise ConfigError(f"unknown setting {key!r} for model {model_cls.name}; valid: "
                              f"{', '.join(sorted(model_keys))} (model), {', '.join(TRAIN_KEYS)} (trainer), "
                              "data.<option> (dataset)")
    return model, train, data


def train_config(model_cls, values: dict[str, Any]) -> TrainConfig:
    """The trainer's settings: its defaults, then the model's paper defaults, then ``values``."""
    merged = {**model_cls.train_defaults, **values}
    return make_config(TrainConfig, merged)


def model_config(model_cls, values: dict[str, Any]):
    return make_config(model_cls.Config, values)


def data_options(values: dict[str, Any]) -> dict[str, Any]:
    """Dataset options from strings: numbers where they parse, else the string."""
    out = {}
    for key, value in values.items():
        if isinstance(value, str):
            for kind in (int, float):
                try:
                    value = coerce(value, kind(0), key)
                    break
                except ConfigError:
                    continue
        out[key] = value
    return out


def as_dict(config) -> dict[str, Any]:
    return asdict(config)
