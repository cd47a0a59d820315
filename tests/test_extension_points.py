"""A predictor with an extra output field, registered from this file (no library file edited), goes through
training, inference, post-processing and ONNX export; unknown variant names are one-line errors."""

from dataclasses import dataclass

import pytest
import torch
from PIL import Image
from test_model_whole import _sample
from torch import Tensor
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.config import setup_cfg
from ktn_model.export.exporter import export_model
from ktn_model.export.runtime import load_exported
from ktn_model.modeling import build_model
from ktn_model.modeling.build import build_postprocess
from ktn_model.modeling.losses.chart import DensePoseChartLoss
from ktn_model.modeling.predictors.chart import DensePoseChartPredictor
from ktn_model.modeling.registry import DENSEPOSE_LOSSES, PREDICTORS, Registry, UnknownName
from ktn_model.modeling.structures import DensePoseChartResult, DensePoseOutput


@dataclass
class ToyOutput(DensePoseOutput):
    """The chart maps plus C (1 channel), a made-up confidence map."""

    C: Tensor


class ToyPredictor(DensePoseChartPredictor):
    output_type = ToyOutput
    default_loss = "ToyLoss"

    def __init__(self, c_in: int, **kwargs):
        super().__init__(c_in, **kwargs)
        self.c_lowres = self.deconv(1)

    def forward(self, x: Tensor, box_predictor=None) -> ToyOutput:
        chart = super().forward(x)
        return ToyOutput(**{name: getattr(chart, name) for name in chart.field_names()}, C=self.up(self.c_lowres(x)))


class ToyLoss(DensePoseChartLoss):
    def roi_losses(self, out: ToyOutput, rois, targets) -> dict[str, Tensor]:
        return {"loss_toy": out.C.square().mean()}


@pytest.fixture(scope="module")
def toy_cfg():
    PREDICTORS.register("ToyPredictor")(ToyPredictor)
    DENSEPOSE_LOSSES.register("ToyLoss")(ToyLoss)
    yield setup_cfg("configs/ktn_tiny_cpu.yaml", ["MODEL.DEVICE", "cpu", "MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME",
                                                  "ToyPredictor", "MODEL.ROI_DENSEPOSE_HEAD.KTM", "none"])
    PREDICTORS.unregister("ToyPredictor")
    DENSEPOSE_LOSSES.unregister("ToyLoss")


def test_a_registered_predictor_trains_infers_post_processes_and_exports(toy_cfg, tmp_path):
    torch.manual_seed(0)
    model = build_model(toy_cfg).train()
    images, targets = zip(*(_sample(s) for s in (1, 2)), strict=True)
    losses = model(list(images), list(targets))
    assert {"loss_toy", "loss_densepose_U", "loss_densepose_M"} <= set(losses)
    assert "loss_densepose_S" not in losses and "loss_keypoint" not in losses
    sum(losses.values()).backward()
    assert model.roi_heads.densepose_predictor.c_lowres.weight.grad.abs().sum() > 0

    model.eval()
    model.roi_heads.score_thresh = 0.0  # random weights: keep every detection
    with torch.no_grad():
        (raw,) = model([torch.rand(3, 250, 333)])
    d = len(raw["boxes"])
    assert d > 0 and isinstance(raw["densepose"], ToyOutput) and raw["densepose"].C.shape == (d, 1, 56, 56)
    assert "keypoints" not in raw  # no K field: nothing to decode
    (result,) = build_postprocess(toy_cfg)([raw], [(250, 333)], [(125, 166)])
    assert all(isinstance(r, DensePoseChartResult) for r in result["densepose"])  # the chart converter (MRO)

    onnx_file = tmp_path / "toy.onnx"
    pytest.importorskip("onnxruntime")
    check = export_model(model, toy_cfg, onnx_file, "onnx")
    assert check.detections[0] == check.detections[1]
    _, exported = load_exported(onnx_file)
    (got,) = exported([torch.rand(3, 256, 341)])
    assert isinstance(got["densepose"], ToyOutput) and got["densepose"].C.shape[1:] == (1, 56, 56)


def test_registry_lists_the_registered_names_for_an_unknown_one():
    registry = Registry("MODEL.FOO")
    registry.register("b", "a")(object)
    with pytest.raises(UnknownName, match=r"^MODEL.FOO 'c' is not registered; registered: a, b$"):
        registry.get("c")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("a")(int)


@pytest.mark.parametrize(("key", "registered"), [
    ("MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone"),
    ("MODEL.ROI_DENSEPOSE_HEAD.NAME", "DensePoseKTNHead"),
    ("MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME", "KTNPredictor"),
    ("MODEL.ROI_DENSEPOSE_HEAD.LOSS_NAME", "DensePoseChartLoss"),
    ("MODEL.ROI_DENSEPOSE_HEAD.DECODER_NAME", "MIDv2"),
])
def test_an_unknown_variant_name_is_one_line_with_exit_code_2(tmp_path, trained, key, registered):
    weights, _, _ = trained
    Image.new("RGB", (64, 48)).save(tmp_path / "x.png")
    res = CliRunner().invoke(app, ["infer", str(tmp_path), "--weights", str(weights), "--out", str(tmp_path / "out"),
                                   key, "Nope"])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and f"{key} 'Nope' is not registered" in lines[0]
    assert registered in lines[0]
    assert not (tmp_path / "out").exists()
