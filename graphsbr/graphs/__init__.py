"""Global graph builders and SR-GNN per-session graphs; every builder returns a PyG ``Data``."""
from .convert import from_networkx, to_networkx
from .cooccurrence import cooccurrence_graph, neighbour_table
from .session_graph import SessionGraph, collate_session_graphs, session_graph
from .transition import item_transition_graph, side_transition_graph

__all__ = [
    "SessionGraph",
    "collate_session_graphs",
    "cooccurrence_graph",
    "from_networkx",
    "item_transition_graph",
    "neighbour_table",
    "session_graph",
    "side_transition_graph",
    "to_networkx",
]
