"""``ktn infer`` with a confidence model (NAME_conf.npz, U/V-uncertainty picture) and a CSE model (16-bit vertex PNG,
vertex picture, ``densepose_cse`` in results.json), on tiny random models; pictures a model cannot give are one line."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.config import setup_cfg
from ktn_model.engine.image_maps import decode_png16
from ktn_model.engine.predictor import Predictor
from ktn_model.modeling import build_model

ROOT = Path(__file__).resolve().parents[1]
TINY = ["MODEL.DEVICE", "cpu", "MODEL.ROI_DENSEPOSE_HEAD.KTM", "none", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
        "TEST.DETECTIONS_PER_IMAGE", "6"]
WC2M = ["MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME", "DensePoseChartWithConfidencePredictor",
        "MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE.ENABLED", "True", "MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE.TYPE",
        "indep_aniso", "MODEL.ROI_DENSEPOSE_HEAD.SEGM_CONFIDENCE.ENABLED", "True"]
CSE = ["MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME", "DensePoseEmbeddingPredictor",
       "MODEL.ROI_DENSEPOSE_HEAD.CSE.EMBED_SIZE", "4", "MODEL.ROI_DENSEPOSE_HEAD.CSE.NUM_VERTICES", "300",
       "MODEL.ROI_DENSEPOSE_HEAD.CSE.FEATURE_DIM", "8"]


def _checkpoint(folder, opts):
    """A tiny random checkpoint with its config.yaml (the CSE embedder filled with random values)."""
    cfg = setup_cfg(ROOT / "configs" / "ktn_tiny_cpu.yaml", [*TINY, *opts])
    torch.manual_seed(0)
    model = build_model(cfg)
    state = model.state_dict()
    for key in (k for k in state if ".embedder." in k):
        state[key] = torch.randn(state[key].shape)
    folder.mkdir()
    torch.save({"model": state, "iteration": 0}, folder / "model_final.pth")
    (folder / "config.yaml").write_text(cfg.dump())
    return folder / "model_final.pth"


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(folder / "a.png")
    return folder


def _infer(weights, image_dir, out, *extra):
    return CliRunner().invoke(app, ["infer", str(image_dir), "--weights", str(weights), "--out", str(out),
                                    "--min-score", "0", *extra])


def test_a_confidence_model_writes_its_confidences_per_pixel_and_an_uncertainty_picture(tmp_path, image_dir):
    weights = _checkpoint(tmp_path / "wc2m", WC2M)
    res = _infer(weights, image_dir, tmp_path / "out", "--vis", "dp_uv_uncertainty,dp_segm")
    assert res.exit_code == 0, res.output
    inds = np.asarray(Image.open(tmp_path / "out" / "a_INDS.png"))
    with np.load(tmp_path / "out" / "a_conf.npz") as data:
        conf = {k: data[k] for k in data.files}
    assert list(conf) == ["sigma_2", "kappa_u", "kappa_v", "fine_segm_confidence", "coarse_segm_confidence"]
    assert all(v.dtype == np.float32 and v.shape == inds.shape for v in conf.values())
    expected = Predictor.from_checkpoint(weights)(np.asarray(Image.open(image_dir / "a.png")))
    assert len(expected["scores"]) > 0 and (inds > 0).any()
    for name, values in conf.items():
        assert (values[inds == 0] == 0).all(), name
        for k, (box, result) in enumerate(zip(expected["boxes"], expected["densepose"], strict=True)):
            ys, xs = np.nonzero(inds == k + 1)
            x0, y0 = int(box[0]), int(box[1])
            np.testing.assert_array_equal(values[ys, xs], result.confidences[name].numpy()[ys - y0, xs - x0])
    assert Image.open(tmp_path / "out" / "a_dp_uv_uncertainty.png").size == (160, 120)
    first = (tmp_path / "out" / "a_conf.npz").read_bytes()
    assert _infer(weights, image_dir, tmp_path / "again", "--vis", "bbox").exit_code == 0
    assert (tmp_path / "again" / "a_conf.npz").read_bytes() == first  # byte-identical


def test_a_cse_model_writes_a_16_bit_vertex_map_a_vertex_picture_and_densepose_cse(tmp_path, image_dir):
    weights = _checkpoint(tmp_path / "cse", CSE)
    mesh = tmp_path / "mesh.pkl"
    with open(mesh, "wb") as f:
        pickle.dump({"vertices": np.random.default_rng(1).normal(size=(300, 3)).astype(np.float32)}, f)
    res = _infer(weights, image_dir, tmp_path / "out", "--mesh", str(mesh))
    assert res.exit_code == 0, res.output
    out = tmp_path / "out"
    assert not (out / "a_IUV.png").exists() and (out / "a_dp_vertex.png").exists() and (out / "a_bbox.png").exists()
    vertices = Image.open(out / "a_vertices.png")
    assert vertices.mode.startswith("I;16") or vertices.mode == "I"
    vertices, inds = np.asarray(vertices).astype(np.int64), np.asarray(Image.open(out / "a_INDS.png"))
    assert ((vertices > 0) == (inds > 0)).all() and vertices.max() <= 300
    expected = Predictor.from_checkpoint(weights)(np.asarray(Image.open(image_dir / "a.png")))
    records = json.loads((out / "results.json").read_text())
    assert len(records) == len(expected["scores"]) > 0
    for k, (record, box, result) in enumerate(zip(records, expected["boxes"], expected["densepose"], strict=True)):
        assert "densepose" not in record and record["densepose_cse"]["mesh"] == "smpl_27554"
        h, w, data = record["densepose_cse"]["vertices"]
        box_map = decode_png16(data)
        assert (h, w) == box_map.shape == tuple(result.vertices.shape)
        np.testing.assert_array_equal(box_map.astype(np.int64) - 1, result.vertices.numpy())
        ys, xs = np.nonzero(inds == k + 1)
        x0, y0 = int(box[0]), int(box[1])
        np.testing.assert_array_equal(vertices[ys, xs], box_map[ys - y0, xs - x0])


@pytest.mark.parametrize(("opts", "vis", "message"), [
    (CSE, "dp_segm", "--vis dp_segm needs a chart model (I, U, V)"),
    ([], "dp_uv_uncertainty", "--vis dp_uv_uncertainty needs U/V confidences (a WC preset)"),
    ([], "dp_vertex", "--vis dp_vertex needs a CSE model"),
])
def test_a_picture_the_model_cannot_give_is_one_line_with_exit_code_2(tmp_path, image_dir, opts, vis, message):
    weights = _checkpoint(tmp_path / "model", opts)
    res = _infer(weights, image_dir, tmp_path / "out", "--vis", vis)
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], res.output
    assert not (tmp_path / "out").exists()
