"""DensePose RoI selection, point sampling, S resampling and the losses.

See docs/method.md, "Training RoIs and targets" and "Losses".
"""

import pytest
import torch

from ktn_model.modeling.losses.chart import DensePoseChartLoss, DensePoseLossWeights
from ktn_model.modeling.losses.ktn import KTNLoss
from ktn_model.modeling.losses.sampling import (
    DensePoseRoIs,
    bilinear_sample,
    point_samples,
    resample_masks,
    select_densepose_rois,
    uv_loss_scale,
)
from ktn_model.modeling.structures import KTNOutput


def densepose_losses(out, rois, targets, weights):
    return KTNLoss(weights)(out, rois, targets)

GT = torch.tensor([[0.0, 0.0, 256.0, 256.0]])
PROPOSAL = torch.tensor([[0.0, 0.0, 128.0, 128.0]])  # grid coordinate g = 0.875 · dp_x


def test_point_sampling_equals_hand_computed_bilinear():
    maps = torch.randn(1, 3, 112, 112)
    # (dp_x, dp_y) = (2, 12) -> g = (1.75, 10.5); (200, 5) lies outside the proposal and is dropped
    points = torch.tensor([[2.0, 12.0, 3.0, 0.25, 0.75], [200.0, 5.0, 1.0, 0.5, 0.5]])
    s = point_samples([points], GT, PROPOSAL)
    assert s.roi.tolist() == [0] and s.I.tolist() == [3]
    assert (s.x_lo.item(), s.x_hi.item(), s.y_lo.item(), s.y_hi.item()) == (1, 2, 10, 11)
    assert (s.w_x.item(), s.w_y.item()) == (0.75, 0.5)
    m = maps[0]
    expected = (0.25 * 0.5 * m[:, 10, 1] + 0.75 * 0.5 * m[:, 10, 2]
                + 0.25 * 0.5 * m[:, 11, 1] + 0.75 * 0.5 * m[:, 11, 2])
    assert torch.allclose(bilinear_sample(maps, s)[0], expected, atol=1e-6)


def test_point_sampling_clamps_at_the_last_row_and_column():
    maps = torch.randn(1, 1, 112, 112)
    s = point_samples([torch.tensor([[127.5, 127.5, 1.0, 0.0, 0.0]])], GT, PROPOSAL)  # g = 111.5625
    assert (s.x_lo.item(), s.x_hi.item(), s.w_x.item()) == (111, 111, 0.0)
    assert bilinear_sample(maps, s)[0, 0] == maps[0, 0, 111, 111]


@pytest.mark.parametrize(("height", "kept"), [(64.0, False), (66.0, True)])
def test_densepose_rois_need_iou_above_0_65(height, kept):
    gt = torch.tensor([[0.0, 0.0, 100.0, 100.0]])
    proposals = torch.tensor([[0.0, 0.0, 100.0, height]])  # IoU = height / 100
    rois = select_densepose_rois(proposals, torch.tensor([0]), torch.tensor([1]), gt, torch.tensor([True]))
    assert len(rois.boxes) == int(kept)


def test_densepose_rois_need_foreground_and_a_densepose_annotation():
    gt = torch.tensor([[0.0, 0.0, 100.0, 100.0], [200.0, 0.0, 300.0, 100.0]])
    proposals = torch.cat([gt, gt])
    rois = select_densepose_rois(proposals, torch.tensor([0, 1, 0, 1]), torch.tensor([1, 1, 0, 0]), gt,
                                 torch.tensor([False, True]))
    assert rois.gt.tolist() == [1] and torch.equal(rois.boxes, gt[1:])
    capped = select_densepose_rois(proposals, torch.tensor([0, 1, 0, 1]), torch.ones(4, dtype=torch.long), gt,
                                   torch.tensor([True, True]), max_rois=3)
    assert len(capped.boxes) == 3


def test_resample_masks_into_the_proposal_frame():
    s_gt = torch.ones(1, 256, 256, dtype=torch.uint8)
    s_gt[:, :, 128:] = 2
    gt = torch.tensor([[10.0, 20.0, 110.0, 220.0]])
    left_half = torch.tensor([[10.0, 20.0, 60.0, 220.0]])
    assert torch.equal(resample_masks(s_gt, gt, left_half), torch.ones(1, 112, 112, dtype=torch.long))
    same = resample_masks(s_gt, gt, gt)
    assert same[0, :, :56].eq(1).all() and same[0, :, 57:].eq(2).all()
    outside = torch.tensor([[-90.0, 20.0, 10.0, 220.0]])
    assert torch.count_nonzero(resample_masks(s_gt, gt, outside)) == 0


def _synthetic_batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    boxes = torch.tensor([[10.0, 10.0, 90.0, 170.0], [100.0, 20.0, 180.0, 150.0]])
    points = [torch.cat([torch.rand(30, 2, generator=g) * 255, torch.randint(1, 25, (30, 1), generator=g).float(),
                         torch.rand(30, 2, generator=g)], dim=1) for _ in range(2)]
    keypoints = torch.cat([boxes[:, None, :2] + torch.rand(2, 17, 2, generator=g) * 60, torch.full((2, 17, 1), 2.0)],
                          dim=2)
    target = {"boxes": boxes, "keypoints": keypoints, "dp_points": points,
              "dp_masks": torch.randint(0, 15, (2, 256, 256), generator=g, dtype=torch.uint8)}
    rois = DensePoseRoIs(boxes + torch.tensor([2.0, -3.0, 4.0, 1.0]), torch.tensor([0, 1]))
    channels = (2, 25, 25, 25, 15, 17)
    out = KTNOutput(*(torch.randn(2, c, 56, 56, generator=g, requires_grad=True) for c in channels))
    return out, [rois], [target]


def test_each_loss_is_finite_and_positive_on_a_synthetic_batch():
    out, rois, targets = _synthetic_batch()
    losses = densepose_losses(out, rois, targets, DensePoseLossWeights())
    assert sorted(losses) == sorted(f"loss_densepose_{n}" for n in "UVISM") + ["loss_keypoint"]
    for name, value in losses.items():
        assert torch.isfinite(value) and value > 0, name
    sum(losses.values()).backward()
    assert all(t.grad.abs().sum() > 0 for t in (out.M, out.I, out.U, out.V, out.S, out.K))


def test_loss_weights_scale_the_terms():
    out, rois, targets = _synthetic_batch()
    base = densepose_losses(out, rois, targets, DensePoseLossWeights(1.0, 1.0, 1.0, 1.0, 1.0))
    weighted = densepose_losses(out, rois, targets, DensePoseLossWeights())
    for name, w in (("U", 0.01), ("V", 0.01), ("I", 1.0), ("S", 2.0), ("M", 5.0)):
        assert torch.allclose(weighted[f"loss_densepose_{name}"], w * base[f"loss_densepose_{name}"])
    assert torch.allclose(weighted["loss_keypoint"], 0.1 * base["loss_keypoint"])


def test_rois_without_points_give_zero_densepose_losses_with_gradient():
    out, rois, targets = _synthetic_batch()
    targets[0]["dp_points"] = [torch.zeros(0, 5), torch.zeros(0, 5)]
    losses = densepose_losses(out, rois, targets, DensePoseLossWeights())
    assert all(losses[f"loss_densepose_{n}"].item() == 0.0 for n in "UVISM")
    assert losses["loss_keypoint"] > 0
    sum(losses.values()).backward()
    assert out.M.grad is not None


def _per_image(out, rois, targets):
    """The one-image, two-person batch of ``_synthetic_batch`` as two one-person images (one RoI each)."""
    target = targets[0]
    images = [{**{k: target[k][i : i + 1] for k in ("boxes", "keypoints", "dp_masks")},
               "dp_points": [target["dp_points"][i]]} for i in range(2)]  # fmt: skip
    image_rois = [DensePoseRoIs(rois[0].boxes[i : i + 1], torch.tensor([0])) for i in range(2)]
    return images, image_rois


def test_uv_losses_of_a_batch_are_the_mean_of_its_per_process_shares():
    # DDP averages gradients over processes: the 2-image batch on one process must give the mean of the
    # two 1-image shares (two processes), and U/V are 0.01 x 4 x (sum over points) / images.
    out, rois, targets = _synthetic_batch()
    images, image_rois = _per_image(out, rois, targets)
    w = DensePoseLossWeights()
    whole = densepose_losses(out, image_rois, images, w)
    shares = [densepose_losses(out[i], [image_rois[i]], [images[i]], w)
              for i in range(2)]  # fmt: skip
    unit = [densepose_losses(out[i], [image_rois[i]], [images[i]],
                             DensePoseLossWeights(uv=1.0)) for i in range(2)]  # fmt: skip
    for name in ("loss_densepose_U", "loss_densepose_V"):
        mean = (shares[0][name] + shares[1][name]) / 2
        torch.testing.assert_close(whole[name], mean, rtol=1e-6, atol=0)
        sums = [u[name] / 4 for u in unit]  # uv_loss_scale(1) = 4: the plain smooth-L1 sums of each image
        torch.testing.assert_close(whole[name], 0.01 * 4 * (sums[0] + sums[1]) / 2, rtol=1e-6, atol=0)


@pytest.mark.parametrize(("processes", "images_each"), [(1, 16), (2, 8), (4, 4), (8, 2), (16, 1)])
def test_effective_uv_weight_of_a_16_image_batch_is_the_released_one(processes, images_each):
    # effective weight per point = weight x scale / processes (DDP's mean); the release: 0.01 x 1 / 4
    assert 0.01 * uv_loss_scale(images_each) / processes == pytest.approx(0.01 / 4, rel=1e-12)
    assert uv_loss_scale(4) == 1.0


def test_chart_loss_is_the_ktn_loss_without_s_and_k():
    out, rois, targets = _synthetic_batch()
    ktn = KTNLoss()(out, rois, targets)
    chart = DensePoseChartLoss()(out, rois, targets)
    assert list(chart) == [f"loss_densepose_{n}" for n in "UVIM"]
    for name, value in chart.items():
        assert torch.equal(value, ktn[name]), name
