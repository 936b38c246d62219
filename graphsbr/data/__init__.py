"""The data layer: data model, readers, protocols, cache and batching."""
from .catalog import DATASETS, DatasetInfo, RemoteFile
from .collate import SequenceBatch, SequenceCollator, collate_sequences
from .dataset import SessionDataset, SessionSplit, SideField
from .download import download_dataset
from .load import find_dataset, load_dataset
from .protocols import given_protocol, leave_one_out, pairs_to_split, preprocessed_session_protocol, session_protocol
from .records import ClickLog, GivenSplits, SplitSequences, UserSequences

__all__ = [
    "DATASETS",
    "ClickLog",
    "DatasetInfo",
    "RemoteFile",
    "GivenSplits",
    "SequenceBatch",
    "SequenceCollator",
    "SessionDataset",
    "SessionSplit",
    "SideField",
    "SplitSequences",
    "UserSequences",
    "collate_sequences",
    "download_dataset",
    "find_dataset",
    "given_protocol",
    "leave_one_out",
    "load_dataset",
    "pairs_to_split",
    "preprocessed_session_protocol",
    "session_protocol",
]
