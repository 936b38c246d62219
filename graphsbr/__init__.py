"""graphsbr: graph-first session-based and sequential recommendation with side information."""
from .errors import ConfigError, DataError, GraphSBRError
from .data import SessionDataset, SessionSplit, SideField, load_dataset

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "GraphSBRError",
    "SessionDataset",
    "SessionSplit",
    "SideField",
    "load_dataset",
    "__version__",
]
