"""The trainer's data: this worker's share of the training batches, positioned at any iteration.

The data layer's batch sampler is an infinite, explicitly seeded stream of ``(index, flip)`` lists,
so batch k is a function of the seed alone. Resuming at iteration k advances that index stream by
k batches (no image is read) and loads from there.
"""

from __future__ import annotations

import itertools

from torch.utils.data import DataLoader, Sampler

from ktn_model.data.loader import SkippingLoader, build_train_loader
from ktn_model.engine import distributed as comm


class _SkipBatches(Sampler):
    """A batch sampler without its first ``count`` batches."""

    def __init__(self, batch_sampler, count: int):
        self.batch_sampler, self.count = batch_sampler, count

    def __iter__(self):
        return itertools.islice(iter(self.batch_sampler), self.count, None)


def fast_forward(loader: SkippingLoader, count: int) -> SkippingLoader:
    """The same loader with its first ``count`` batches dropped before any image is loaded."""
    if count == 0:
        return loader
    inner = loader.loader
    resumed = DataLoader(inner.dataset, batch_sampler=_SkipBatches(inner.batch_sampler, count),
                         num_workers=inner.num_workers, collate_fn=inner.collate_fn, generator=inner.generator)
    return SkippingLoader(resumed, loader.bad)


def train_batches(cfg, start_iter: int) -> SkippingLoader:
    """This worker's training batches (SOLVER.IMS_PER_BATCH / world size images each) from ``start_iter``."""
    loader = build_train_loader(cfg, comm.get_rank(), comm.get_world_size())
    return fast_forward(loader, start_iter)
