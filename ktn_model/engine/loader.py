"""The trainer's data: this worker's share of the training batches, positioned at any iteration.

The data layer's batch sampler is an infinite, explicitly seeded stream of ``(index, flip)`` lists,
so batch k is a function of the seed alone; a run resumed at iteration k starts the stream there.
"""

from __future__ import annotations

from ktn_model.data.loader import SkippingLoader, build_train_loader
from ktn_model.engine import distributed as comm


def train_batches(cfg, start_iter: int) -> SkippingLoader:
    """This worker's training batches (SOLVER.IMS_PER_BATCH / world size images each) from ``start_iter``."""
    return build_train_loader(cfg, comm.get_rank(), comm.get_world_size(), start_iter=start_iter)
