"""PID-net (docs/other_systems.md, "PID-net"): the semantic-mask target, the instance-aware term, the head and
predictor shapes, the extra dense terms, bad settings, and its presets end to end."""

import math

import pytest
import torch
from preset_runs import make_data, slim_opts, train_evaluate_export

from ktn_model.config import setup_cfg
from ktn_model.data.person_masks import person_union
from ktn_model.modeling import build_model
from ktn_model.modeling.heads.pid import DensePosePIDHead, PIDFeatures
from ktn_model.modeling.losses.pid import PIDLoss, instance_aware_loss, stencil_samples
from ktn_model.modeling.losses.sampling import DensePoseRoIs, point_samples
from ktn_model.modeling.predictors.pid import DensePosePIDPredictor, PIDOutput

SLIM = "configs/pidnet_tiny_cpu.yaml"


def _two_persons() -> dict:
    """Person A: box (0, 0)-(100, 100), body in its top half; person B: box (100, 0)-(200, 100), body in its left
    half; person C (no DensePose) covers both but has no mask."""
    masks = torch.zeros(3, 256, 256, dtype=torch.uint8)
    masks[0, :128] = 3
    masks[1, :, :128] = 7
    return {"boxes": torch.tensor([[0.0, 0.0, 100.0, 100.0], [100.0, 0.0, 200.0, 100.0], [0.0, 0.0, 200.0, 100.0]]),
            "dp_valid": torch.tensor([True, True, False]), "dp_masks": masks}


def test_the_semantic_target_is_the_union_of_the_annotated_persons_masks_cropped_to_the_box():
    # a proposal over both persons, a 2 x 8 grid: cells' top-left corners at x = 0, 25, ..., 175; y = 0, 50
    union = person_union(_two_persons(), torch.tensor([[0.0, 0.0, 200.0, 100.0]]), (2, 8))
    assert union.tolist() == [[[True, True, True, True, True, True, False, False],
                               [False, False, False, False, True, True, False, False]]]
    # a proposal inside person B only sees B's left half; one far away sees nobody
    inside_b = person_union(_two_persons(), torch.tensor([[100.0, 0.0, 200.0, 100.0]]), (1, 4))
    assert inside_b.tolist() == [[[True, True, False, False]]]
    assert not person_union(_two_persons(), torch.tensor([[300.0, 0.0, 400.0, 100.0]]), 4).any()
    no_one = {**_two_persons(), "dp_valid": torch.tensor([False, False, False])}
    assert not person_union(no_one, torch.tensor([[0.0, 0.0, 200.0, 100.0]]), 4).any()


def test_the_instance_aware_term_classifies_the_pooled_logits():
    logits = torch.zeros(2, 2, 4, 4)
    fg = torch.zeros(2, 4, 4, dtype=torch.bool)
    fg[0, :, :2] = True  # RoI 0: left half person
    logits[0, 1, :, 0], logits[0, 1, :, 1] = 2.0, 4.0  # person logit 2 and 4 on the fg -> mean 3
    logits[0, 0, :, 2:] = 1.0  # background logit 1 on the bg -> mean (1, 0)
    fg[1] = True  # RoI 1: all person, no background average
    logits[1, 0] = 0.5  # mean (0.5, 0) classified as person
    expected = (math.log1p(math.exp(-3.0)) + math.log1p(math.exp(-1.0)) + math.log1p(math.exp(0.5))) / 3
    assert instance_aware_loss(logits, fg).item() == pytest.approx(expected, abs=1e-6)
    assert instance_aware_loss(torch.zeros(0, 2, 4, 4), torch.zeros(0, 4, 4, dtype=torch.bool)).item() == 0.0


def test_the_extra_dense_targets_paint_each_point_and_its_diagonal_neighbours():
    box = torch.tensor([[0.0, 0.0, 8.0, 8.0]])
    points = [torch.tensor([[64.0, 96.0, 5.0, 0.5, 0.5], [0.0, 0.0, 2.0, 0.1, 0.1]])]  # at cells (3, 2) and (0, 0)
    roi, y, x, point = stencil_samples(point_samples(points, box, box, 8), 8)
    cells = sorted(zip(point.tolist(), y.tolist(), x.tolist(), strict=True))
    assert cells == [(0, 2, 1), (0, 2, 3), (0, 3, 2), (0, 4, 1), (0, 4, 3),
                     (1, 0, 0), (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1)]  # clamped at the border
    assert roi.tolist() == [0] * 10


def test_a_batch_without_points_has_the_same_loss_terms():
    torch.manual_seed(0)
    out = PIDOutput(*(torch.randn(2, c, 8, 8) for c in (2, 25, 25, 25, 15, 2)))
    masks = torch.zeros(1, 256, 256, dtype=torch.uint8)
    masks[0, 64:192, 64:192] = 2
    target = {"boxes": torch.tensor([[0.0, 0.0, 16.0, 16.0]]), "dp_valid": torch.tensor([True]), "dp_masks": masks,
              "dp_points": [torch.tensor([[100.0, 100.0, 2.0, 0.5, 0.5]])]}
    rois = [DensePoseRoIs(torch.tensor([[0.0, 0.0, 16.0, 16.0], [2.0, 2.0, 14.0, 14.0]]), torch.tensor([0, 0]))]
    loss = PIDLoss()
    with_points = loss(out, rois, [target])
    without = loss(out, rois, [{**target, "dp_points": [torch.zeros(0, 5)]}])
    assert sorted(with_points) == sorted(without)
    assert without["loss_densepose_dense_I"].item() == 0.0 and without["loss_densepose_semantic"].item() > 0


def test_head_and_predictor_shapes_and_the_predictor_it_needs():
    head = DensePosePIDHead(16, channels=32, num_convs=4)
    feats = head(torch.rand(3, 16, 14, 14))
    assert isinstance(feats, PIDFeatures)
    assert feats.features.shape == (3, 32, 56, 56) and feats.semantic.shape == (3, 2, 56, 56)
    out = DensePosePIDPredictor(32)(feats)
    assert isinstance(out, PIDOutput) and out.field_names() == ("M", "I", "U", "V", "S", "P")
    assert [getattr(out, f).shape[1] for f in out.field_names()] == [2, 25, 25, 25, 15, 2]
    assert out.P is feats.semantic
    with pytest.raises(ValueError, match=r"^DensePosePIDHead needs an even NUM_STACKED_CONVS of at least 2, got 3$"):
        DensePosePIDHead(16, num_convs=3)
    for opts, message in ((["MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME", "KTNPredictor"], "needs PREDICTOR_NAME"),
                          (["MODEL.ROI_DENSEPOSE_HEAD.CASCADE_ON", "True"], "CASCADE_ON is not available")):
        with pytest.raises(ValueError, match=message):
            build_model(setup_cfg(SLIM, ["MODEL.DEVICE", "cpu", *opts]))


def test_one_training_step_gives_every_pid_loss_and_gradients_reach_both_branches():
    from test_model_whole import _sample

    torch.manual_seed(0)
    model = build_model(setup_cfg(SLIM, ["MODEL.DEVICE", "cpu", "INPUT.MIN_SIZE_TRAIN", "[128]",
                                         "INPUT.MAX_SIZE_TRAIN", "160"])).train()
    images, targets = zip(*(_sample(s, 150, 205) for s in (1, 2)), strict=True)
    losses = model(list(images), list(targets))
    assert {"loss_densepose_semantic", "loss_densepose_instance", "loss_densepose_dense_I", "loss_densepose_dense_U",
            "loss_densepose_dense_V", "loss_densepose_S", "loss_densepose_M", "loss_densepose_I"} <= set(losses)
    assert "loss_keypoint" not in losses and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    head = model.roi_heads.densepose_head
    assert head.semantic.weight.grad.abs().sum() > 0 and head.body[0][0].weight.grad.abs().sum() > 0


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("synth"))


@pytest.mark.parametrize(("preset", "slim"), [(SLIM, False), ("configs/pidnet_R_50.yaml", True)])
def test_the_presets_train_evaluate_and_export(data, tmp_path, preset, slim):
    pytest.importorskip("onnxruntime")
    train_evaluate_export(preset, data, tmp_path, *(slim_opts() if slim else ()))
