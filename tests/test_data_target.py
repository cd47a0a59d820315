"""Annotation -> training target (CONTRIBUTING's dataset interface) and the image filter.

See docs/densepose_format.md, "Training targets".
"""

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch

from ktn_model.data.dataset import ImageRecord, annotations_to_target, keep_for_training
from ktn_model.data.part_masks import decode_part_masks


def _compressed(mask):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [256, 256], "counts": rle["counts"].decode()}


def _uncompressed(mask):
    """COCO uncompressed RLE: run lengths of the column-major mask, starting with a run of zeros."""
    flat = mask.ravel(order="F").astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    return {"size": [256, 256], "counts": np.diff(np.concatenate([[0], edges])).tolist()}


def _masks():
    torso = np.zeros((256, 256), bool)
    torso[0:128, :] = True
    head = np.zeros((256, 256), bool)
    head[100:151, 50:101] = True
    hand = np.zeros((256, 256), bool)
    hand[120:130, 0:10] = True  # painted before the torso? no: part 2 after 1, overwrites it
    entries = [[] for _ in range(14)]
    entries[0], entries[1], entries[13] = _compressed(torso), _compressed(hand), _uncompressed(head)
    expected = np.zeros((256, 256), np.uint8)
    expected[torso], expected[hand], expected[head] = 1, 2, 14
    return entries, expected


def _annotations():
    entries, _ = _masks()
    kpts = [0] * 51
    kpts[0:3] = [12, 25, 2]  # nose
    kpts[15:18] = [30, 40, 1]  # left shoulder
    dense = {"id": 1, "iscrowd": 0, "category_id": 1, "bbox": [10, 20, 30, 40], "keypoints": kpts,
             "dp_x": [0.5, 128.0, 255.5], "dp_y": [10.0, 20.0, 30.0], "dp_I": [1.0, 14.0, 24.0],
             "dp_U": [0.1, 0.2, 0.3], "dp_V": [0.9, 0.8, 0.7], "dp_masks": entries}  # fmt: skip
    crowd = {"id": 2, "iscrowd": 1, "category_id": 1, "bbox": [0, 0, 50, 50]}
    plain = {"id": 3, "iscrowd": 0, "category_id": 1, "bbox": [90, 70, 20, 20], "keypoints": [0] * 51}
    empty = {"id": 4, "iscrowd": 0, "category_id": 1, "bbox": [5, 5, 0, 10]}
    return [dense, crowd, plain, empty]


def test_part_masks_painted_in_order():
    entries, expected = _masks()
    labels = decode_part_masks(entries)
    assert labels.dtype == np.uint8 and np.array_equal(labels, expected)
    assert set(np.unique(labels)) == {0, 1, 2, 14}


def test_target_of_hand_made_annotations():
    target = annotations_to_target(_annotations(), image_id=7, height=80, width=100)
    assert target["image_id"].dtype == torch.int64 and int(target["image_id"]) == 7
    # crowd and empty box dropped; the last box clipped to the 100x80 image
    assert torch.equal(target["boxes"], torch.tensor([[10.0, 20.0, 40.0, 60.0], [90.0, 70.0, 100.0, 80.0]]))
    assert target["boxes"].dtype == torch.float32 and torch.equal(target["labels"], torch.tensor([1, 1]))
    kpts = target["keypoints"]
    assert kpts.shape == (2, 17, 3) and kpts.dtype == torch.float32
    assert kpts[0, 0].tolist() == [12.5, 25.5, 2.0] and kpts[0, 5].tolist() == [30.5, 40.5, 1.0]
    assert kpts[0, 1].tolist() == [0.5, 0.5, 0.0]  # +0.5 on every entry, like detectron2
    assert target["dp_valid"].tolist() == [True, False]
    points = target["dp_points"]
    expected = torch.tensor([[0.5, 10.0, 1, 0.1, 0.9], [128.0, 20.0, 14, 0.2, 0.8], [255.5, 30.0, 24, 0.3, 0.7]])
    assert torch.equal(points[0], expected) and points[1].shape == (0, 5)
    _, labels = _masks()
    assert target["dp_masks"].dtype == torch.uint8 and target["dp_masks"].shape == (2, 256, 256)
    assert np.array_equal(target["dp_masks"][0].numpy(), labels) and int(target["dp_masks"][1].sum()) == 0


def test_no_person_gives_empty_shapes():
    target = annotations_to_target([_annotations()[1]], image_id=1, height=80, width=100)
    assert target["boxes"].shape == (0, 4) and target["keypoints"].shape == (0, 17, 3)
    assert target["dp_masks"].shape == (0, 256, 256) and target["dp_valid"].shape == (0,)


def test_ignore_flag_is_rejected():
    with pytest.raises(ValueError, match="annotation 9"):
        annotations_to_target([{"id": 9, "bbox": [0, 0, 5, 5], "ignore": 1}], 1, 10, 10)


@pytest.mark.parametrize(
    ("anns", "kept"),
    [
        ([], False),
        ([{"iscrowd": 1, "bbox": [0, 0, 5, 5], "segmentation": {}}], False),
        ([{"bbox": [0, 0, 5, 5], "keypoints": [1, 1, 0] * 16 + [3, 3, 1]}], True),
        ([{"bbox": [0, 0, 5, 5], "keypoints": [0] * 51, "dp_x": [], "dp_y": [], "dp_I": [], "dp_U": [],
           "dp_V": [], "segmentation": [[0, 0, 1, 0, 1, 1]]}], True),  # fmt: skip
        ([{"bbox": [0, 0, 5, 5], "dp_x": [], "dp_y": [], "dp_I": [], "dp_U": [], "dp_V": []}], False),
    ],
)
def test_training_image_filter(anns, kept):
    assert keep_for_training(ImageRecord(1, "x.png", 10, 10, anns)) is kept
