"""ktn_kg: the commonsense relation knowledge graphs (CRKG) of KTN. Does not import torch.

The model reads graphs only through :func:`load_graph`::

    graph = ktn_kg.load_graph("graphs/v2.pkl")
    a_kpt = graph.matrix("kpt")   # float64 (17, 25); "part" (15, 25); "person" (6, 25)
"""

from .build import BuildInputs, build_graph
from .errors import KGError
from .graph import KnowledgeGraph, TaskGraph, load_graph
from .recipe import Recipe
from .vocabulary import TASKS, load_vocabulary

__all__ = [
    "TASKS",
    "BuildInputs",
    "KGError",
    "KnowledgeGraph",
    "Recipe",
    "TaskGraph",
    "build_graph",
    "load_graph",
    "load_vocabulary",
]
