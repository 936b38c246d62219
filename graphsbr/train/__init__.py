"""Training and evaluation: one trainer, one evaluator, one inference method for every model."""
from .config import TrainConfig
from .metrics import RankingMetrics, metric_names, target_ranks
from .trainer import Trainer

__all__ = ["RankingMetrics", "TrainConfig", "Trainer", "metric_names", "target_ranks"]
