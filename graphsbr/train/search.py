"""Hyperparameter search (``graphsbr search``): an Optuna study whose trials are ordinary run folders.

Trial ``k`` trains in the run folder ``OUT/trial-NNNN`` (``k`` in four digits) with the settings it samples from the
space merged over the fixed settings, and scores the selected epoch's validation metric (the trainer's selection
metric; test is never looked at). The study lives in ``OUT/study.db`` (SQLite), so that running the same search again
continues it to ``trials`` trials in total, and ``--jobs`` worker processes share it.

* Sampler: TPE, seeded from the ``seed`` setting (and, so that a resumed study or a second worker does not draw the
  same points again, from the trials already in the study and the worker's index).
* Pruner: asynchronous successive halving (:class:`optuna.pruners.SuccessiveHalvingPruner`), fed every epoch's
  validation metric by :class:`ReportValidation`: at epochs 1, 3, 9, 27 … a trial goes on only if it is in the best
  third of the trials that reached that epoch. Hyperband would split the few (tens of) costly trials a recommender
  search affords among several brackets that each need about ten trials before TPE and pruning work.
* A trial that raises (a bad setting, ``TrainingError``, out of memory) is recorded ``FAIL`` with its error in the
  user attribute ``error``, and the study goes on.
* Interrupted trials: while a search runs, its processes hold a lock on ``OUT/.lock``, so a search that starts and
  gets the lock knows that no trial left ``RUNNING`` in the storage is alive (its process was killed). Such a trial,
  and one stopped by Ctrl-C, is marked ``FAIL`` and continued: a new trial with the same settings (user attribute
  ``retry_of``) takes over its run folder, renamed to the new trial's, and resumes it from its ``last.pt``.
  Interrupted trials do not count towards ``trials``.
"""
from __future__ import annotations

import json
import logging
import math
import multiprocessing
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import load_dataset
from ..errors import ConfigError, TrainingError
from ..models.base import coerce
from .config import RESUMABLE, TrainConfig, data_options, model_config, read_yaml, split_settings, train_config
from .run import build_trainer, get_model_class
from .trainer import LAST, selection_metric

try:
    import fcntl
except ImportError:  # Windows: studies are not locked
    fcntl = None

log = logging.getLogger(__name__)

STUDY_NAME, STORAGE, LOCK = "graphsbr", "study.db", ".lock"
#: Successive halving: the first rung (in epochs) and the factor between rungs (1 in this many trials goes on).
MIN_EPOCHS, REDUCTION_FACTOR = 1, 3
#: Settings that may differ when a study is continued: how trials run on this machine, not what they learn.
RUNTIME_KEYS = tuple(key for key in RESUMABLE if key not in ("epochs", "budget_minutes"))
RANGE_KEYS = ("low", "high", "log", "step")


def _import_optuna():
    """Optuna, an optional extra."""
    try:
        import optuna
    except ImportError:
        raise ConfigError('graphsbr search needs Optuna: pip install "graphsbr[search]"') from None
    return optuna


# ------------------------------------------------------------------------------------------------------ the space
@dataclass(frozen=True)
class SearchParameter:
    """One setting of a search space: a list of ``choices``, or a range from ``low`` to ``high`` (on a log scale with
    ``log``, ``step`` apart with ``step``), of integers when ``low`` is an int."""

    key: str
    choices: tuple = ()
    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    step: int | float | None = None

    def suggest(self, trial) -> Any:
        if self.choices:
            return trial.suggest_categorical(self.key, list(self.choices))
        if isinstance(self.low, int):
            return trial.suggest_int(self.key, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    @property
    def first(self) -> Any:
        return self.choices[0] if self.choices else self.low

    def __str__(self) -> str:
        if self.choices:
            return f"{self.key} in [{', '.join(map(str, self.choices))}]"
        return f"{self.key} from {self.low} to {self.high}" + (" (log)" if self.log else "") + \
            (f" step {self.step}" if self.step else "")


def read_space(space: dict | str | Path, model_cls) -> list[SearchParameter]:
    """The parameters of a search space: a mapping (or a YAML file of one) from a setting (a model or trainer setting,
    or ``data.KEY``: what ``--set`` accepts) to a list of choices or a range ``{low, high, log, step}``.

    Raises:
        ConfigError: an unknown setting (listing the valid ones), an empty list, a bad range (``low >= high``, ``log``
            with ``low <= 0``), or a value of the wrong type for its setting.
    """
    values = space if isinstance(space, dict) else read_yaml(space)
    if not values:
        raise ConfigError("search space: it names no setting")
    try:
        split_settings(model_cls, dict.fromkeys(values))  # unknown keys
        defaults = _setting_defaults(model_cls)
        return [_parameter(key, spec, defaults.get(key)) for key, spec in values.items()]
    except ConfigError as error:
        raise ConfigError(f"search space: {error}") from None


def _setting_defaults(model_cls) -> dict[str, Any]:
    """Every setting's default for ``model_cls``: the trainer's, its paper's, then its own config's."""
    return {**asdict(TrainConfig()), **model_cls.train_defaults, **asdict(model_cls.Config())}


def _parameter(key: str, spec, default) -> SearchParameter:
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{key}: an empty list of choices")
        return SearchParameter(key, choices=tuple(_choice(key, value, default) for value in spec))
    if isinstance(spec, dict):
        return _range(key, spec, default)
    raise ConfigError(f"{key}: expected a list of choices or a range {{low, high, log, step}}, got {spec!r} "
                      "(a fixed value goes to --set)")


def _choice(key: str, value, default):
    """A choice cast to its setting's type (a list setting's comma-separated string stays a string)."""
    if not (value is None or isinstance(value, (bool, int, float, str))):
        raise ConfigError(f"{key}: choices are numbers, strings or booleans (a list setting takes a comma-separated "
                          f"string), got {value!r}")
    if default is None or value is None:
        return value
    not_a_string = isinstance(default, str) and not isinstance(value, str)
    if not_a_string or isinstance(value, bool) != isinstance(default, bool):
        raise ConfigError(f"{key}: expected {type(default).__name__}, got {value!r}")
    typed = coerce(value, default, key)
    if isinstance(typed, (tuple, list)):
        return value
    if typed != value and not isinstance(value, str):  # 2.5 for an int setting
        raise ConfigError(f"{key}: expected {type(default).__name__}, got {value!r}")
    return typed


def _range(key: str, spec: dict, default) -> SearchParameter:
    unknown = sorted(set(spec) - set(RANGE_KEYS))
    if unknown or "low" not in spec or "high" not in spec:
        raise ConfigError(f"{key}: a range is {{low, high, log, step}} with low and high, got {spec}")
    low, high, step = (_number(key, name, spec.get(name)) for name in ("low", "high", "step"))
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{key}: log is true or false, got {log!r}")
    if isinstance(default, (bool, str, tuple, list)):
        raise ConfigError(f"{key} is a {type(default).__name__} setting: give a list of choices, not a range")
    bounds = [v for v in (low, high, step) if v is not None]
    integer = isinstance(default, int) or (default is None and all(isinstance(v, int) for v in bounds))
    if integer and not all(isinstance(v, int) for v in bounds):
        raise ConfigError(f"{key} is an integer setting: low, high and step must be integers, got {spec}")
    if not integer:
        low, high, step = float(low), float(high), None if step is None else float(step)
    if low >= high:
        raise ConfigError(f"{key}: low must be below high, got {spec}")
    if log and low <= 0:
        raise ConfigError(f"{key}: a log range needs low > 0, got {spec}")
    if step is not None and (log or step <= 0):
        raise ConfigError(f"{key}: step must be positive, and not with log, got {spec}")
    return SearchParameter(key, low=low, high=high, log=log, step=step)


def _number(key: str, name: str, value):
    """A bound as a number (YAML reads ``1e-4`` as a string)."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                continue
    raise ConfigError(f"{key}: {name} must be a number, got {value!r}")


def _typed_settings(model_cls, settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` (``--set`` strings or values) cast to their settings' types.

    Raises:
        ConfigError: an unknown setting, or a value that is not of its setting's type.
    """
    model_values, train_values, data_values = split_settings(model_cls, settings)
    model, train = model_config(model_cls, model_values), train_config(model_cls, train_values)
    return {**{key: getattr(model, key) for key in model_values}, **{key: getattr(train, key) for key in train_values},
            **{f"data.{key}": value for key, value in data_options(data_values).items()}}


# ------------------------------------------------------------------------------------------------------ the study
@dataclass(frozen=True)
class SearchSetup:
    """What every trial of a study needs (picklable, for the worker processes)."""

    model: str
    dataset: str
    root: str | None
    settings: dict  # the fixed settings of every trial
    parameters: list
    out: Path
    seed: int


def _trial_folder(number: int) -> str:
    return f"trial-{number:04d}"


def search(model: str, dataset: str, space: dict | str | Path, trials: int, out, jobs: int = 1, root=None,
           settings: dict[str, Any] | None = None) -> dict:
    """Runs (or continues) an Optuna study of ``model``'s settings on ``dataset`` until it holds ``trials`` trials,
    then writes ``out/summary.json``, ``summary.md`` and the study's plots.

    Args:
        model, dataset, root: as for :func:`~graphsbr.train.run.build_trainer`.
        space: the search space (see :func:`read_space`).
        trials: the trials in total, counting those of earlier runs into ``out`` (complete, pruned or failed; not
            interrupted ones, which another trial continues).
        out: the study's folder: ``study.db``, a run folder per trial, the summary.
        jobs: worker processes sharing the study (each on one torch thread unless ``threads`` is set).
        settings: fixed settings of every trial (as ``--set``); the sampled ones override them.

    Returns:
        The summary (see :func:`write_summary`).

    Raises:
        ConfigError: a bad space or setting, a missing dataset, or ``out`` holding a study of other settings, all
            before any trial runs.
        TrainingError: another search is running in ``out``.
    """
    _import_optuna()
    if trials < 1 or jobs < 1:
        raise ConfigError(f"--trials and --jobs must be at least 1, got {trials} and {jobs}")
    cls = get_model_class(model)
    fixed = _typed_settings(cls, settings or {})
    parameters = read_space(space, cls)
    metric, seed = _check_run(cls, dataset, root, fixed, parameters)
    record = {"model": model, "dataset": dataset, "metric": metric, "settings": fixed,
              "space": [asdict(p) for p in parameters]}
    run_settings = {**fixed, "threads": fixed.get("threads", 1)} if jobs > 1 else fixed
    setup = SearchSetup(model, dataset, None if root is None else str(root), run_settings, parameters, Path(out), seed)
    setup.out.mkdir(parents=True, exist_ok=True)
    with _study_lock(setup.out, exclusive=True) as handle:
        study = _open_study(setup, seed)
        _check_record(study, record, setup.out)
        _continue_interrupted(study, setup.out)
        started = len(study.trials)
        remaining = trials - len(_ended_trials(study))
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_SH)  # the workers share the study from here on
        shares = [remaining // jobs + (worker < remaining % jobs) for worker in range(min(jobs, max(remaining, 0)))]
        log.info("%s: %d trials to run (%s)", setup.out, max(remaining, 0), ", ".join(map(str, shares)) or "none")
        if len(shares) == 1:
            _run_trials(setup, shares[0], started, 0)
        elif shares:
            _run_workers(setup, shares, started)
        return write_summary(study, setup.out)


def _check_run(cls, dataset: str, root, settings: dict, parameters: list[SearchParameter]) -> tuple[str, int]:
    """Loads the dataset with the space's first point (a missing dataset or a bad ``data.KEY`` is refused before any
    trial) and returns the selection metric and the seed."""
    _, train_values, data_values = split_settings(cls, {**settings, **{p.key: p.first for p in parameters}})
    train = train_config(cls, train_values)
    return selection_metric(train, load_dataset(dataset, root, **data_options(data_values))), train.seed


def _open_study(setup: SearchSetup, seed: int):
    """The study in ``out/study.db`` (created on first use), maximising, with a TPE sampler seeded with ``seed``."""
    optuna = _import_optuna()
    storage = optuna.storages.RDBStorage(f"sqlite:///{(setup.out / STORAGE).resolve()}",
                                         engine_kwargs={"connect_args": {"timeout": 60}})
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=MIN_EPOCHS, reduction_factor=REDUCTION_FACTOR)
    return optuna.create_study(storage=storage, study_name=STUDY_NAME, direction="maximize", load_if_exists=True,
                               sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)


def _check_record(study, record: dict, out: Path) -> None:
    """Records what the study searches, or checks that a continued study searches the same (settings that only say
    how trials run, :data:`RUNTIME_KEYS`, may change)."""
    record = json.loads(json.dumps(record))
    if not study.user_attrs:
        for key, value in record.items():
            study.set_user_attr(key, value)
        return
    recorded = json.loads(json.dumps(study.user_attrs))
    for part in (recorded, record):
        part["settings"] = {k: v for k, v in part["settings"].items() if k not in RUNTIME_KEYS}
    changed = [f"{key} {recorded.get(key)}" for key in record if recorded.get(key) != record[key]]
    if changed:
        raise ConfigError(f"{out} holds a study of other settings ({'; '.join(changed)}): continue it with the same "
                          "arguments, or choose another --out")


def _ended_trials(study) -> list:
    """The trials that count towards ``trials``: complete, pruned or failed, except interrupted ones continued by
    another trial."""
    trials = study.get_trials(deepcopy=False)
    continued = {t.user_attrs.get("retry_of") for t in trials}
    return [t for t in trials if t.state.is_finished() and t.number not in continued]


def _continue_interrupted(study, out: Path) -> None:
    """Marks the trials whose process ended mid-trial (``RUNNING``: killed; or stopped by Ctrl-C) ``FAIL``, and
    queues for each a trial with the same settings that resumes its run folder (renamed to the new trial's).
    Runs under the exclusive lock: no trial is alive."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    continued = {t.user_attrs.get("retry_of") for t in trials}
    for trial in trials:
        killed = trial.state == TrialState.RUNNING
        if trial.number in continued or not (killed or trial.user_attrs.get("interrupted")):
            continue
        if killed:
            study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        retry = study.get_trials(deepcopy=False)[-1].number
        folder = out / _trial_folder(trial.number)
        if folder.is_dir():
            folder.rename(out / _trial_folder(retry))
        log.warning("trial %d was interrupted; trial %d continues it", trial.number, retry)


def _run_trials(setup: SearchSetup, count: int, started: int, worker: int) -> None:
    """Runs ``count`` trials of the study (a worker's share), with a sampler seeded by ``(seed, started, worker)``."""
    seed = int(np.random.SeedSequence([setup.seed, started, worker]).generate_state(1)[0])
    with _study_lock(setup.out, exclusive=False):
        study = _open_study(setup, seed)
        study.optimize(lambda trial: _objective(trial, setup), n_trials=count, catch=(Exception,), gc_after_trial=True)


def _run_workers(setup: SearchSetup, shares: list[int], started: int) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_run_trials, args=(setup, count, started, worker), name=f"search-{worker}")
               for worker, count in enumerate(shares)]
    for process in workers:
        process.start()
    for process in workers:
        process.join()
        if process.exitcode:
            log.warning("worker %s ended with exit code %s", process.name, process.exitcode)


def _objective(trial, setup: SearchSetup) -> float:
    """Trains one trial in its run folder and returns its selected epoch's validation metric."""
    optuna = _import_optuna()
    params = {parameter.key: parameter.suggest(trial) for parameter in setup.parameters}
    folder = setup.out / _trial_folder(trial.number)
    trial.set_user_attr("run_folder", folder.name)
    resume = "retry_of" in trial.user_attrs and (folder / LAST).is_file()
    if resume:
        trial.set_user_attr("resumed_after_epoch", len((folder / "metrics.jsonl").read_text().splitlines()))
    try:
        trainer = build_trainer(setup.model, setup.dataset, setup.root, {**setup.settings, **params}, folder,
                                [ReportValidation(trial)])
        results = trainer.fit(resume=resume)
    except optuna.TrialPruned:
        raise
    except KeyboardInterrupt:
        trial.set_user_attr("interrupted", True)
        raise
    except Exception as error:
        message = str(error).strip().splitlines()
        trial.set_user_attr("error", f"{type(error).__name__}: {message[0] if message else ''}")
        raise
    return results["valid"][results["selection_metric"]]


class ReportValidation:
    """A :class:`~graphsbr.train.Trainer` callback: reports every epoch's validation metric to an Optuna trial (the
    step is the epoch; after a resume, the epochs before it too) and ends the run with ``TrialPruned`` when the pruner
    cuts the trial and training would go on."""

    def __init__(self, trial):
        self.trial, self.reported = trial, 0

    def on_epoch_end(self, trainer, record: dict) -> None:
        for past in trainer.history[self.reported:]:
            self.trial.report(past["valid"][trainer.metric], past["epoch"])
        self.reported = len(trainer.history)
        prune = self.trial.should_prune()  # asked at the last epoch too: the pruner records the trial's rung there
        if prune and trainer.epoch < trainer.config.epochs and not trainer.patience_spent():
            raise _import_optuna().TrialPruned(f"pruned after epoch {trainer.epoch}")


@contextmanager
def _study_lock(out: Path, exclusive: bool):
    """Holds ``out/.lock``: exclusively while a search sets up its study, shared while its workers run trials. A
    process that ends, however it ends, lets go of it."""
    if fcntl is None:
        yield None
        return
    with open(out / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrainingError(f"{out} is in use by another graphsbr search (or its workers); wait for it to "
                                "finish or choose another --out") from None
        yield handle


# ---------------------------------------------------------------------------------------------------- the summary
PLOTS = {"optimization-history": "plot_optimization_history", "param-importances": "plot_param_importances",
         "parallel-coordinate": "plot_parallel_coordinate"}


def write_summary(study, out) -> dict:
    """Writes ``out/summary.json`` and ``summary.md``: the best trial (its test metrics read from its
    ``results.json``, for information only) and every trial ranked on validation; and the study's plots as PNG.

    Returns:
        ``{"model", "dataset", "metric", "settings", "space", "counts", "best", "trials", "plots", "skipped_plots"}``;
        ``best`` (``None`` while no trial is complete) holds ``number``, ``params``, ``value``, ``run_folder`` and
        ``test``; each trial ``number``, ``state``, ``value``, ``epochs``, ``last_valid``, ``params``, ``run_folder``
        and, for a failed one, ``error`` (an interrupted one: also ``continued_by``, the trial that continues it,
        whose ``note`` says so).
    """
    out = Path(out)
    rows = _ranking(study)
    best = rows[0] if rows and rows[0]["state"] == "complete" else None
    if best is not None:
        results = out / best["run_folder"] / "results.json"
        test = json.loads(results.read_text())["test"] if results.is_file() else None
        best = {key: best[key] for key in ("number", "params", "value", "run_folder")} | {"test": test}
    counts = dict(Counter("interrupted" if "continued_by" in row else row["state"] for row in rows))
    plots, skipped = _plot(study, out, study.user_attrs["metric"])
    summary = {**{key: study.user_attrs[key] for key in ("model", "dataset", "metric", "settings", "space")},
               "counts": counts, "best": best, "trials": rows, "plots": plots, "skipped_plots": skipped}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(_markdown(summary))
    return summary


def _ranking(study) -> list[dict]:
    """Every trial, best first: complete ones by their value, then pruned ones by their last validation value, then
    the rest."""
    trials = study.get_trials(deepcopy=False)
    continued = {t.user_attrs["retry_of"]: t.number for t in trials if "retry_of" in t.user_attrs}
    rows = []
    for trial in trials:
        row = {"number": trial.number, "state": trial.state.name.lower(), "value": trial.value,
               "epochs": trial.last_step,
               "last_valid": None if trial.last_step is None else trial.intermediate_values[trial.last_step],
               "params": trial.params, "run_folder": trial.user_attrs.get("run_folder")}
        if trial.number in continued:
            row |= {"run_folder": None, "continued_by": continued[trial.number],
                    "error": f"interrupted; trial {continued[trial.number]} continues it"}
        elif trial.user_attrs.get("interrupted") or "error" in trial.user_attrs:
            row["error"] = trial.user_attrs.get("error", "interrupted")
        if "retry_of" in trial.user_attrs:
            epochs = trial.user_attrs.get("resumed_after_epoch")
            row["note"] = f"continues trial {trial.user_attrs['retry_of']}" + \
                (f" after epoch {epochs}" if epochs else "")
        rows.append(row)
    order = {"complete": 0, "pruned": 1}

    def rank(row):
        score = row["value"] if row["state"] == "complete" else row["last_valid"]
        return order.get(row["state"], 2), -score if score is not None else math.inf, row["number"]

    return sorted(rows, key=rank)


def _plot(study, out: Path, metric: str) -> tuple[list[str], dict[str, str]]:
    """Draws :data:`PLOTS` with ``optuna.visualization.matplotlib``; returns the files written and why others were
    not."""
    from optuna.trial import TrialState

    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    parameters = len(study.user_attrs["space"])
    reasons = {name: "fewer than 2 complete trials" for name in PLOTS if complete < 2}
    if parameters < 2:
        reasons = {"param-importances": "one parameter", "parallel-coordinate": "one parameter"} | reasons
    written, skipped = [], {}
    for name, function in PLOTS.items():
        reason = reasons.get(name)
        if reason is None:
            try:
                _draw(study, getattr(_optuna_plots(), function), out / f"{name}.png", f"valid {metric}")
                written.append(f"{name}.png")
                continue
            except (ImportError, ValueError, RuntimeError) as error:
                reason = str(error)
        skipped[name] = reason
        log.info("%s: no %s plot (%s)", out, name, reason)
    return written, skipped


def _optuna_plots():
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as plots

    return plots


def _draw(study, function, path: Path, target_name: str) -> None:
    import matplotlib.pyplot as plt
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)  # a column of equal values
        axes = function(study, target_name=target_name)
    axes.figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(axes.figure)


def _format(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_params(params: dict) -> str:
    """``lr=0.003162, dim=64``."""
    return ", ".join(f"{key}={_format(value)}" for key, value in params.items())


def _markdown(summary: dict) -> str:
    metric, best = summary["metric"], summary["best"]
    keys = [parameter["key"] for parameter in summary["space"]]
    counts = ", ".join(f"{count} {state}" for state, count in summary["counts"].items())
    settings = ", ".join(f"{k}={v}" for k, v in summary["settings"].items() if k not in keys) or "none"
    space = "; ".join(str(SearchParameter(**{**p, "choices": tuple(p["choices"])})) for p in summary["space"])
    lines = [f"# Search: {summary['model']} on {summary['dataset']}, ranked on valid {metric}", "",
             f"Trials: {counts}. Space: {space}. Fixed settings: {settings}.", "", "## Best trial", ""]
    if best is None:
        lines.append("No trial is complete yet.")
    else:
        lines.append(f"Trial {best['number']}: valid {metric} {best['value']:.4f} with {format_params(best['params'])} "
                     f"(run folder `{best['run_folder']}`).")
        if best["test"]:
            test = ", ".join(f"{k} {v:.4f}" for k, v in best["test"].items() if k.endswith("@20"))
            lines += ["", f"Its test metrics, for information only (the search never looks at test): {test}."]
    lines += ["", "## Trials, best first", "",
              f"| rank | trial | state | valid {metric} | epochs | {' | '.join(keys)} | run folder | note |",
              "|" + "---|" * (7 + len(keys))]
    for rank, row in enumerate(summary["trials"], 1):
        value = row["value"] if row["state"] == "complete" else row["last_valid"]
        shown = "" if value is None else f"{value:.4f}" if row["state"] == "complete" else f"({value:.4f})"
        params = " | ".join(_format(row["params"].get(key, "")) for key in keys)
        lines.append(f"| {rank} | {row['number']} | {row['state']} | {shown} | {row['epochs'] or ''} | {params} | "
                     f"{row['run_folder'] or ''} | {row.get('error') or row.get('note', '')} |")
    lines += ["", "A pruned trial's value, in brackets, is its last epoch's.", "", "## Plots", ""]
    lines += [f"![{name[:-4]}]({name})" for name in summary["plots"]]
    lines += [f"- no {name} plot: {reason}" for name, reason in summary["skipped_plots"].items()]
    return "\n".join(lines) + "\n"
