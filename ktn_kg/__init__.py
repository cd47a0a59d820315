"""ktn_kg: the commonsense relation knowledge graphs (CRKG) of KTN. Does not import torch."""
