"""DensePose R-CNN's cross-cascading refinement (docs/other_systems.md, "Cross-cascading refinement"): shapes, the
first stage returned when the refinement's last layer is zero, deep supervision, off by default, the preset."""

import pytest
import torch
from preset_runs import make_data, slim_opts, train_evaluate_export
from test_model_whole import _sample

from ktn_model.config import setup_cfg
from ktn_model.modeling import build_model
from ktn_model.modeling.cascade import CrossCascade
from ktn_model.modeling.predictors.chart import DensePoseChartPredictor
from ktn_model.modeling.structures import DensePoseOutput, KTNOutput

TINY = "configs/ktn_tiny_cpu.yaml"
SMALL = ["MODEL.DEVICE", "cpu", "INPUT.MIN_SIZE_TRAIN", "[128]", "INPUT.MAX_SIZE_TRAIN", "160",
         "INPUT.MIN_SIZE_TEST", "128", "INPUT.MAX_SIZE_TEST", "160"]
CASCADE = [*SMALL, "MODEL.ROI_DENSEPOSE_HEAD.CASCADE_ON", "True"]


def _cascade(num_convs: int = 2) -> CrossCascade:
    torch.manual_seed(0)
    first = DensePoseChartPredictor(16)
    return CrossCascade(first, 16, {"M": (2, 4), "I": (25, 4), "U": (25, 4), "V": (25, 4)}, num_convs=num_convs,
                        conv_dim=8, embed_dim=4)


@pytest.mark.parametrize("num_convs", [0, 2])
def test_shapes_and_the_first_stage_when_the_last_layer_is_zero(num_convs):
    cascade = _cascade(num_convs).eval()
    x = torch.rand(3, 16, 14, 14)
    with torch.no_grad():
        refined, first = cascade(x), cascade.first(x)
        assert isinstance(refined, DensePoseOutput)
        assert [getattr(refined, f).shape for f in "MIUV"] == [(3, 2, 56, 56), *[(3, 25, 56, 56)] * 3]
        assert not torch.equal(refined.I, first.I)
        for deconv in cascade.refine.values():
            deconv.weight.zero_()
            deconv.bias.zero_()
        refined = cascade(x)
    for field in "MIUV":
        assert torch.equal(getattr(refined, field), getattr(first, field)), field


def test_training_returns_both_stages_and_both_are_supervised():
    model = build_model(setup_cfg(TINY, CASCADE)).train()
    cascade = model.roi_heads.densepose_predictor
    assert isinstance(cascade, CrossCascade) and cascade.output_type is KTNOutput
    assert set(cascade.refine) == {"M", "I", "U", "V", "S", "K"}  # I/U/V, mask, parts and keypoints are refined
    images, targets = zip(*(_sample(s, 150, 205) for s in (1, 2)), strict=True)
    losses = model(list(images), list(targets))
    names = ["loss_densepose_U", "loss_densepose_V", "loss_densepose_I", "loss_densepose_S", "loss_densepose_M",
             "loss_keypoint"]
    assert {*names, *(f"{n}_stage1" for n in names)} <= set(losses)
    sum(losses.values()).backward()
    assert cascade.refine["I"].weight.grad.abs().sum() > 0 and cascade.embed[0].weight.grad.abs().sum() > 0
    assert cascade.first.k_lowres.weight.grad.abs().sum() > 0
    model.eval()
    model.roi_heads.score_thresh = 0.0
    with torch.no_grad():
        (raw,) = model([torch.rand(3, 200, 240)])
    assert isinstance(raw["densepose"], KTNOutput) and raw["keypoints"].shape[1:] == (17, 3)


def test_off_by_default_and_the_same_model_as_before():
    cfg = setup_cfg(TINY, SMALL)
    assert not cfg.MODEL.ROI_DENSEPOSE_HEAD.CASCADE_ON
    torch.manual_seed(0)
    plain = build_model(cfg)
    assert not isinstance(plain.roi_heads.densepose_predictor, CrossCascade)
    torch.manual_seed(0)
    cascaded = build_model(setup_cfg(TINY, CASCADE))
    first = cascaded.roi_heads.densepose_predictor.first.state_dict()
    assert all(torch.equal(v, first[k]) for k, v in plain.roi_heads.densepose_predictor.state_dict().items())


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("synth"))


def test_the_preset_trains_evaluates_and_exports(data, tmp_path):
    pytest.importorskip("onnxruntime")
    assert setup_cfg("configs/densepose_rcnn_R_50_cascade.yaml").MODEL.ROI_DENSEPOSE_HEAD.CASCADE_ON
    train_evaluate_export("configs/densepose_rcnn_R_50_cascade.yaml", data, tmp_path, *slim_opts())
