"""Confidence estimation (docs/confidence.md): the U/V Gaussian NLLs against torch.distributions, the WC predictors'
outputs and detectron2 names, the "M" segmentation weighting, training through the tiny preset, the converter."""

import math

import pytest
import torch
from test_model_whole import _sample, _tiny
from torch.distributions import MultivariateNormal

from ktn_model.modeling import build_model, predictor_output_type
from ktn_model.modeling.losses.gaussian_uv import iid_isotropic_nll, indep_anisotropic_nll
from ktn_model.modeling.postprocess import chart_result_with_confidences, result_converter
from ktn_model.modeling.predictors.chart_with_confidence import DensePoseChartWithConfidencePredictor
from ktn_model.modeling.structures import DensePoseChartResultWithConfidences, DensePoseOutput, confidence_output_type
from ktn_model.modeling.weights import export_weights

WC = {"WC1": ("iid_iso", False), "WC2": ("indep_aniso", False), "WC1M": ("iid_iso", True),
      "WC2M": ("indep_aniso", True)}


def _softplus_inverse(y: float) -> float:
    return math.log(math.expm1(y))


def test_iid_isotropic_nll_is_the_gaussian_negative_log_likelihood():
    # sigma^2 = softplus(raw) + 0.01 = 0.5 and 2.0; residuals (0.3, -0.4) and (1, 2)
    raw = torch.tensor([_softplus_inverse(0.49), _softplus_inverse(1.99)], dtype=torch.float64)
    du, dv = torch.tensor([0.3, 1.0], dtype=torch.float64), torch.tensor([-0.4, 2.0], dtype=torch.float64)
    got = iid_isotropic_nll(du, dv, raw, 0.01)
    expected = 0.5 * (math.log(2 * math.pi) + 2 * math.log(0.5) + 0.25 / 0.5) + \
        0.5 * (math.log(2 * math.pi) + 2 * math.log(2.0) + 5.0 / 2.0)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_indep_anisotropic_nll_is_the_bivariate_gaussian_with_covariance_sigma2_i_plus_r_rt():
    g = torch.Generator().manual_seed(0)
    du, dv, raw, ku, kv = (torch.randn(6, generator=g, dtype=torch.float64) for _ in range(5))
    got = indep_anisotropic_nll(du, dv, raw, ku, kv, 0.01)
    var = torch.nn.functional.softplus(raw) + 0.01
    r = torch.stack([ku, kv], dim=1)  # (P, 2)
    cov = var[:, None, None] * torch.eye(2, dtype=torch.float64) + r[:, :, None] * r[:, None, :]
    reference = -MultivariateNormal(torch.zeros(2, dtype=torch.float64), cov).log_prob(torch.stack([du, dv], 1)).sum()
    # detectron2's constant is ½ log 2π per point where the bivariate density has log 2π (no gradient moves)
    assert got.item() == pytest.approx(reference.item() - 6 * 0.5 * math.log(2 * math.pi), rel=1e-12)
    # with r = 0 it is the isotropic loss
    zero = torch.zeros_like(ku)
    assert indep_anisotropic_nll(du, dv, raw, zero, zero, 0.01).item() == pytest.approx(
        iid_isotropic_nll(du, dv, raw, 0.01).item(), rel=1e-12)


@pytest.mark.parametrize("preset", list(WC))
def test_wc_predictors_have_detectron2s_outputs_and_names(preset):
    uv_type, segm = WC[preset]
    torch.manual_seed(0)
    predictor = DensePoseChartWithConfidencePredictor(8, uv_type=uv_type, segm_confidence=segm)
    out = predictor(torch.randn(3, 8, 7, 7))
    uv = {"iid_iso": ["sigma_2"], "indep_aniso": ["sigma_2", "kappa_u", "kappa_v"]}[uv_type]
    conf = uv + (["fine_segm_confidence", "coarse_segm_confidence"] if segm else [])
    assert list(out.field_names()) == ["M", "I", "U", "V", *conf]
    assert type(out) is confidence_output_type(conf) and len(out) == 3
    assert all(getattr(out, n).shape == (3, 25, 28, 28) for n in uv)
    assert sorted(k.rsplit(".", 1)[0] for k in predictor.state_dict()) == sorted(
        f"{n}_lowres" for n in ["ann_index", "index_uv", "u", "v", *conf] for _ in (0, 1))
    if segm:  # the "M" models: M and I are the chart logits times softplus(.) + 0.01
        x = torch.randn(2, 8, 7, 7)
        out = predictor(x)
        coarse = torch.nn.functional.softplus(predictor.up(predictor.coarse_segm_confidence_lowres(x))) + 0.01
        torch.testing.assert_close(out.coarse_segm_confidence, coarse, rtol=0, atol=0)
        torch.testing.assert_close(out.M, predictor.up(predictor.ann_index_lowres(x)) * coarse, rtol=0, atol=0)
        assert out.fine_segm_confidence.min() > 0.01


def test_nothing_enabled_is_the_chart_output():
    predictor = DensePoseChartWithConfidencePredictor(8)
    assert predictor.output_type is DensePoseOutput and type(predictor(torch.randn(1, 8, 7, 7))) is DensePoseOutput


def _wc_tiny(preset: str, *opts: str):
    """The tiny CPU preset with the chart predictor and the confidences of ``preset`` (WC1, WC2, WC1M, WC2M)."""
    uv_type, segm = WC[preset]
    return _tiny("MODEL.DEVICE", "cpu", "MODEL.ROI_DENSEPOSE_HEAD.KTM", "none",
                 "MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME", "DensePoseChartWithConfidencePredictor",
                 "MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE.ENABLED", "True",
                 "MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE.TYPE", uv_type,
                 "MODEL.ROI_DENSEPOSE_HEAD.SEGM_CONFIDENCE.ENABLED", str(segm), *opts)


@pytest.mark.parametrize("preset", ["WC1", "WC2M"])
def test_a_wc_model_trains_with_the_nll_and_exports_detectron2_names(preset):
    cfg = _wc_tiny(preset)
    torch.manual_seed(0)
    model = build_model(cfg).train()
    images, targets = zip(*(_sample(s) for s in (1, 2)), strict=True)
    losses = model(list(images), list(targets))
    assert {"loss_densepose_UV", "loss_densepose_I", "loss_densepose_M"} <= set(losses)
    assert not {"loss_densepose_U", "loss_densepose_V"} & set(losses)
    assert torch.isfinite(losses["loss_densepose_UV"])
    sum(losses.values()).backward()
    predictor = model.roi_heads.densepose_predictor
    for name in predictor.confidences:
        assert getattr(predictor, f"{name}_lowres").weight.grad.abs().sum() > 0, name
    names = export_weights(model, "detectron2")
    assert "roi_heads.densepose_predictor.sigma_2_lowres.weight" in names
    assert predictor_output_type(cfg) is predictor.output_type


def test_the_converter_reads_part_confidences_at_the_label_and_segmentation_confidences_everywhere():
    out_type = confidence_output_type(["sigma_2", "fine_segm_confidence"])
    m = torch.tensor([[[0.0, 0.0]], [[5.0, -5.0]]])  # (2, 1, 2): fg on the left pixel only
    i = torch.zeros(25, 1, 2)
    i[7] = 1.0  # label 7 where fg
    sigma = torch.arange(25.0)[:, None, None].expand(25, 1, 2)  # channel k holds k
    out = out_type(M=m[None], I=i[None], U=torch.zeros(1, 25, 1, 2), V=torch.zeros(1, 25, 1, 2),
                   sigma_2=sigma[None], fine_segm_confidence=torch.full((1, 1, 1, 2), 0.25))
    assert result_converter(out_type) is chart_result_with_confidences
    result = chart_result_with_confidences(out, (1, 2), 0.5)
    assert isinstance(result, DensePoseChartResultWithConfidences)
    assert result.labels.tolist() == [[7, 0]]
    assert result.confidences["sigma_2"].tolist() == [[7.0, 0.0]]
    assert result.confidences["fine_segm_confidence"].tolist() == [[0.25, 0.25]]
    assert result.to("cpu").confidences.keys() == result.confidences.keys()


def test_a_wc_model_exports_with_its_confidences(tmp_path):
    pytest.importorskip("onnxruntime")
    from ktn_model.export.exporter import export_model
    from ktn_model.export.runtime import load_exported

    cfg = _wc_tiny("WC2M", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    check = export_model(model, cfg, tmp_path / "wc2m.onnx", "onnx")
    assert check.detections[0] == check.detections[1]
    _, exported = load_exported(tmp_path / "wc2m.onnx")
    (got,) = exported([torch.rand(3, 256, 341)])
    assert type(got["densepose"]) is model.roi_heads.densepose_predictor.output_type
    assert got["densepose"].kappa_v.shape[1:] == (25, 56, 56)
