"""Reusable layers: item encoders over global graphs, side-field embeddings, attention variants, transformers,
SR-GNN's gated graph layer."""
from .attention import DecoupledAttention, FusedAttention, MultiHeadAttention
from .dropout import Dropout
from .fusion import FUSIONS, Fusion
from .item_encoder import ITEM_ENCODERS, ItemEncoder
from .packing import Packing
from .session_gnn import GatedSessionGraphConv
from .side_embedding import SideEmbedding
from .transformer import TransformerBlock, TransformerEncoder

__all__ = [
    "FUSIONS",
    "ITEM_ENCODERS",
    "DecoupledAttention",
    "Dropout",
    "FusedAttention",
    "Fusion",
    "GatedSessionGraphConv",
    "ItemEncoder",
    "MultiHeadAttention",
    "Packing",
    "SideEmbedding",
    "TransformerBlock",
    "TransformerEncoder",
]
