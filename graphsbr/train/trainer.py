"""One trainer and one evaluator for every model: comparisons are fair by construction.

The trainer writes a run folder (its files, their atomic writes and the run's lock: :mod:`graphsbr.train.checkpoint`).
A resumed run reaches the same result as an uninterrupted one: each pass over the training samples is shuffled with
``(seed, pass)``, and the steps taken and the RNG state for dropout are saved with the checkpoint.

Under ``torchrun`` the same trainer runs data-parallel (:mod:`graphsbr.train.distributed`): each process trains on
its share of every batch through :class:`~torch.nn.parallel.DistributedDataParallel`, evaluation metrics are summed
across processes, and rank 0 alone writes the run folder.
"""
from __future__ import annotations

import functools
import gc
import json
import logging
import math
import platform
import random
import resource
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from ..data.collate import SequenceBatch, every_position_windows
from ..data.dataset import SessionDataset, SessionSplit
from ..errors import ConfigError, TrainingError
from ..models.base import SessionRecommender, count_parameters, targets_of
from .checkpoint import (  # noqa: F401 - BEST, read_checkpoint, load_weights and save_ranks are imported from here
    BEST,
    LAST,
    LAST_KEYS,
    exclusive,
    load_checkpoint,
    load_weights,
    read_checkpoint,
    remove_partial_writes,
    save_ranks,
    write_best,
    write_last,
    write_text,
)
from .config import TrainConfig
from .distributed import setup
from .loader import BatchLoader
from .metrics import RankingMetrics, metric_names

log = logging.getLogger(__name__)

#: The most scores ``[batch, N+1]`` one evaluation batch may hold: evaluation batches shrink for large catalogues.
SCORE_ELEMENTS = 2**25


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def selection_metric(config: TrainConfig, dataset: SessionDataset) -> str:
    """The validation metric that selects the epoch: ``mrr@20`` for sessions, ``ndcg@20`` otherwise."""
    metric = config.metric or ("mrr@20" if dataset.protocol == "session" else "ndcg@20")
    if metric not in metric_names():
        raise ConfigError(f"unknown metric {metric!r}; choose one of {', '.join(metric_names())}")
    return metric


def training_mode(config: TrainConfig, model: SessionRecommender, dataset: SessionDataset) -> str:
    """``prefix`` or ``sequence`` (see :class:`TrainConfig`)."""
    if config.training not in ("auto", "prefix", "sequence"):
        raise ConfigError(f"unknown training mode {config.training!r}; choose auto, prefix or sequence")
    every_prefix = dataset.train.num_samples == int((dataset.train.lengths - 1).clamp(min=0).sum())
    if config.training == "sequence" and not (model.sequence_training and every_prefix):
        raise ConfigError(f"training=sequence needs a causal model with sequence_loss ({model.name} "
                          f"{'has one' if model.sequence_training else 'has none'}) and every prefix of the "
                          f"training sessions as samples ({'yes' if every_prefix else 'no'})")
    if config.training == "auto":
        return "sequence" if model.sequence_training and every_prefix else "prefix"
    return config.training


@torch.no_grad()
def refresh_memory(model: SessionRecommender, dataset: SessionDataset, batch_size: int = 512,
                   device: torch.device | str = "cpu") -> None:
    """Lets a model with a memory of training sessions (``uses_memory``) rebuild it with its current weights, from
    the longest prefix of every training session."""
    if not model.uses_memory:
        return
    model.eval()
    train = dataset.train
    longest = SessionSplit(train.ptr, train.items, longest_prefixes(train), train.timestamps, train.fields)
    model.refresh_memory(BatchLoader(dataset, longest, model.batch_kind, model.max_len, batch_size, None, device))


def longest_prefixes(split: SessionSplit) -> torch.Tensor:
    """``[S', 2]`` one sample per session of length >= 2: all its clicks but the last."""
    lengths = split.lengths
    sessions = torch.nonzero(lengths >= 2).squeeze(1)
    return torch.stack([sessions, lengths[sessions] - 1], 1)


def batch_samples(batch) -> int:
    """The training pairs of a batch, counted by the collator on the CPU (a graph batch has one per graph)."""
    if isinstance(batch, SequenceBatch):
        return batch.num_targets or int(batch.targets.count_nonzero())
    return batch.num_graphs


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@functools.lru_cache(maxsize=None)
def processor_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` knows)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine(device: torch.device) -> dict:
    """Where an epoch ran, for its record: the CPU model, the GPU's name on CUDA, torch's threads and version.
    Float rounding, and so a run's digits, can depend on it; a resumed run may move between machines."""
    record = {"cpu": processor_name(), "threads": torch.get_num_threads(), "torch": str(torch.__version__)}
    if device.type == "cuda":
        record["gpu"] = torch.cuda.get_device_name(device)
    return record


#: ``amp`` settings -> the autocast dtype (``None``: full precision).
AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def amp_dtype(amp) -> torch.dtype | None:
    """The autocast dtype of an ``amp`` setting: ``off``, ``bf16`` or ``fp16`` (``true`` / ``false`` from older
    configs mean ``bf16`` / ``off``)."""
    key = {True: "bf16", False: "off", "true": "bf16", "false": "off", "": "off"}.get(amp, amp)
    if key not in AMP_DTYPES:
        raise ConfigError(f"unknown amp setting {amp!r}; choose off, bf16 or fp16")
    return AMP_DTYPES[key]


class Objective(torch.nn.Module):
    """A model's training loss as a module's ``forward``, which is what
    :class:`~torch.nn.parallel.DistributedDataParallel` wraps (it synchronises gradients of what runs through
    ``forward`` only)."""

    def __init__(self, model: SessionRecommender, sequence: bool):
        super().__init__()
        self.model, self.sequence = model, sequence

    def forward(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.model.sequence_loss(batch) if self.sequence else self.model.loss(batch)


class CompiledObjective:
    """The objective under ``torch.compile`` (``compile=true``), falling back to eager for good where compiling fails.

    Batch widths vary from step to step: ``dynamic=None`` compiles the first width statically and, on the first
    other width, once more with symbolic sizes (automatic dynamic shapes), not once per width. The backward is
    compiled with the forward (not lazily at the first ``backward()``), so that a failure shows in this call: it is
    logged as a warning with the model and the error's first line, and the step and those after it run eagerly
    (an error of the model itself then raises from the eager call). Graph breaks are no failure: the regions
    between them are compiled.
    """

    def __init__(self, objective: torch.nn.Module, name: str):
        self.eager, self.name = objective, name
        self.failure: str | None = None  # why it fell back
        try:
            self.compiled = torch.compile(objective, dynamic=None)
        except Exception as error:  # noqa: BLE001 - e.g. a Python version dynamo does not support
            self._fall_back(error)

    def __call__(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.compiled is not None:
            try:  # random ops draw as in eager mode: the same seed gives the same dropout, compiled or not
                with torch._functorch.config.patch(force_non_lazy_backward_lowering=True), \
                        torch._inductor.config.patch(fallback_random=True):
                    return self.compiled(batch)
            except Exception as error:  # noqa: BLE001 - any compiler failure; the eager call re-raises the model's own
                self._fall_back(error)
        return self.eager(batch)

    def _fall_back(self, error: Exception) -> None:
        error = getattr(error, "inner_exception", error)  # what the backend raised, not dynamo's wrapper
        first_line = (str(error).strip().splitlines() or [""])[0][:300]
        self.failure, self.compiled = f"{type(error).__name__}: {first_line}", None
        log.warning("compile: %s falls back to eager mode: %s", self.name, self.failure)


class Trainer:
    """Fits a :class:`~graphsbr.models.SessionRecommender` with Adam, selects the epoch on validation, reports test.

    Args:
        model: the model (built with ``from_dataset``).
        dataset: the dataset; ``train`` is fitted, ``valid`` selects, ``test`` is reported for the selected epoch.
        config: the trainer's settings.
        out: the run folder (``None``: nothing written, nothing resumable).
        run: what ``config.yaml`` records besides the settings (model name, dataset key, root, data options,
            model settings), so that ``graphsbr evaluate`` can rebuild the run.
        callbacks: objects told of the run's progress on the main process; each may define
            ``on_loss(trainer, step, losses)`` (the running mean loss parts, read every ``log_every`` steps; ``step``
            counts global steps), ``on_epoch_end(trainer, record)`` (the epoch's ``metrics.jsonl`` record, after
            ``last.pt`` is written) and ``on_fit_end(trainer)`` (when ``fit`` ends, also by an exception). An
            exception raised in a callback ends ``fit`` (an Optuna pruner's ``TrialPruned``).
    """

    def __init__(self, model: SessionRecommender, dataset: SessionDataset, config: TrainConfig,
                 out: Path | str | None = None, run: dict | None = None, callbacks: list | tuple = ()):
        self.model, self.dataset, self.config = model, dataset, config
        self.callbacks = list(callbacks)
        self.out = None if out is None else Path(out)
        self.run = dict(run or {})
        if torch.device(config.device).type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device cuda requested but torch sees no CUDA device")
        self.group, device = setup(config.device)
        if config.tensorboard and self.group.main:
            from .tensorboard import TensorBoardLogger

            self.callbacks.append(TensorBoardLogger(config.tensorboard))
        self.device = torch.device(device)
        dtype = amp_dtype(config.amp)
        self.amp = dtype if self.device.type == "cuda" else None
        if dtype is not None and self.amp is None:
            log.warning("amp=%s applies on CUDA only; training on %s in full precision", config.amp, self.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        if config.epoch_steps < 0:
            raise ConfigError(f"epoch_steps must be >= 0 (0: a full pass), got {config.epoch_steps}")
        # batches collated ahead in a thread: on CUDA by default; on the CPU the thread would take a core from the step
        self.prefetch = config.prefetch if config.prefetch >= 0 else 2 if self.device.type == "cuda" else 0
        self.metric = selection_metric(config, dataset)
        self.training_mode = training_mode(config, model, dataset)
        self.model.to(self.device)
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = _adam(trainable, config) if trainable else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp is torch.float16)
        self.objective = self.objective_module = Objective(model, self.training_mode == "sequence")
        self.history: list[dict] = []
        self.epoch = self.steps = 0
        self.best_epoch, self.best_value, self.stale = 0, -math.inf, 0
        self.best_steps = 0  # the steps taken when the best epoch ended
        self._memory_fresh = False  # whether a memory model's memory holds the current weights' sessions
        self._best_weights: dict | None = None  # without a run folder
        self.train_seconds = 0.0
        self.train_samples = 0

    # ----------------------------------------------------------------------------------------------- batches
    def loader(self, split_name: str, shuffle_seed: int | None = None, batch_size: int | None = None):
        """Batches of a split in split order; under several processes, this rank's share of its samples."""
        split = self.dataset.split(split_name)
        if self.group.distributed:
            split = SessionSplit(split.ptr, split.items, self.group.shard(split.samples), split.timestamps,
                                 split.fields)
        return BatchLoader(self.dataset, split, self.model.batch_kind, self.model.max_len,
                           batch_size or self.config.eval_batch_size, shuffle_seed, self.device, prefetch=self.prefetch)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp) if self.amp is not None else nullcontext()

    @property
    def writing(self) -> bool:
        """Whether this process writes the run folder (there is one, and this is rank 0)."""
        return self.out is not None and self.group.main

    # ------------------------------------------------------------------------------------------- evaluation
    def refresh_memory(self) -> None:
        """Rebuilds a memory model's memory (``uses_memory``) unless it already holds the current weights'."""
        if not self._memory_fresh:
            refresh_memory(self.model, self.dataset, self.config.eval_batch_size, self.device)
            self._memory_fresh = True

    @torch.no_grad()
    def evaluate(self, split_name: str = "valid", ranks: list | None = None) -> dict[str, float]:
        """Full-ranking metrics of the current weights on a split; ``ranks``, when given, receives every sample's
        target rank (this process's samples, in split order)."""
        self.refresh_memory()
        self.model.eval()
        metrics = RankingMetrics()
        for batch in self.loader(split_name, batch_size=self.eval_batch_size()):
            with self.autocast():
                scores = self.model(batch)
            batch_ranks = metrics.update(scores.float(), targets_of(batch))
            if ranks is not None:
                ranks.append(batch_ranks)
        if self.group.distributed:
            sums, count = metrics.state()
            totals = self.group.sum(torch.cat([sums.flatten(), sums.new_tensor([count])]).to(self.device)).cpu()
            metrics.load_state(totals[:-1].view_as(sums), int(totals[-1]))
        return metrics.compute()

    def eval_batch_size(self) -> int:
        """``eval_batch_size``, cut so that a batch's ``[B, N+1]`` scores hold at most :data:`SCORE_ELEMENTS`
        (128 MB of float32: 83 sessions a batch for 400k items)."""
        return max(1, min(self.config.eval_batch_size, SCORE_ELEMENTS // (self.dataset.num_items + 1)))

    # ------------------------------------------------------------------------------------------------ train
    def fit(self, resume: bool = False) -> dict:
        """Trains to early stopping (or ``epochs``, or the budget), then evaluates the selected epoch on test.

        Raises:
            TrainingError: another process is training into the same ``out`` folder, or the loss is not finite.
            DataError: ``resume`` finds a truncated or foreign ``last.pt``.
        """
        self._check_out(resume)
        with exclusive(self.out if self.group.main else None):
            try:
                return self._fit(resume)
            finally:
                if self.group.main:
                    self._notify("on_fit_end")

    def _fit(self, resume: bool) -> dict:
        cfg = self.config
        self._prepare_out(resume)
        if resume:
            self._load_last()
        else:
            seed_everything(cfg.seed + self.group.rank)  # rank 0 as a single process; dropout differs per rank
        if self.group.distributed and self.optimizer is not None:
            from torch.nn.parallel import DistributedDataParallel

            # every parameter a step leaves unused (an ablation's, a side field's) is tolerated
            self.objective = DistributedDataParallel(self.objective, find_unused_parameters=True)
        if cfg.compile and self.optimizer is not None:
            if self.model.not_compiled:
                log.warning("compile: %s trains eagerly: %s", self.model.name, self.model.not_compiled)
            else:
                self.objective = CompiledObjective(self.objective, self.model.name)
        start = time.perf_counter()
        while (self.optimizer is not None and self.epoch < cfg.epochs and not self.patience_spent()
               and not self.steps_spent()):
            epoch_start = time.perf_counter()
            loss_parts, samples = self._train_epoch()
            train_time = time.perf_counter() - epoch_start
            valid = self.evaluate("valid") if self.selecting else {}
            self.epoch += 1
            self._set_lr()
            improved = not self.selecting or valid[self.metric] > self.best_value
            if improved:
                self.best_epoch, self.best_value, self.stale = self.epoch, valid.get(self.metric, -math.inf), 0
                self.best_steps = self.steps
                self._save_best()
            else:
                self.stale += 1
            seconds = time.perf_counter() - epoch_start
            self.train_seconds += train_time
            self.train_samples += samples
            report = {"test": self.evaluate("test")} if cfg.report_test else {}
            self.history.append({"epoch": self.epoch, **loss_parts, "valid": valid, **report,
                                 "seconds": round(seconds, 3),
                                 "train_seconds": round(train_time, 3),
                                 "samples_per_second": round(samples / max(train_time, 1e-9), 1),
                                 "steps": self.steps, "samples": self.train_samples,
                                 "lr": self.optimizer.param_groups[0]["lr"], "machine": machine(self.device)})
            self._save_last()
            if self.group.main:
                log.info("epoch %d: loss %.4f, valid %s %.4f%s", self.epoch, loss_parts.get("loss", float("nan")),
                         self.metric, valid.get(self.metric, math.nan), " (best)" if improved else "")
                self._notify("on_epoch_end", self.history[-1])
            spent = bool(cfg.budget_minutes) and time.perf_counter() - start > cfg.budget_minutes * 60
            if self.group.any(spent, self.device):  # every rank stops after the same epoch
                if self.group.main:
                    log.info("budget of %g minutes spent after epoch %d", cfg.budget_minutes, self.epoch)
                break
        if self.objective is not self.objective_module:
            # drop DDP (and its reducer's hold on the process group) while the group is alive: destroyed at exit,
            # after the group, the reducer's gloo threads deadlock on the GIL; and the compiled step
            self.objective = self.objective_module
            gc.collect()
        return self._finish()

    @property
    def selecting(self) -> bool:
        """Whether there is a validation split to select the epoch on; without one (a refit,
        :func:`~graphsbr.data.protocols.merge_validation`) every epoch is kept and the last one is reported."""
        return self.dataset.valid.num_samples > 0

    def steps_spent(self) -> bool:
        """Whether ``max_steps`` steps were taken."""
        return bool(self.config.max_steps) and self.steps >= self.config.max_steps

    def pass_steps(self) -> int:
        """Steps in one pass over the training samples: the unit of ``lr_step`` and ``patience``."""
        return len(self._train_loader())

    def patience_spent(self) -> bool:
        """Whether ``patience`` passes' worth of steps went by since the best epoch (an epoch is a pass, or
        ``epoch_steps`` of one)."""
        return self.epoch > self.best_epoch and self.steps - self.best_steps >= self.config.patience * self.pass_steps()

    def stop_reason(self) -> str:
        """Why training ended: ``"patience"`` (its early stop on validation: a converged run), ``"steps"``
        (``max_steps``: a refit's length), ``"epochs"`` (the ``epochs`` cap), ``"budget"`` (``budget_minutes``), or
        ``"untrained"`` (a model without parameters)."""
        if self.optimizer is None:
            return "untrained"
        if self.patience_spent():
            return "patience"
        if self.steps_spent():
            return "steps"
        return "epochs" if self.epoch >= self.config.epochs else "budget"

    def _set_lr(self, step: int | None = None) -> None:
        """The learning rate after ``self.steps`` steps: ``lr * lr_gamma ** (passes // lr_step)`` with the passes
        completed (a step decay per ``lr_step`` passes, applied at the end of the epoch that completes them), times
        ``(step + 1) / warmup_steps`` while the global ``step`` about to run is inside the warm-up."""
        cfg = self.config
        if self.optimizer is None or (cfg.lr_step <= 0 and not cfg.warmup_steps):
            return
        decays = self.steps // self.pass_steps() // cfg.lr_step if cfg.lr_step > 0 else 0
        step = self.steps if step is None else step
        warmup = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr * cfg.lr_gamma ** decays * warmup

    def _train_epoch(self) -> tuple[dict[str, float], int]:
        """One epoch: a pass over the training samples, or the next ``epoch_steps`` batches of the current pass.

        The step never waits for the device: loss parts are summed where they are and read every ``log_every``
        steps and at the end (with the check that the loss is finite); the samples are counted by the collator.
        """
        cfg = self.config
        self.refresh_memory()
        self.model.train()
        loader = self._train_loader()
        passes, first = divmod(self.steps, len(loader))
        # each pass is shuffled with (seed, pass number), so an epoch's batches never depend on what ran before
        loader.shuffle_seed = cfg.seed * 100003 + passes
        count = min(cfg.epoch_steps or len(loader), len(loader) - first)
        if cfg.max_steps:
            count = min(count, cfg.max_steps - self.steps)
        sums: dict[str, torch.Tensor] = {}
        steps = samples = 0
        start = time.perf_counter()
        bar = tqdm(loader.batches(first, count, self.group), total=count, desc=f"epoch {self.epoch + 1}",
                   leave=False, disable=not (cfg.progress and self.group.main), unit="batch")
        self._memory_fresh = False
        for batch in bar:
            if self.steps + steps <= cfg.warmup_steps:  # inside the warm-up, and the step that ends it
                self._set_lr(self.steps + steps)
            with self.autocast():
                loss, parts = self.objective(batch)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.grad_clip:
                self.scaler.unscale_(self.optimizer)
                norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                if not self.scaler.is_enabled():  # not logged under float16, whose overflowing steps have no finite norm
                    parts = {**parts, "grad_norm": norm, "clipped": (norm > cfg.grad_clip).float()}
            self.scaler.step(self.optimizer)
            self.scaler.update()
            steps += 1
            samples += batch_samples(batch)
            for key, value in {**parts, "loss": loss}.items():
                value = torch.as_tensor(value).detach()
                sums[key] = sums[key] + value if key in sums else value
            if steps % max(cfg.log_every, 1) == 0 or steps == count:
                means = self._read_losses(sums, steps)
                if self.group.main:
                    self._notify("on_loss", self.steps + steps, means)
                bar.set_postfix(loss=f"{means['loss']:.4f}", samples_s=f"{samples / (time.perf_counter() - start):.0f}")
        self.steps += count  # global batches, skipped ones included, so that a resumed run goes on where it was
        if self.group.distributed:
            samples = int(self.group.sum(torch.tensor([samples], device=self.device)).item())
        return self._read_losses(sums, steps) if steps else {}, samples

    def _notify(self, event: str, *args) -> None:
        for callback in self.callbacks:
            handler = getattr(callback, event, None)
            if handler is not None:
                handler(self, *args)

    def _read_losses(self, sums: dict[str, torch.Tensor], steps: int) -> dict[str, float]:
        """The mean loss parts so far, read from the device; a non-finite loss stops the run.

        Raises:
            TrainingError: the loss is not finite (``last.pt`` keeps the last good epoch).
        """
        means = {key: float(value) / steps for key, value in sums.items()}
        if not math.isfinite(means["loss"]):
            first = max(1, steps - max(self.config.log_every, 1) + 1)
            raise TrainingError(f"non-finite loss in epoch {self.epoch + 1} within steps {first}-{steps}; the last "
                                "good checkpoint is kept (try a lower lr or grad_clip)")
        return means

    def _train_loader(self) -> BatchLoader:
        """The training batches (unshuffled): prefixes, or whole-session windows in ``sequence`` mode."""
        cfg = self.config
        if self.training_mode == "sequence":
            train = self.dataset.train
            windows = SessionSplit(train.ptr, train.items, every_position_windows(train, self.model.max_len),
                                   train.timestamps, train.fields)
            # batch_size counts training pairs in both modes: as many windows as hold about that many targets
            per_window = train.num_samples / max(windows.num_samples, 1)
            return BatchLoader(self.dataset, windows, "sequence", self.model.max_len,
                               max(1, round(cfg.batch_size / per_window)), None, self.device, every_position=True,
                               prefetch=self.prefetch)
        return BatchLoader(self.dataset, self.dataset.train, self.model.batch_kind, self.model.max_len,
                           cfg.batch_size, None, self.device, prefetch=self.prefetch)

    def _finish(self) -> dict:
        if self.optimizer is None:  # nothing to learn (Pop): the weights as they are
            self._save_best()
        best = self.out / BEST if self.writing else None
        if best is not None and best.is_file():
            load_checkpoint(self.model, best, self.device)
        elif best is None and self._best_weights is not None:
            self.model.load_state_dict(self._best_weights)
        elif best is not None and self.best_epoch:  # never the last epoch's weights under the selected epoch's name
            raise TrainingError(f"{best} is missing: the weights of the selected epoch {self.best_epoch} are gone "
                                "(a run folder moved without its best.pt?), so the run cannot be evaluated at it")
        self._memory_fresh = False  # the selected epoch's weights
        valid = self.evaluate("valid") if self.selecting else {}
        eval_start = time.perf_counter()
        ranks: list[torch.Tensor] = []
        test = self.evaluate("test", ranks)
        eval_seconds = time.perf_counter() - eval_start
        results = {
            "model": self.model.name, "dataset": self.dataset.name, "protocol": self.dataset.protocol,
            "seed": self.config.seed, "best_epoch": self.best_epoch, "best_steps": self.best_steps,
            "epochs_run": self.epoch, "steps": self.steps,
            "stopped": self.stop_reason(), "selection_metric": self.metric, "training_mode": self.training_mode,
            "valid": valid, "test": test,
            "train_seconds": round(self.train_seconds, 3),
            "train_samples_per_second": round(self.train_samples / self.train_seconds, 1) if self.train_seconds else 0.0,
            "eval_seconds": round(eval_seconds, 3), "peak_rss_mb": round(peak_rss_mb(), 1),
            "num_parameters": count_parameters(self.model), "machine": machine(self.device),
            "config": self._run_config(),
        }
        if self.group.distributed:  # every rank's share, back in split order
            whole = self.group.unshard(torch.cat(ranks).to(self.device), self.dataset.test.num_samples)
            ranks = [whole.cpu()]
        if self.writing:
            save_ranks(ranks, self.out)  # per-sample ranks, for paired significance tests between runs
            write_text(self.out / "results.json", json.dumps(results, indent=2) + "\n")
        return results

    # ------------------------------------------------------------------------------------------- run folder
    def _run_config(self) -> dict:
        return {**self.run, "train": asdict(self.config)}

    def _check_out(self, resume: bool) -> None:
        if self.out is None:
            if resume:
                raise ConfigError("--resume needs a run folder (--out)")
            return
        if not resume and (self.out / LAST).exists():
            raise ConfigError(f"{self.out} already holds a run; pass --resume to continue it or choose another --out")
        if resume and not (self.out / LAST).exists():
            raise ConfigError(f"{self.out} holds no run to resume ({LAST} not found)")

    def _prepare_out(self, resume: bool) -> None:
        self._check_out(resume)  # again, now that the folder is ours
        if not self.writing:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        remove_partial_writes(self.out)
        write_text(self.out / "config.yaml", yaml.safe_dump(self._run_config(), sort_keys=False))

    def _save_best(self) -> None:
        """The selected epoch's weights: ``best.pt`` in the run folder, or a copy in memory without one (and on
        every rank but 0)."""
        if self.writing:
            write_best(self.out, self.model.state_dict(), self.best_epoch)
        else:
            self._best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def _save_last(self) -> None:
        if not self.writing:
            return
        state = {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "scheduler": None,
            "scaler": self.scaler.state_dict(), "epoch": self.epoch, "steps": self.steps,
            "best_epoch": self.best_epoch, "best_value": self.best_value, "best_steps": self.best_steps,
            "stale": self.stale,
            "history": self.history, "train_seconds": self.train_seconds, "train_samples": self.train_samples,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        write_last(self.out, state, self.history)

    def _load_last(self) -> None:
        state = load_checkpoint(self.model, self.out / LAST, self.device, LAST_KEYS)
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.best_epoch, self.stale = state["epoch"], state["best_epoch"], state["stale"]
        self.steps = state.get("steps", self.epoch * self.pass_steps())  # before epoch_steps existed
        # before patience counted passes: the epochs since the best one, each epoch_steps (or a pass) long
        self.best_steps = state.get("best_steps", self.steps - self.stale * (self.config.epoch_steps or self.pass_steps()))
        self._set_lr()  # the schedule follows the steps taken (older runs stored a per-epoch scheduler)
        self._memory_fresh = False
        self.best_value, self.history = state["best_value"], state["history"]
        self.train_seconds, self.train_samples = state["train_seconds"], state["train_samples"]
        torch.set_rng_state(state["torch_rng"].cpu())
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        if self.group.rank:  # rank 0's state was saved; the others draw their own dropout from here on
            torch.manual_seed(self.config.seed * 100003 + self.steps * 7919 + self.group.rank)
        if self.group.main:
            log.info("resumed %s after epoch %d", self.out, self.epoch)
            if self.best_epoch and not (self.out / BEST).is_file():
                log.warning("%s has no %s: unless an epoch beats epoch %d, the run will stop without a selected "
                            "epoch to evaluate", self.out, BEST, self.best_epoch)


def _adam(parameters: list, config: TrainConfig) -> torch.optim.Adam:
    """Adam, fused (one kernel for every parameter) where torch supports it: the update of a large item table is a
    sizeable share of a step on the CPU."""
    try:
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)

