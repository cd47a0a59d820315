"""HRNet presets: the release's KTNv2 HRNet-W32 and detectron2's HRFPN W32/W40/W48 build with the original code's
state-dict names; checkpoints of another width or backbone are one-line errors; an ImageNet HRNet starts training."""

import json
import pickle
from pathlib import Path

import pytest
import torch
from golden import GOLDEN
from PIL import Image
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.config import setup_cfg
from ktn_model.modeling import build_model, load_weights
from ktn_model.modeling.weights import WeightsMismatch, export_weights

ROOT = Path(__file__).resolve().parents[1]
D2 = "configs/detectron2/densepose_rcnn_HRFPN_HRNet_w{}_s1x.yaml"
CPU = ["MODEL.DEVICE", "cpu"]


def _model(preset: str, *opts: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(setup_cfg(ROOT / preset, [*CPU, *opts]))


def _pkl(model, path: Path) -> Path:
    with open(path, "wb") as f:
        pickle.dump({"model": {k: v.numpy() for k, v in export_weights(model, "detectron2").items()}}, f)
    return path


def test_the_release_preset_has_the_release_checkpoints_names_and_shapes():
    model = _model("configs/release/ktnv2_HRNet_w32.yaml")
    manifest = json.loads((GOLDEN / "HRNet_w32_KTNv2" / "manifest.json").read_text())
    state = export_weights(model, "ktnv2")
    assert list(state) == list(manifest) or sorted(state) == sorted(manifest)
    assert all(list(state[k].shape) == manifest[k]["shape"] for k in manifest)
    predictor = model.roi_heads.densepose_predictor
    assert type(predictor).__name__ == "KTNv2PredictorV3" and predictor.keypoint_up_scale == 2
    assert list(model.backbone.strides.values()) == [4, 8, 16, 32, 64] and len(model.backbone.roi_levels) == 5


@pytest.mark.parametrize("width", [32, 40, 48])
def test_detectron2_hrnet_presets_build_with_their_widths_and_map_by_rule(width):
    model = _model(D2.format(width))
    assert model.backbone.bottom_up.out_channels == [width, 2 * width, 4 * width, 8 * width]
    names = export_weights(model, "detectron2")  # every tensor has an original name (ValueError otherwise)
    assert "backbone.bottom_up.stage4.2.fuse_layers.3.0.0.0.weight" in names
    assert "roi_heads.decoder.p1.0.weight" in names  # detectron2's decoder on p1..p5


def test_a_checkpoint_of_another_width_or_backbone_is_one_line_with_exit_code_2(tmp_path):
    source = _model(D2.format(48))
    w48 = _pkl(source, tmp_path / "w48.pkl")
    back = _model(D2.format(48), seed=3)
    load_weights(back, str(w48))  # there and back is exact
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in back.state_dict().items())
    with pytest.raises(WeightsMismatch, match=r"shapes differ: backbone\.bottom_up\."):
        load_weights(_model(D2.format(32)), str(w48))
    with pytest.raises(WeightsMismatch, match=r"model tensors have no source: backbone\.body\.bn1.*"
                                              r"checkpoint tensors are not used: backbone\.bottom_up\.bn1"):
        load_weights(_model("configs/detectron2/densepose_rcnn_R_50_FPN_s1x.yaml"), str(w48))
    Image.new("RGB", (64, 48)).save(tmp_path / "x.png")
    res = CliRunner().invoke(app, ["infer", str(tmp_path / "x.png"), "--weights", str(w48), "--config-file",
                                   str(ROOT / D2.format(32)), "--out", str(tmp_path / "out"), *CPU])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {w48}"), res.output
    assert not (tmp_path / "out").exists()


def test_an_imagenet_hrnet_initialises_the_backbone_for_training_only(tmp_path):
    source = _model(D2.format(32), seed=1)
    body = {k.removeprefix("backbone.bottom_up."): v for k, v in source.state_dict().items()
            if k.startswith("backbone.bottom_up.")}
    torch.save({**body, "classifier.weight": torch.zeros(1000, 2048)}, tmp_path / "hrnet_w32.pth")
    model, start = _model(D2.format(32), seed=2), _model(D2.format(32), seed=2).state_dict()
    report = load_weights(model, str(tmp_path / "hrnet_w32.pth"), training=True)
    assert report.layout == "hrnet-imagenet" and report.unexpected == ["classifier.weight"]
    assert set(report.loaded) == {"backbone.bottom_up." + k for k in body}
    got = model.state_dict()
    assert all(torch.equal(got["backbone.bottom_up." + k], v) for k, v in body.items())
    assert all(torch.equal(got[k], start[k]) for k in report.missing)  # the rest keeps its random start
    with pytest.raises(WeightsMismatch, match="for training only"):
        load_weights(_model(D2.format(32)), str(tmp_path / "hrnet_w32.pth"))
    with pytest.raises(WeightsMismatch, match="for training only"):  # no HRNet in an R-50 model
        load_weights(_model("configs/detectron2/densepose_rcnn_R_50_FPN_s1x.yaml"), str(tmp_path / "hrnet_w32.pth"),
                     training=True)


@pytest.mark.parametrize("preset", ["configs/release/ultrapose/densepose_rcnn_R_50.yaml",
                                    "configs/release/ultrapose/densepose_rcnn_R_50_KTNv2.yaml"])
def test_ultrapose_presets_train_on_ultrapose(preset):
    cfg = setup_cfg(ROOT / preset)
    assert list(cfg.DATASETS.TRAIN) == ["densepose_ultrapose_train"]
    assert list(cfg.DATASETS.TEST) == ["densepose_ultrapose_minival"]
    assert (cfg.SOLVER.IMS_PER_BATCH, cfg.SOLVER.BASE_LR, cfg.SOLVER.MAX_ITER) == (4, 0.0001, 130000)


def test_the_slim_hrnet_preset_trains_infers_and_exports_at_another_size(tmp_path):
    from test_model_whole import _sample

    from ktn_model.export.exporter import export_model
    from ktn_model.modeling.build import build_postprocess

    cfg = setup_cfg(ROOT / "configs/ktnv2_HRNet_tiny_cpu.yaml", CPU)
    torch.manual_seed(0)
    model = build_model(cfg).train()
    images, targets = zip(*(_sample(s) for s in (1, 2)), strict=True)
    losses = model(list(images), list(targets))
    assert {"loss_keypoint", "loss_densepose_S", "loss_densepose_I"} <= set(losses)
    sum(losses.values()).backward()
    predictor = model.roi_heads.densepose_predictor
    assert predictor.ktm.A["loc"].grad.abs().sum() > 0 and predictor.i_lowres.weight.grad is None  # unused, as released
    model.eval()
    model.roi_heads.score_thresh = 0.0
    with torch.no_grad():
        (raw,) = model([torch.rand(3, 250, 333)])
    d = len(raw["boxes"])
    assert d > 0 and raw["densepose"].K.shape == (d, 17, 28, 28)  # K at the deconvolution's resolution
    assert raw["densepose"].I.shape == (d, 25, 56, 56) and raw["keypoints"].shape == (d, 17, 3)
    (result,) = build_postprocess(cfg)([raw], [(250, 333)], [(125, 166)])
    assert len(result["densepose"]) == len(result["boxes"])
    pytest.importorskip("onnxruntime")
    check = export_model(model, cfg, tmp_path / "hrnet.onnx", "onnx")  # verified on a portrait image
    assert check.detections[0] == check.detections[1] and check.box_diff < 1e-3
