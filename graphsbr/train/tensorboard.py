"""TensorBoard events of a run (``TrainConfig.tensorboard``): a :class:`~graphsbr.train.Trainer` callback.

Needs the ``tensorboard`` extra (``pip install "graphsbr[tensorboard]"``); ``torch.utils.tensorboard`` is imported
when a logger is made, so graphsbr imports without it.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError


class TensorBoardLogger:
    """Writes a run's progress as TensorBoard scalars into ``log_dir``, on the main process.

    * ``train/<part>`` (``train/loss`` and the model's loss parts): the running mean of the epoch so far, every
      ``log_every`` steps, at the global step.
    * ``valid/<metric>`` (and ``test/<metric>`` with ``report_test``), ``lr`` and ``samples_per_second``: every
      epoch's ``metrics.jsonl`` record, at the epoch number; the events are flushed to disk then.

    Args:
        log_dir: the folder of the event files (made if missing); a resumed run adds a file beside the old ones.

    Raises:
        ConfigError: the ``tensorboard`` package is not installed.
    """

    def __init__(self, log_dir: Path | str):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:  # tensorboard missing, or older than torch accepts
            raise ConfigError(f"tensorboard={log_dir} needs the tensorboard package ({error}): "
                              'pip install "graphsbr[tensorboard]"') from None
        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(str(self.log_dir))

    def on_loss(self, trainer, step: int, losses: dict[str, float]) -> None:
        for part, value in losses.items():
            self.writer.add_scalar(f"train/{part}", value, step)

    def on_epoch_end(self, trainer, record: dict) -> None:
        epoch = record["epoch"]
        for split in ("valid", "test"):
            for metric, value in record.get(split, {}).items():
                self.writer.add_scalar(f"{split}/{metric}", value, epoch)
        for key in ("lr", "samples_per_second"):
            self.writer.add_scalar(key, record[key], epoch)
        self.writer.flush()

    def on_fit_end(self, trainer) -> None:
        self.writer.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.log_dir)!r})"
