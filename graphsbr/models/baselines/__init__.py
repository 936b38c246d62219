"""Baselines on the same contract: Pop, S-POP, GRU4Rec, SR-GNN, SASRec, CORE, NOVA, DIF-SR."""
from .core import CORE
from .difsr import DIFSR
from .gru4rec import GRU4Rec
from .nova import NOVA
from .pop import Pop
from .sasrec import SASRec
from .spop import SPop
from .srgnn import SRGNN

__all__ = ["CORE", "DIFSR", "NOVA", "SRGNN", "GRU4Rec", "Pop", "SASRec", "SPop"]
