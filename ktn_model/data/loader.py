"""Training and test data loaders (worker processes, sharding, random flip, bad-image skipping).

Batches are ``(list of (3, H, W) images, list of target dicts)`` (CONTRIBUTING's interface). The
batch sampler runs in the main process and decides both the images and their flips from an
explicitly seeded generator, so a run is reproducible whatever the number of workers. An image
that cannot be read is dropped from its batch, reported by ONE warning naming it, and never drawn
again.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Sampler

from ktn_model.data.catalog import DatasetSpec, build_dataset, resolve
from ktn_model.data.dataset import ImageReadError, read_image
from ktn_model.data.pseudo_labels import attach_pseudo_labels
from ktn_model.data.transforms import UVSymmetry, build_uv_symmetry, hflip

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Skipped:
    """Placeholder for a sample whose image could not be read."""

    index: int
    reason: str


class FlipView(Dataset):
    """Wraps a dataset so that ``view[(index, flip)]`` is the (optionally flipped) sample or ``Skipped``."""

    def __init__(self, dataset: Dataset, sym: UVSymmetry | None):
        self.dataset, self.sym = dataset, sym

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, bool]):
        index, flip = key
        try:
            image, target = self.dataset[index]
        except ImageReadError as e:
            return Skipped(index, str(e))
        if flip and self.sym is not None:
            return hflip(image, target, self.sym)
        return image, target


def _split(batch: list) -> tuple[list, list, list[Skipped]]:
    samples = [b for b in batch if not isinstance(b, Skipped)]
    return [s[0] for s in samples], [s[1] for s in samples], [b for b in batch if isinstance(b, Skipped)]


def collate(batch: list) -> tuple[list[torch.Tensor], list[dict]]:
    """(list of images, list of targets); unreadable samples are dropped."""
    images, targets, _ = _split(batch)
    return images, targets


class TrainBatchSampler(Sampler):
    """Infinite batches of ``(index, flip)`` for one rank.

    Every epoch draws one permutation from ``torch.Generator().manual_seed(seed)`` (the same on every
    rank) and rank r takes positions r, r + world_size, ...; flips are Bernoulli(0.5) when enabled.
    With ``groups`` (one aspect group id per image), a batch holds images of one group only.
    Indices in ``bad`` (filled by the loader) are never drawn again. The stream starts at batch
    ``start`` (a resumed run), so batch k depends on the seed alone.
    """

    def __init__(self, groups: list[int], batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 flip: bool = False, bad: set[int] | None = None, start: int = 0):  # fmt: skip
        self.groups, self.batch_size, self.seed = groups, batch_size, seed
        self.rank, self.world_size, self.flip = rank, world_size, flip
        self.bad = bad if bad is not None else set()
        self.start = start

    def __iter__(self) -> Iterator[list[tuple[int, bool]]]:
        return itertools.islice(self._batches(), self.start, None)

    def _batches(self) -> Iterator[list[tuple[int, bool]]]:
        gen = torch.Generator().manual_seed(self.seed)
        buckets: dict[int, list] = {}
        n = len(self.groups)
        while True:
            order = torch.randperm(n, generator=gen)[self.rank :: self.world_size].tolist()
            flips = (torch.rand(n, generator=gen) < 0.5)[self.rank :: self.world_size].tolist()
            if all(i in self.bad for i in order):
                raise ImageReadError(f"none of the {len(order)} training images of rank {self.rank} can be read")
            for index, flip in zip(order, flips, strict=True):
                if index in self.bad:
                    continue
                bucket = buckets.setdefault(self.groups[index], [])
                bucket.append((index, flip and self.flip))
                if len(bucket) == self.batch_size:
                    yield bucket[:]
                    bucket.clear()


class SkippingLoader:
    """Iterates a ``DataLoader`` of ``FlipView`` samples, yielding (images, targets) and warning once
    per unreadable image (whose index is then added to ``bad``)."""

    def __init__(self, loader: DataLoader, bad: set[int]):
        self.loader, self.bad = loader, bad
        self.dataset = loader.dataset.dataset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[list[torch.Tensor], list[dict]]]:
        for images, targets, skipped in self.loader:
            for item in skipped:
                if item.index not in self.bad:
                    self.bad.add(item.index)
                    logger.warning("skipping unreadable image: %s", item.reason)
            if images:
                yield images, targets


def _loader(dataset: Dataset, sym, batch_sampler, num_workers: int, seed: int, bad: set[int]) -> SkippingLoader:
    loader = DataLoader(FlipView(dataset, sym), batch_sampler=batch_sampler, num_workers=num_workers,
                        collate_fn=_split, generator=torch.Generator().manual_seed(seed))  # fmt: skip
    return SkippingLoader(loader, bad)


def build_train_dataset(cfg) -> ConcatDataset:
    """All ``DATASETS.TRAIN`` sets, training-filtered (the image filter of ``docs/usage.md``), in order, with the
    pseudo-labels of ``DATASETS.TRAIN_PSEUDO_LABELS`` (checked against them) when there are some."""
    return ConcatDataset(attach_pseudo_labels([build_dataset(resolve(name, cfg.DATASETS.ROOT), train=True)
                                               for name in cfg.DATASETS.TRAIN], list(cfg.DATASETS.TRAIN),
                                              list(cfg.DATASETS.TRAIN_PSEUDO_LABELS)))  # fmt: skip


def check_readable(dataset: ConcatDataset) -> None:
    """Read images in order until one works; ``ImageReadError`` naming the first failure when none does.

    Usually one image is read. It turns a wrong image folder into one line before training starts,
    instead of one warning per image and an error once every image has been tried.
    """
    first_error = None
    for records in (d.records for d in dataset.datasets):
        for rec in records:
            try:
                read_image(rec.file_name, rec.height, rec.width)
                return
            except ImageReadError as e:
                first_error = first_error or e
    raise ImageReadError(f"none of the {len(dataset)} training images can be read (first: {first_error})")


def build_train_loader(cfg, rank: int = 0, world_size: int = 1, seed: int | None = None,
                       start_iter: int = 0) -> SkippingLoader:  # fmt: skip
    """Infinite training batches of ``SOLVER.IMS_PER_BATCH // world_size`` images for ``rank``,
    from batch ``start_iter`` on (no image of the skipped batches is read).

    Seeded by ``seed`` (default ``cfg.SEED``); ``DATALOADER.NUM_WORKERS`` worker processes;
    random horizontal flip when ``INPUT.HFLIP_TRAIN`` and ``INPUT.UV_SYMMETRY_FILE`` are set.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"bad rank {rank} for world size {world_size}")
    batch_size = cfg.SOLVER.IMS_PER_BATCH // world_size
    if batch_size < 1 or cfg.SOLVER.IMS_PER_BATCH % world_size:
        raise ValueError(f"SOLVER.IMS_PER_BATCH={cfg.SOLVER.IMS_PER_BATCH} is not a positive multiple of "
                         f"the {world_size} processes")  # fmt: skip
    seed = cfg.SEED if seed is None else seed
    dataset = build_train_dataset(cfg)
    if len(dataset) == 0:
        raise ValueError(f"no training images left after filtering in {list(cfg.DATASETS.TRAIN)}")
    check_readable(dataset)
    records = [r for d in dataset.datasets for r in d.records]
    groups = [int(r.width >= r.height) if cfg.DATALOADER.ASPECT_RATIO_GROUPING else 0 for r in records]
    sym = build_uv_symmetry(cfg)
    bad: set[int] = set()
    sampler = TrainBatchSampler(groups, batch_size, seed, rank, world_size, flip=sym is not None, bad=bad,
                               start=start_iter)
    return _loader(dataset, sym, sampler, cfg.DATALOADER.NUM_WORKERS, seed, bad)


def build_test_loader(cfg, dataset_spec: str | DatasetSpec, batch_size: int = 1) -> SkippingLoader:
    """Every image of one test set, in image-id order, unflipped; ``loader.dataset`` is the dataset its
    format built (its ``spec.json_file`` is the ground truth for evaluation)."""
    spec = dataset_spec if isinstance(dataset_spec, DatasetSpec) else resolve(dataset_spec, cfg.DATASETS.ROOT)
    dataset = build_dataset(spec, train=False)
    keys = [(i, False) for i in range(len(dataset))]
    batches = [keys[i : i + batch_size] for i in range(0, len(keys), batch_size)]
    return _loader(dataset, None, batches, cfg.DATALOADER.NUM_WORKERS, cfg.SEED, set())
