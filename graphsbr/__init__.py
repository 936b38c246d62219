"""graphsbr: graph-first session-based and sequential recommendation with side information."""
from .data import SessionDataset, SessionSplit, SideField, load_dataset
from .errors import ConfigError, DataError, GraphSBRError, TrainingError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "GraphSBRError",
    "SessionDataset",
    "SessionSplit",
    "SideField",
    "TrainingError",
    "__version__",
    "load_dataset",
]
