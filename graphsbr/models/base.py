"""The model contract every recommender implements: :class:`SessionRecommender`."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, fields, is_dataclass
from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from ..data.collate import SequenceBatch
from ..data.dataset import SessionDataset, SideField
from ..errors import ConfigError
from ..nn.item_encoder import ItemEncoder


class SessionRecommender(nn.Module):
    r"""Base class of every model: full-ranking scores for a batch of session prefixes.

    A subclass declares

    * ``name`` — its registry key;
    * ``Config`` — a dataclass of its hyperparameters whose defaults are the paper's;
    * ``batch_kind`` — ``"sequence"`` (a :class:`~graphsbr.data.SequenceBatch`) or ``"graph"`` (a PyG ``Batch`` of
      :class:`~graphsbr.graphs.SessionGraph`, targets in ``batch.y``);
    * ``train_defaults`` — the paper's training settings (``lr``, ``batch_size``, ``weight_decay``, …) that override
      the trainer's defaults;
    * ``sequence_training`` — True for causal models (the state at click :math:`t` sees only clicks :math:`\le t`)
      that implement :meth:`sequence_loss`: the trainer may then encode each training session once with a loss at
      every position (the same pairs as prefix samples, a fraction of the encoder work);
    * ``uses_memory`` — True for models that keep a memory of training-session representations (A²D-MTL's
      inter-session neighbours): the trainer calls :meth:`refresh_memory` with batches of the training sessions
      before every epoch and before every evaluation, so that a prediction never depends on other test sessions;
    * ``legacy_settings`` — settings whose default changed (or that came with a default other than the behaviour
      before them), each with the value a run recorded without it had: a run folder's ``config.yaml`` that lacks
      one rebuilds the model it trained (``evaluate``, ``refit``, ``train --config``), not today's default;

    and implements :meth:`forward`. It builds whatever it needs from the training split (global graphs,
    popularity, vocabulary sizes) in :meth:`from_dataset`, once; :meth:`forward` sees only the batch.

    Shapes:
        forward: batch of ``B`` prefixes -> ``[B, num_items + 1]`` scores (column 0 is padding and is ignored).
        loss: batch -> ``(scalar, {"name": detached scalar tensor, ...})``: the parts stay where they were computed,
        so that a training step never waits for the device (the trainer reads them every ``log_every`` steps).
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type] = object
    batch_kind: ClassVar[str] = "sequence"
    train_defaults: ClassVar[dict[str, Any]] = {}
    sequence_training: ClassVar[bool] = False
    uses_memory: ClassVar[bool] = False
    legacy_settings: ClassVar[dict[str, Any]] = {}
    #: Why ``compile=true`` trains this model eagerly (``""``: it is compiled); see ``benchmarks/results/compile-cpu.md``.
    not_compiled: ClassVar[str] = ""

    def __init__(self, config, num_items: int):
        super().__init__()
        self.config = config
        self.num_items = num_items

    @classmethod
    def from_dataset(cls, dataset: SessionDataset, config=None) -> SessionRecommender:
        """Builds the model for ``dataset``: ``cls(config, num_items)``, plus the global graph its item encoder needs
        when the config has an ``item_encoder`` field (override to build more from the training split)."""
        config = config if config is not None else cls.Config()
        kind = getattr(config, "item_encoder", None)
        if kind is None:
            return cls(config, dataset.num_items)
        return cls(config, dataset.num_items, ItemEncoder.graph_for(kind, dataset))

    @property
    def max_len(self) -> int | None:
        """How many of the most recent clicks the model sees (``None``: all)."""
        return getattr(self.config, "max_len", None)

    def forward(self, batch) -> Tensor:
        raise NotImplementedError

    def loss(self, batch) -> tuple[Tensor, dict[str, Tensor]]:
        """Softmax cross-entropy of the targets over all items (padding excluded)."""
        loss = cross_entropy(self(batch), targets_of(batch))
        return loss, {"loss": loss.detach()}

    def sequence_loss(self, batch: SequenceBatch) -> tuple[Tensor, dict[str, Tensor]]:
        """The loss of a batch with a target at every position (``batch.targets [B, L]``, 0 = none)."""
        raise NotImplementedError(f"{self.name} has no sequence training mode")

    def refresh_memory(self, batches: Iterable) -> None:
        """Rebuilds the memory from ``batches`` of the training split, one sample per session: its longest prefix
        (all clicks but the last), with ``batch.sessions`` its index in the training split. Called in eval mode,
        without gradients."""

    def extra_repr(self) -> str:
        return f"num_items={self.num_items}"


def cross_entropy(scores: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy over items ``1..N`` of ``[B, N+1]`` scores (column 0, padding, takes no probability)."""
    return F.cross_entropy(scores[:, 1:].float(), targets - 1)


def targets_of(batch) -> Tensor:
    """``[B]`` target items of a sequence batch or a session-graph batch."""
    return batch.targets if isinstance(batch, SequenceBatch) else batch.y


def make_config(cls: type, values: dict[str, Any] | None = None):
    """``cls(**values)`` after checking every key and coercing strings; unknown keys raise :class:`ConfigError`."""
    values = dict(values or {})
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)} for {cls.__name__}; "
                          f"valid: {', '.join(known)}")
    defaults = cls()
    return cls(**{k: coerce(v, getattr(defaults, k), k) for k, v in values.items()})


def coerce(value, default, key: str):
    """Casts ``value`` to the type of ``default`` (strings from ``--set`` included)."""
    if default is None or value is None or isinstance(default, str):
        return value
    kind = type(default)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if kind is bool:
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if kind in (tuple, list):
        items = value.split(",") if isinstance(value, str) else list(value)
        return kind(coerce(v.strip() if isinstance(v, str) else v, default[0], key) for v in items) \
            if default else kind(items)
    try:
        if kind is int and isinstance(value, float) and value.is_integer():
            return int(value)
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected {kind.__name__}, got {value!r}") from None


def config_dict(config) -> dict[str, Any]:
    return asdict(config) if is_dataclass(config) else {}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def masked_mean(values: Tensor, mask: Tensor, dim: int) -> Tensor:
    """Mean of ``values`` over ``dim`` where ``mask`` is true (0 where nothing is)."""
    mask = mask.to(values.dtype)
    while mask.dim() < values.dim():
        mask = mask.unsqueeze(-1)
    return (values * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def check_choices(config, **choices) -> None:
    """Raises :class:`ConfigError` naming the first setting of ``config`` whose value is not among its ``choices``
    (``setting=valid values``), with the valid values."""
    for key, valid in choices.items():
        value = getattr(config, key)
        if value not in valid:
            raise ConfigError(f"{key}: unknown {value!r}; choose one of {', '.join(valid)}")


def gather_last(states: Tensor, lengths: Tensor) -> Tensor:
    """``[B, d]`` the state at position ``lengths - 1`` of left-aligned ``[B, L, d]`` states."""
    index = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, states.size(-1))
    return states.gather(1, index).squeeze(1)


def select_side_fields(dataset: SessionDataset, names=()) -> dict[str, SideField]:
    """The dataset's side fields named in ``names``, in the dataset's order; when empty, every field but those that
    are parts of another (:attr:`~graphsbr.data.SideField.part_of`: on Beauty, ``attribute`` alone)."""
    unknown = sorted(set(names) - set(dataset.side))
    if unknown:
        raise ConfigError(f"unknown side field(s) {', '.join(unknown)} for dataset {dataset.name}; "
                          f"valid: {', '.join(dataset.side) or '(none)'}")
    if not names:
        names = [name for name, field in dataset.side.items() if field.part_of not in dataset.side]
    return {name: field for name, field in dataset.side.items() if name in names}


__all__ = ["SessionRecommender", "config_dict", "count_parameters", "cross_entropy", "gather_last",
           "make_config", "masked_mean", "select_side_fields", "targets_of"]
