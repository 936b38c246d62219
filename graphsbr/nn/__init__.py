"""Reusable layers: item encoders over global graphs, side-field embeddings, attention variants, transformers,
SR-GNN's gated graph layer, ScoreNet's re-engagement scores."""
from .adaptive_entmax import AdaptiveAlpha, AdaptiveEntmaxAttention, EntmaxReadout, masked_entmax
from .attention import DecoupledAttention, DecoupledConcatAttention, FusedAttention, MultiHeadAttention
from .direct_attention import DirectAttention
from .dropout import Dropout
from .fusion import FUSIONS, Fusion
from .graph_encoder import GAT_VERSIONS, GraphAttentionEncoder
from .hie import HomogeneousInformationExtraction
from .item_encoder import ITEM_ENCODERS, ItemEncoder
from .packing import Packing, by_width
from .projected_table import ProjectedTable
from .re_engagement import SLOT_ORDERS, ReEngagementScore
from .session_gnn import GatedSessionGraphConv
from .side_embedding import SideEmbedding
from .transformer import TransformerBlock, TransformerEncoder
from .untied_attention import UntiedFusedAttention
from .weighted_edge_gat_conv import WeightedEdgeGATConv

__all__ = [
    "FUSIONS",
    "GAT_VERSIONS",
    "ITEM_ENCODERS",
    "SLOT_ORDERS",
    "AdaptiveAlpha",
    "AdaptiveEntmaxAttention",
    "DecoupledAttention",
    "DecoupledConcatAttention",
    "DirectAttention",
    "Dropout",
    "EntmaxReadout",
    "FusedAttention",
    "Fusion",
    "GatedSessionGraphConv",
    "GraphAttentionEncoder",
    "HomogeneousInformationExtraction",
    "ItemEncoder",
    "MultiHeadAttention",
    "Packing",
    "ProjectedTable",
    "ReEngagementScore",
    "SideEmbedding",
    "TransformerBlock",
    "TransformerEncoder",
    "UntiedFusedAttention",
    "WeightedEdgeGATConv",
    "by_width",
    "masked_entmax",
]
