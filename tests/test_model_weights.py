"""Checkpoint formats and layouts: ours, detectron2 model-zoo .pkl, KTN-release .pth; exact fit or a clear error."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.config import setup_cfg
from ktn_model.modeling import build_model, load_weights
from ktn_model.modeling.weights import WeightsMismatch, export_weights, read_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "ktn_tiny_cpu.yaml"
GRAPH = str(ROOT / "graphs" / "v2.pkl")
CHART = ["MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME", "DensePoseChartPredictor", "MODEL.ROI_DENSEPOSE_HEAD.KTM", "none",
         "MODEL.ROI_DENSEPOSE_HEAD.NAME", "DensePoseV1ConvXHead", "MODEL.ROI_DENSEPOSE_HEAD.DECODER_NAME", "MIDv1"]


def _cfg(*opts):
    return setup_cfg(TINY, ["MODEL.ROI_DENSEPOSE_HEAD.GRAPH", GRAPH, "MODEL.DEVICE", "cpu", *opts])


def _model(seed, *opts):
    torch.manual_seed(seed)
    return build_model(_cfg(*opts))


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _pkl(state: dict, path: Path) -> Path:
    with open(path, "wb") as f:
        pickle.dump({"model": {k: v.numpy() for k, v in state.items()}, "__author__": "test"}, f)
    return path


def test_own_checkpoint_round_trip_is_exact(tmp_path):
    model, other = _model(0), _model(1)
    torch.save({"model": model.state_dict(), "iteration": 3}, tmp_path / "m.pth")
    report = load_weights(other, str(tmp_path / "m.pth"))
    assert report.layout == "ktn" and len(report.loaded) == len(model.state_dict())
    assert _same(model, other)


@pytest.mark.parametrize("opts", [[], CHART], ids=["ktn", "detectron2-chart"])
def test_detectron2_layout_round_trip_is_exact(tmp_path, opts):
    model = _model(0, *opts)
    state = export_weights(model, "detectron2")
    assert not any(k.startswith(("backbone.body", "rpn.")) for k in state)
    other = _model(1, *opts)
    assert load_weights(other, str(_pkl(state, tmp_path / "m.pkl"))).layout == "detectron2"
    assert _same(model, other)


def test_detectron2_names_and_row_orders():
    model = _model(0, *CHART)
    state = export_weights(model, "detectron2")
    ours = model.state_dict()
    assert torch.equal(state["backbone.bottom_up.res3.0.shortcut.norm.running_var"],
                       ours["backbone.body.layer2.0.downsample.1.running_var"])
    assert torch.equal(state["roi_heads.decoder.p5.4.weight"],
                       ours["roi_heads.densepose_pooler.mid.scale_heads.3.4.0.weight"])
    assert torch.equal(state["roi_heads.densepose_predictor.index_uv_lowres.weight"],  # the chart predictor's I
                       ours["roi_heads.densepose_predictor.index_uv_lowres.weight"])
    cls = ours["roi_heads.box_predictor.cls_score.weight"]  # (2, D): background first here, last there
    assert torch.equal(state["roi_heads.box_predictor.cls_score.weight"], cls[[1, 0]])
    bbox = ours["roi_heads.box_predictor.bbox_pred.weight"]
    assert torch.equal(state["roi_heads.box_predictor.bbox_pred.weight"], bbox[4:])
    assert not ours["roi_heads.box_predictor.bbox_pred.weight"][:4].any()  # background rows: 0, never used


def test_ktnv2_layout_has_the_release_buffers_and_aliases(tmp_path):
    model = _model(0)
    state = export_weights(model, "ktnv2")
    assert state["pixel_mean"].shape == (3, 1, 1) and "proposal_generator.anchor_generator.cell_anchors.4" in state
    alias = "roi_heads.densepose_head.ScaleConv.project.0.weight"
    assert torch.equal(state[alias], state["roi_heads.densepose_head.ScaleConvs.project.0.weight"])
    assert torch.equal(state["roi_heads.mid_decoder.p4.4.weight"],
                       model.state_dict()["roi_heads.densepose_pooler.mid.scale_heads.2.3.0.0.weight"])
    assert torch.equal(state["roi_heads.densepose_predictor.kpt_crgk_matrix"],
                       model.roi_heads.densepose_predictor.ktm.A["kpt"])
    torch.save({"model": state}, tmp_path / "release.pth")
    other = _model(1)
    load_weights(other, str(tmp_path / "release.pth"))
    assert _same(model, other)
    state["roi_heads.densepose_head.ScaleConv.project.0.weight"] = state[alias] + 1
    torch.save({"model": state}, tmp_path / "bad_alias.pth")
    with pytest.raises(WeightsMismatch, match="ScaleConv.project.0.weight is not a copy"):
        load_weights(other, str(tmp_path / "bad_alias.pth"))


def test_pixel_buffers_must_agree_with_the_config(tmp_path):
    state = export_weights(_model(0), "ktnv2")
    torch.save({"model": state}, tmp_path / "release.pth")
    bgr = _model(1, "MODEL.PIXEL_MEAN", "[103.53, 116.28, 123.675]")
    with pytest.raises(WeightsMismatch, match="pixel_mean .* differs from the config's MODEL.PIXEL_MEAN"):
        load_weights(bgr, str(tmp_path / "release.pth"))


def test_never_a_partial_load(tmp_path):
    model = _model(0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state.pop("roi_heads.box_predictor.cls_score.bias")
    state["extra.head.weight"] = torch.zeros(1)
    state["roi_heads.box_head.fc6.weight"] = torch.zeros(3, 3)
    torch.save({"model": state}, tmp_path / "m.pth")
    other = _model(1)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(WeightsMismatch) as err:
        load_weights(other, str(tmp_path / "m.pth"))
    message = str(err.value)
    assert "m.pth does not fit this config" in message
    assert "1 model tensors have no source: roi_heads.box_predictor.cls_score.* (1)" in message
    assert "1 checkpoint tensors are not used: extra.head.weight;" in message
    assert "roi_heads.box_head.fc6.weight (3, 3) vs (256, 3136)" in message
    assert all(torch.equal(v, before[k]) for k, v in other.state_dict().items())


def test_a_deeper_backbone_does_not_fit_and_the_error_groups_the_extra_blocks(tmp_path):
    state = export_weights(_model(0, "MODEL.BACKBONE.NAME", "resnet34"), "detectron2")
    with pytest.raises(WeightsMismatch) as err:
        load_weights(_model(1), str(_pkl(state, tmp_path / "r34.pkl")))
    assert ("checkpoint tensors are not used: backbone.bottom_up.res2.2.* (12), backbone.bottom_up.res3.2.* (12), "
            "backbone.bottom_up.res3.3.* (12), backbone.bottom_up.res4.2.* (12)") in str(err.value)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_bad_files_are_refused_with_the_file_name(tmp_path):
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"model": {"a": _RunsCode()}}))
    with pytest.raises(ValueError, match=r"evil.pkl: .*refused: the pickle references posix.system"):
        read_checkpoint(tmp_path / "evil.pkl")
    torch.save({"model": _model(0).state_dict()}, tmp_path / "full.pth")
    (tmp_path / "trunc.pth").write_bytes((tmp_path / "full.pth").read_bytes()[:100000])
    with pytest.raises(ValueError, match="trunc.pth: not a readable"):
        read_checkpoint(tmp_path / "trunc.pth")
    (tmp_path / "trunc.pkl").write_bytes(pickle.dumps({"model": {"a": np.zeros(100)}})[:50])
    with pytest.raises(ValueError, match="trunc.pkl: not a readable checkpoint"):
        read_checkpoint(tmp_path / "trunc.pkl")
    torch.save({"model": {"head.weight": torch.zeros(2)}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="other.pth: unknown checkpoint layout"):
        load_weights(_model(0), str(tmp_path / "other.pth"))
    with pytest.raises(ValueError, match="NoSuchWeights"):
        load_weights(_model(0), "torchvision:NoSuchWeights.V1")


def test_convert_there_and_back_gives_identical_tensors(tmp_path):
    cfg = _cfg()
    model = _model(0)
    torch.save({"model": model.state_dict()}, tmp_path / "model.pth")
    (tmp_path / "config.yaml").write_text(cfg.dump())
    runner = CliRunner()
    for layout, name in (("ktnv2", "release.pth"), ("detectron2", "zoo.pkl")):
        res = runner.invoke(app, ["convert", str(tmp_path / "model.pth"), "--to", layout, "--out",
                                  str(tmp_path / name)])
        assert res.exit_code == 0, res.output
        back = _model(1)
        load_weights(back, str(tmp_path / name))
        assert _same(model, back)
    res = runner.invoke(app, ["convert", str(tmp_path / "zoo.pkl"), "--to", "ktnv2", "--out", str(tmp_path / "x.pth"),
                              "--config-file", str(tmp_path / "config.yaml")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["convert", str(tmp_path / "model.pth"), "--to", "caffe", "--out", str(tmp_path / "y")])
    assert res.exit_code == 2 and "--to caffe: choose one of detectron2, ktnv2" in res.output


def test_infer_with_a_checkpoint_that_does_not_fit_is_one_line_exit_2(tmp_path):
    state = export_weights(_model(0, "MODEL.BACKBONE.NAME", "resnet34"), "detectron2")
    _pkl(state, tmp_path / "r34.pkl")
    (tmp_path / "x.png").write_bytes((ROOT / "tests" / "data" / "golden" / "astronaut.png").read_bytes())
    res = CliRunner().invoke(app, ["infer", str(tmp_path / "x.png"), "--weights", str(tmp_path / "r34.pkl"),
                                   "--config-file", str(TINY), "--out", str(tmp_path / "out"),
                                   "MODEL.ROI_DENSEPOSE_HEAD.GRAPH", GRAPH])
    assert res.exit_code == 2, res.output
    assert len(res.output.strip().splitlines()) == 1 and "r34.pkl does not fit this config" in res.output


def _stage1(tmp_path: Path, *drop: str) -> Path:
    """A release-layout stage-1 file: the KTN model without the ``drop``ped blocks, plus a keypoint R-CNN head."""
    state = {k: v for k, v in export_weights(_model(0), "ktnv2").items() if not k.startswith(drop)}
    state["roi_heads.keypoint_head.conv_fcn1.weight"] = torch.zeros(8, 8, 3, 3)
    state["roi_heads.keypoint_head.score_lowres.weight"] = torch.zeros(8, 17, 4, 4)
    torch.save({"model": state}, tmp_path / "R50-MIDv2-kpt.pth")
    return tmp_path / "R50-MIDv2-kpt.pth"


def test_a_stage1_checkpoint_starts_training_with_a_fresh_densepose_predictor(tmp_path):
    path = _stage1(tmp_path, "roi_heads.densepose_predictor.")
    model, fresh = _model(1), _model(1)
    report = load_weights(model, str(path), training=True)
    assert report.missing and all(k.startswith("roi_heads.densepose_predictor.") for k in report.missing)
    assert report.unexpected == ["roi_heads.keypoint_head.conv_fcn1.weight",
                                 "roi_heads.keypoint_head.score_lowres.weight"]
    summary = report.summary()
    assert "start fresh (not in the weights): roi_heads.densepose_predictor." in summary
    assert "not used: roi_heads.keypoint_head." in summary
    got, start, source = model.state_dict(), fresh.state_dict(), _model(0).state_dict()
    for key in got:  # the predictor keeps its random start, everything else comes from the file
        assert torch.equal(got[key], start[key] if key in report.missing else source[key]), key


def test_a_stage1_checkpoint_is_refused_for_evaluation_and_other_gaps_always(tmp_path):
    path = _stage1(tmp_path, "roi_heads.densepose_predictor.", "roi_heads.densepose_head.")
    with pytest.raises(WeightsMismatch, match=r"a stage-1 checkpoint \(no DensePose roi_heads.densepose_head"):
        load_weights(_model(1), str(path))
    assert load_weights(_model(1), str(path), training=True).missing  # head and predictor both start fresh
    gap = _stage1(tmp_path, "roi_heads.densepose_predictor.", "roi_heads.box_head.")
    with pytest.raises(WeightsMismatch, match="model tensors have no source: .*box_head"):
        load_weights(_model(1), str(gap), training=True)
