"""Post-processing: chart results at box size, the IUV encoding, detectron2's rescale, the typed output."""

import torch

from ktn_model.evaluation import to_coco_results
from ktn_model.modeling.postprocess import DensePosePostProcess, box_size, chart_result, rescale_detections
from ktn_model.modeling.structures import DensePoseOutput, KTNOutput


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


def _hand_maps():
    m = torch.zeros(2, 4, 4)
    m[1] = torch.log(torch.tensor(0.4 / 0.6))  # p_fg = 0.4 > 0.3: foreground although argmax is background
    m[1, 3] = torch.log(torch.tensor(0.2 / 0.8))  # bottom row p_fg = 0.2: background
    i = torch.zeros(25, 4, 4)
    i[3, :, :2] = 5.0  # left half: part 3; right half: surface 0 (background) wins
    u = torch.full((25, 4, 4), 0.5)
    v = torch.full((25, 4, 4), 2.0)
    u[3, 0, 0] = -1.0
    return DensePoseOutput(m[None], i[None], u[None], v[None])


def test_chart_result_and_iuv_hand_example():
    result = chart_result(_hand_maps(), (4, 4))
    assert result.labels.dtype == torch.uint8
    assert result.labels.tolist() == [[3, 3, 0, 0]] * 3 + [[0, 0, 0, 0]]
    assert result.uv[0].tolist() == [[-1.0, 0.5, 0, 0]] + [[0.5, 0.5, 0, 0]] * 2 + [[0, 0, 0, 0]]
    out = result.iuv()
    assert out.dtype.name == "uint8" and out.shape == (3, 4, 4)
    assert out[0].tolist() == [[3, 3, 0, 0]] * 3 + [[0, 0, 0, 0]]
    assert out[1].tolist() == [[0, 127, 0, 0]] + [[127, 127, 0, 0]] * 2 + [[0, 0, 0, 0]]
    assert out[2].tolist() == [[255, 255, 0, 0]] * 3 + [[0, 0, 0, 0]]


def test_threshold_half_is_detectron2_argmax():
    # at 0.5 the coarse mask is argmax(M) = 1, so p_fg = 0.4 is background everywhere
    assert chart_result(_hand_maps(), (4, 4), fg_threshold=0.5).labels.sum() == 0


def test_upsampling_to_a_box_larger_than_the_maps_is_bilinear():
    out = DensePoseOutput(torch.tensor([[[[0.0, 0.0]], [[5.0, 5.0]]]]).expand(1, 2, 2, 2),
                          torch.zeros(1, 25, 2, 2).index_fill_(1, torch.tensor([7]), 9.0),
                          torch.tensor([0.0, 1.0]).repeat(1, 25, 2, 1), torch.zeros(1, 25, 2, 2))
    result = chart_result(out, (2, 4))
    assert (result.labels == 7).all()
    # 2 -> 4 columns, align_corners=False: samples at x = -0.25, 0.25, 0.75, 1.25 -> clamped, then 0.25, 0.75
    assert result.uv[0, 0].tolist() == [0.0, 0.25, 0.75, 1.0]


def test_rescale_scales_clips_and_drops_empty_boxes_like_detectron2():
    det = {"boxes": torch.tensor([[10.0, 20.0, 810.0, 400.0], [799.5, 0.0, 800.0, 5.0], [800.0, 0.0, 800.0, 5.0]]),
           "scores": torch.tensor([0.9, 0.8, 0.7]), "labels": torch.ones(3, dtype=torch.int64),
           "keypoints": torch.tensor([[[100.0, 200.0, 1.0]]]).repeat(3, 1, 1)}
    out = rescale_detections(det, (800, 800), (512, 512))
    f = torch.tensor(0.64)  # float32(512 / 800), the factor detectron2 multiplies float32 boxes by
    assert out["boxes"].tolist() == [[(10 * f).item(), (20 * f).item(), 512.0, (400 * f).item()],
                                     [(799.5 * f).item(), 0.0, 512.0, (5 * f).item()]]
    assert out["scores"].tolist() == [0.8999999761581421, 0.800000011920929]
    assert out["keypoints"][0, 0].tolist() == [64.0, 128.0, 1.0]


def test_postprocess_makes_one_result_per_kept_detection_at_box_size():
    raw = DensePoseOutput(*(torch.randn(2, c, 8, 8) for c in (2, 25, 25, 25)))
    det = {"boxes": torch.tensor([[3.5, 4.0, 40.9, 20.2], [0.0, 0.0, 0.3, 0.3]]), "scores": torch.tensor([0.9, 0.5]),
           "labels": torch.ones(2, dtype=torch.int64), "densepose": raw}
    (out,) = DensePosePostProcess()([det], [(100, 100)], [(100, 100)])
    assert [tuple(r.labels.shape) for r in out["densepose"]] == [(16, 37), (1, 1)]
    assert [tuple(r.uv.shape) for r in out["densepose"]] == [(2, 16, 37), (2, 1, 1)]


def test_densepose_output_indexing_split_and_to():
    out = KTNOutput(*(torch.arange(5.0).view(5, 1, 1, 1).expand(5, c, 2, 2) for c in (2, 25, 25, 25, 15, 17)))
    assert len(out) == 5 and len(out[2]) == 1 and out[2].K.shape == (1, 17, 2, 2)
    parts = out.split([2, 0, 3])
    assert [len(p) for p in parts] == [2, 0, 3] and parts[2].S[:, 0, 0, 0].tolist() == [2.0, 3.0, 4.0]
    assert out[torch.tensor([True, False, False, False, True])].M[:, 0, 0, 0].tolist() == [0.0, 4.0]
    assert not hasattr(DensePoseOutput(out.M, out.I, out.U, out.V).to("cpu"), "K")
