"""Result encoding: base64 PNG round trip and the official result dicts (docs/densepose_format.md)."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from ktn_model.data.catalog import resolve
from ktn_model.data.dataset import DensePoseCocoDataset
from ktn_model.evaluation import decode_iuv, encode_iuv, to_coco_results


def random_iuv(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    iuv = rng.integers(0, 256, (3, h, w), dtype=np.uint8)
    iuv[0] = rng.integers(0, 25, (h, w))
    return iuv


@pytest.mark.parametrize(("h", "w"), [(1, 1), (7, 3), (64, 41)])
def test_encode_decode_round_trip(h, w):
    iuv = random_iuv(h, w, seed=h * w)
    text = encode_iuv(iuv)
    np.testing.assert_array_equal(decode_iuv(text), iuv)
    assert decode_iuv(text).dtype == np.uint8


def test_encoding_is_a_mime_base64_rgb_png_with_channels_last():
    iuv = random_iuv(40, 30)
    text = encode_iuv(iuv)
    assert all(len(line) <= 76 for line in text.splitlines()) and text.endswith("\n")
    with Image.open(io.BytesIO(base64.b64decode(text))) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGB", (30, 40))
        np.testing.assert_array_equal(np.asarray(image), np.moveaxis(iuv, 0, -1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not base64!", "not valid base64"),
        (base64.encodebytes(b"definitely not a png").decode(), "not a readable PNG"),
    ],
)
def test_decode_errors(text, message):
    with pytest.raises(ValueError, match=message):
        decode_iuv(text)


def test_encode_rejects_wrong_layout():
    with pytest.raises(ValueError, match=r"shape \(3, H, W\)"):
        encode_iuv(np.zeros((4, 5, 3), dtype=np.uint8))


def test_to_coco_results_from_model_output_tensors():
    boxes = torch.tensor([[10.5, 20.25, 40.75, 60.5], [0.0, 0.0, 0.5, 3.0]])
    iuvs = [torch.from_numpy(random_iuv(40, 30)), torch.from_numpy(random_iuv(3, 1))]
    keypoints = torch.arange(2 * 17 * 3, dtype=torch.float32).reshape(2, 17, 3)
    output = {"boxes": boxes, "scores": torch.tensor([0.9, 0.1]), "densepose": iuvs, "keypoints": keypoints}
    results = json.loads(json.dumps(to_coco_results(7, output)))
    assert [r["bbox"] for r in results] == [[10.5, 20.25, 30.25, 40.25], [0.0, 0.0, 0.5, 3.0]]
    first = results[0]
    assert (first["image_id"], first["category_id"], first["score"]) == (7, 1, pytest.approx(0.9))
    assert first["densepose"][0][0] == [3, 40, 30] and first["densepose"][1] == first["bbox"]
    np.testing.assert_array_equal(decode_iuv(first["densepose"][0][1]), iuvs[0].numpy())
    # x, y lose the training offset of 0.5 (detectron2's COCO evaluator does the same); scores are kept
    assert first["keypoints"] == [v - 0.5 if k % 3 < 2 else v for k, v in enumerate(range(51))]
    assert len(results[1]["keypoints"]) == 51


def test_to_coco_results_without_densepose_or_keypoints():
    empty = {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "keypoints": np.zeros((0, 17, 3)), "densepose": []}
    assert to_coco_results(3, empty) == []
    one = to_coco_results(3, {"boxes": np.array([[1.0, 2.0, 3.0, 4.0]]), "scores": np.array([0.5])})
    assert one == [{"image_id": 3, "category_id": 1, "bbox": [1.0, 2.0, 2.0, 2.0], "score": 0.5}]


def test_to_coco_results_names_a_detection_whose_iuv_does_not_fit():
    output = {
        "boxes": np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 30.0, 40.0]], dtype=np.float32),
        "scores": np.array([0.9, 0.8]),
        "densepose": [random_iuv(10, 10), random_iuv(30, 40)],
    }
    with pytest.raises(ValueError, match=r"detection 1 \(image id 5\): IUV shape \(3, 30, 40\) does not fit"):
        to_coco_results(5, output)


def test_keypoints_of_the_training_targets_come_back_as_the_annotated_pixel_indices(synth_dir):
    # the dataset adds 0.5 to the annotated x, y; a model predicting the targets exactly must write the
    # annotation's numbers (else keypoint AP is biased by half a pixel)
    dataset = DensePoseCocoDataset(resolve(f"{synth_dir}/annotations.json:{synth_dir}/images"))
    annotations = json.loads((synth_dir / "annotations.json").read_text())["annotations"]
    _, target = dataset[0]
    image_id = int(target["image_id"])
    mine = [a for a in annotations if a["image_id"] == image_id and not a["iscrowd"]]
    assert len(mine) == len(target["boxes"]) >= 1
    predicted = target["keypoints"].clone()
    predicted[..., 2] = 1.0  # a score in place of the visibility flag
    output = {"boxes": target["boxes"], "scores": torch.ones(len(mine)), "keypoints": predicted}
    for result, ann in zip(to_coco_results(image_id, output), mine, strict=True):
        assert result["keypoints"][0::3] == ann["keypoints"][0::3]
        assert result["keypoints"][1::3] == ann["keypoints"][1::3]
