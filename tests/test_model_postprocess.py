"""Inference IUV arrays (spec §6.3)."""

import torch

from ktn_model.evaluation import to_coco_results
from ktn_model.modeling.postprocess import box_size, densepose_results, iuv_array


def test_box_size_truncates_and_is_at_least_one():
    assert box_size(torch.tensor([10.7, 5.2, 50.1, 5.9])) == (1, 39)
    assert box_size(torch.tensor([0.0, 0.0, 0.5, 20.99])) == (20, 1)


def test_box_size_subtracts_in_the_box_dtype_like_the_results():
    # float32: 83.222107 - 13.222109 rounds to 70.0; in float64 it is 69.9999981, which int() makes 69
    box = torch.tensor([13.222108840942383, 0.0, 83.22210693359375, 10.0], dtype=torch.float32)
    assert box_size(box) == (10, 70)
    iuv = torch.zeros(3, 10, 70, dtype=torch.uint8)
    output = {"boxes": box[None], "scores": torch.tensor([0.9]), "densepose": [iuv]}
    assert to_coco_results(1, output)[0]["densepose"][0][0] == [3, 10, 70]


def test_iuv_array_hand_example():
    m = torch.zeros(2, 4, 4)
    m[1] = torch.log(torch.tensor(0.4 / 0.6))  # p_fg = 0.4 > 0.3: foreground although argmax is background
    m[1, 3] = torch.log(torch.tensor(0.2 / 0.8))  # bottom row p_fg = 0.2: background
    i = torch.zeros(25, 4, 4)
    i[3, :, :2] = 5.0  # left half: part 3; right half: surface 0 (background) wins
    u = torch.full((25, 4, 4), 0.5)
    v = torch.full((25, 4, 4), 2.0)
    u[3, 0, 0] = -1.0
    out = iuv_array(m, i, u, v, (4, 4))
    assert out.dtype == torch.uint8 and out.shape == (3, 4, 4)
    assert out[0].tolist() == [[3, 3, 0, 0]] * 3 + [[0, 0, 0, 0]]
    assert out[1].tolist() == [[0, 127, 0, 0]] + [[127, 127, 0, 0]] * 2 + [[0, 0, 0, 0]]
    assert out[2].tolist() == [[255, 255, 0, 0]] * 3 + [[0, 0, 0, 0]]


def test_densepose_results_are_at_box_size():
    boxes = torch.tensor([[3.5, 4.0, 40.9, 20.2], [0.0, 0.0, 0.3, 0.3]])
    maps = [torch.randn(2, c, 8, 8) for c in (2, 25, 25, 25)]
    results = densepose_results(*maps, boxes)
    assert [tuple(r.shape) for r in results] == [(3, 16, 37), (3, 1, 1)]
