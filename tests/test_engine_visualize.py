"""Pictures: enlargement by an integer factor, the patch legend, score labels that do not overlap."""

import numpy as np
import pytest
import torch
from matplotlib import colormaps

from ktn_model.vis.pictures import LEGEND_WIDTH, enlarge, place_labels, render


def _output(boxes, scores):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32), "scores": torch.tensor(scores),
            "keypoints": torch.tensor([[[2.0, 3.0, 1.0]] * 17] * len(scores))}  # fmt: skip


def test_labels_at_one_corner_are_stacked_one_height_apart():
    corners = np.array([[10.0, 20.0], [10.0, 20.0], [12.0, 25.0], [100.0, 20.0]])
    placed = place_labels(corners, (30.0, 10.0))
    # the 2nd moves one height down; the 3rd overlaps both and moves until clear; the 4th is far away
    np.testing.assert_array_equal(placed, [[10, 20], [10, 30], [12, 45], [100, 20]])


def test_enlarge_repeats_pixels_and_scales_boxes_and_keypoints():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    iuv = image[::-1].copy()
    big_image, big_iuv, out = enlarge(image, iuv, _output([[1.0, 0.5, 2.0, 1.5]], [0.9]), 3)
    assert big_image.shape == (6, 9, 3) and big_iuv.shape == (6, 9, 3)
    np.testing.assert_array_equal(big_image[::3, ::3], image)
    np.testing.assert_array_equal(big_image[2, 8], image[0, 2])
    assert out["boxes"].tolist() == [[3.0, 1.5, 6.0, 4.5]]
    assert out["keypoints"][0, 0].tolist() == [6.0, 9.0, 1.0]  # x, y scaled, visibility kept


@pytest.mark.parametrize(("name", "legend", "size"), [
    ("dp_u", False, (432, 576)),  # (H, W) 144x192 enlarged 3x: the first factor reaching 512 px
    ("dp_segm", True, (432, 576 + LEGEND_WIDTH)),
    ("dp_u", True, (432, 576)),  # only the patch picture has a legend
    ("bbox", False, (144, 192)),  # long_side 0: the input's size
])  # fmt: skip
def test_render_size(name, legend, size):
    image = np.full((144, 192, 3), 128, np.uint8)
    iuv = np.zeros((144, 192, 3), np.uint8)
    iuv[40:100, 50:90] = (3, 100, 200)
    long_side = 0 if size == (144, 192) else 512
    picture = render(name, image, iuv, _output([[50.0, 40.0, 90.0, 100.0]], [0.93]), long_side=long_side,
                     legend=legend)  # fmt: skip
    assert picture.shape == (*size, 3) and picture.dtype == np.uint8


def test_the_legend_shows_the_patch_colours():
    image = np.zeros((240, 240, 3), np.uint8)
    picture = render("dp_segm", image, np.zeros_like(image), _output([], []), legend=True)
    viridis = colormaps["viridis"]
    for patch in range(1, 25):  # the colour bar spans 4%..96% of the height, patch 1 at the bottom
        row = round(240 * (1 - 0.04 - (patch - 0.5) / 24 * 0.92))
        expected = np.round(np.array(viridis(patch / 24)[:3]) * 255)
        np.testing.assert_allclose(picture[row, 240 + 15], expected, atol=2)
