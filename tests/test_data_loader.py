"""Train/test loaders: interface shapes, seeded sharded sampling, unreadable images skipped once."""

import logging
import shutil

import pytest
import torch
from conftest import SYNTH_IMAGES

from ktn_model.config import get_cfg
from ktn_model.data.dataset import DensePoseCocoDataset, load_coco
from ktn_model.data.loader import TrainBatchSampler, build_test_loader, build_train_loader


@pytest.fixture
def synth(synth_dir):
    return synth_dir


def _cfg(root, **overrides):
    cfg = get_cfg()
    cfg.DATASETS.TRAIN = [f"{root}/annotations.json:{root}/images"]
    cfg.INPUT.UV_SYMMETRY_FILE = str(root / "UV_symmetry_transforms.mat")
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.DATALOADER.NUM_WORKERS = 0
    for key, value in overrides.items():
        section, name = key.split("__")
        cfg[section][name] = value
    return cfg


def test_train_batches_follow_the_interface(synth):
    images, targets = next(iter(build_train_loader(_cfg(synth))))
    assert len(images) == len(targets) == 2
    for image, target in zip(images, targets, strict=True):
        assert image.dtype == torch.float32 and image.shape[0] == 3 and 0 <= image.min() <= image.max() <= 1
        n = target["boxes"].shape[0]
        assert n >= 1 and target["boxes"].dtype == torch.float32 and target["labels"].dtype == torch.int64
        assert target["keypoints"].shape == (n, 17, 3) and target["dp_masks"].shape == (n, 256, 256)
        assert target["dp_valid"].dtype == torch.bool and len(target["dp_points"]) == n
        assert all(p.shape[1] == 5 and p.dtype == torch.float32 for p in target["dp_points"])
        assert target["image_id"].dtype == torch.int64 and target["image_id"].ndim == 0
        # aspect grouping: a batch holds only landscape or only portrait images
    assert len({int(im.shape[2] >= im.shape[1]) for im in images}) == 1


def test_sampler_is_seeded_and_sharded():
    groups = [0] * 10

    def epoch(rank, seed=1):
        it = iter(TrainBatchSampler(groups, 1, seed, rank=rank, world_size=2, flip=True))
        return [next(it)[0] for _ in range(5)]

    first, second = epoch(0), epoch(1)
    assert epoch(0) == first and epoch(0, seed=2) != first
    assert sorted(i for i, _ in first + second) == list(range(10))
    assert {f for _, f in first + second} == {True, False}


def test_sampler_started_at_batch_k_continues_the_same_stream():
    groups = [0, 1, 0, 1, 1, 0, 0]
    straight = iter(TrainBatchSampler(groups, 2, seed=3, flip=True))
    batches = [next(straight) for _ in range(9)]
    resumed = iter(TrainBatchSampler(groups, 2, seed=3, flip=True, start=4))
    assert [next(resumed) for _ in range(5)] == batches[4:]


def test_batch_size_is_split_over_processes(synth):
    loader = build_train_loader(_cfg(synth, SOLVER__IMS_PER_BATCH=4), rank=1, world_size=2)
    assert len(next(iter(loader))[0]) == 2
    with pytest.raises(ValueError, match="IMS_PER_BATCH"):
        build_train_loader(_cfg(synth, SOLVER__IMS_PER_BATCH=3), rank=0, world_size=2)


def test_unreadable_images_are_skipped_with_one_warning_each(synth, tmp_path, caplog):
    root = tmp_path / "broken"
    shutil.copytree(synth, root)
    (root / "images/000001.png").write_bytes(b"\x89PNG garbage")
    (root / "images/000004.png").unlink()
    loader = build_train_loader(_cfg(root, DATALOADER__NUM_WORKERS=2))
    seen = set()
    with caplog.at_level(logging.WARNING, logger="ktn_model.data.loader"):
        batches = iter(loader)
        for _ in range(12):  # several epochs over the 6 images
            _, targets = next(batches)
            seen |= {int(t["image_id"]) for t in targets}
    warnings = [r.getMessage() for r in caplog.records if r.name == "ktn_model.data.loader"]
    assert len(warnings) == 2
    assert any("000001.png" in w for w in warnings) and any("000004.png" in w for w in warnings)
    assert seen == {r.image_id for r in loader.dataset.datasets[0].records} - {2, 5}


def test_test_loader_yields_every_image_once_in_order(synth):
    loader = build_test_loader(_cfg(synth), f"{synth}/annotations.json:{synth}/images")
    ids = [int(t["image_id"]) for _, targets in loader for t in targets]
    assert ids == sorted(load_coco(synth / "annotations.json").getImgIds()) == list(range(1, SYNTH_IMAGES + 1))
    assert isinstance(loader.dataset, DensePoseCocoDataset) and len(loader) == SYNTH_IMAGES
