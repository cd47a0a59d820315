"""``ktn export`` (ONNX, TorchScript) and ``ktn infer`` on the exported file, against PyTorch, on the tiny preset."""

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.export.graph import TracedKTN, example_image, output_names, to_detection
from ktn_model.export.runtime import is_exported, load_exported
from ktn_model.inference.pipeline import Predictor
from ktn_model.modeling.structures import DensePoseOutput

ONNX_MISSING = "onnx and onnxruntime are not installed (the onnx extra: pip install -e '.[onnx]')"
# A score threshold inside the random tiny model's score range, so that the detection count varies per image.
THRESHOLD = ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.37"]
SIZES = {"wide": (200, 280), "tall": (260, 190), "square": (240, 240)}


def _needs_onnx():
    pytest.importorskip("onnx", reason=ONNX_MISSING)
    pytest.importorskip("onnxruntime", reason=ONNX_MISSING)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("in")
    rng = np.random.default_rng(0)
    pixels = {name: rng.integers(0, 255, (*size, 3), np.uint8) for name, size in SIZES.items()}
    for name, p in pixels.items():
        Image.fromarray(p).save(folder / f"{name}.png")
    return folder, pixels


def _export(weights, out, fmt):
    res = CliRunner().invoke(app, ["export", "--weights", str(weights), "--out", str(out), "--format", fmt,
                                   *THRESHOLD])
    assert res.exit_code == 0, res.output
    return res.output


def test_the_traced_module_is_the_model_on_an_image_at_the_test_size(trained):
    _, model, _ = trained
    traced = TracedKTN(model)
    image = example_image(320, 427, seed=2)
    with torch.no_grad():
        flat = traced(image)
        got = dict(zip(traced.names, flat, strict=True))
        (expected,) = model.eval()([image])
    assert traced.names == ["boxes", "scores", "labels", "densepose.M", "densepose.I", "densepose.U", "densepose.V",
                            "densepose.S", "densepose.K"]  # keypoints are decoded after the graph, by to_detection
    assert got["boxes"].shape == (20, 4) and got["densepose.I"].shape == (20, 25, 56, 56)
    for name in ("boxes", "scores", "labels"):
        assert torch.equal(got[name], expected[name]), name
    decoded = to_detection(traced.names, flat, traced.output_type)
    assert decoded["keypoints"].shape == (20, 17, 3)
    for name in ("keypoints", "keypoints_scores"):
        assert torch.equal(decoded[name], expected[name]), name
    for field in "MIUVSK":
        assert torch.equal(got[f"densepose.{field}"], getattr(expected["densepose"], field)), field


def test_detectron2_chart_predictor_outputs_have_no_s_k_or_keypoints():
    from ktn_model.config import setup_cfg
    from ktn_model.modeling import build_model

    cfg = setup_cfg("configs/ktn_tiny_cpu.yaml", ["MODEL.DEVICE", "cpu", "MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME",
                                                  "DensePoseChartPredictor", "MODEL.ROI_DENSEPOSE_HEAD.KTM", "none"])
    output_type = build_model(cfg).roi_heads.densepose_predictor.output_type
    assert output_names(output_type) == ["boxes", "scores", "labels", "densepose.M", "densepose.I", "densepose.U",
                                         "densepose.V"]


def test_densepose_output_split_keeps_rows_in_order_with_empty_images():
    maps = {f: torch.arange(3.0).reshape(3, 1, 1, 1) + k for k, f in enumerate("MIUV")}
    parts = DensePoseOutput(**maps).split([2, 0, 1])
    assert [len(p) for p in parts] == [2, 0, 1] and not hasattr(parts[0], "S")
    assert parts[0].U[:, 0, 0, 0].tolist() == [2.0, 3.0] and parts[2].V[:, 0, 0, 0].tolist() == [5.0]


def test_onnx_export_and_infer_match_pytorch(tmp_path, trained, images):
    """Same detections (boxes within 1e-3 px, scores within 1e-4) and IUV / INDS PNGs on >= 99.9 % of pixels."""
    _needs_onnx()
    weights, _, _ = trained
    folder, pixels = images
    onnx_file = tmp_path / "model.onnx"
    output = _export(weights, onnx_file, "onnx")
    assert "checked on a 320x427 image" in output and "boxes within" in output
    assert is_exported(onnx_file) and not is_exported(weights)
    exported, eager = Predictor.from_checkpoint(onnx_file), Predictor.from_checkpoint(weights, opts=THRESHOLD)
    assert exported.postprocess.fg_threshold == eager.postprocess.fg_threshold == 0.3
    counts = []
    for p in pixels.values():
        got, expected = exported(p), eager(p)
        counts.append(len(expected["scores"]))
        assert len(got["scores"]) == counts[-1]
        np.testing.assert_allclose(got["boxes"], expected["boxes"], rtol=0, atol=1e-3)
        np.testing.assert_allclose(got["scores"], expected["scores"], rtol=0, atol=1e-4)
        np.testing.assert_allclose(got["keypoints"], expected["keypoints"], rtol=0, atol=1e-3)
    assert len(set(counts)) > 1 and 0 < min(counts) and max(counts) < 20  # the count is dynamic in the graph
    for name, w in (("onnx", onnx_file), ("torch", weights)):
        res = CliRunner().invoke(app, ["infer", str(folder), "--weights", str(w), "--out", str(tmp_path / name),
                                       "--min-score", "0", "--vis", "dp_segm", *THRESHOLD])
        assert res.exit_code == 0, res.output
    for name, p in pixels.items():
        for kind in ("IUV", "INDS", "dp_segm"):
            a, b = (np.asarray(Image.open(tmp_path / d / f"{name}_{kind}.png")) for d in ("onnx", "torch"))
            assert a.shape[:2] == p.shape[:2]
            same = (a == b).reshape(*p.shape[:2], -1).all(-1).mean()
            assert same >= 0.999, (name, kind, same)
    assert (tmp_path / "onnx" / "results.json").is_file()


def test_torchscript_export_runs_through_the_predictor(tmp_path, trained, images):
    weights, _, _ = trained
    _, pixels = images
    out = tmp_path / "model.torchscript"
    assert "checked on a 320x427 image" in _export(weights, out, "torchscript")
    assert is_exported(out)
    cfg, model = load_exported(out, ["INPUT.MIN_SIZE_TEST", "288"])
    assert cfg.INPUT.MIN_SIZE_TEST == 288 and cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST == 0.37
    with pytest.raises(ValueError, match="an exported graph runs in float32"):
        load_exported(out, ["TEST.DENSEPOSE_PRECISION", "bfloat16"])
    exported, eager = Predictor.from_checkpoint(out), Predictor.from_checkpoint(weights, opts=THRESHOLD)
    got, expected = exported(pixels["tall"]), eager(pixels["tall"])
    np.testing.assert_allclose(got["boxes"], expected["boxes"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(got["scores"], expected["scores"], rtol=0, atol=1e-4)


def test_export_and_infer_errors_are_one_line_with_exit_code_2(tmp_path, trained):
    weights, _, _ = trained
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)
    cases = [
        (["export", "--weights", str(weights), "--out", str(tmp_path / "m.x"), "--format", "tflite"],
         "--format tflite: choose one of onnx, torchscript"),
        (["export", "--weights", str(tmp_path / "none.pth"), "--out", str(tmp_path / "m.onnx")],
         "none.pth: checkpoint not found"),
        (["infer", str(image), "--weights", str(weights), "--out", str(tmp_path / "o"), "--batch-size", "0"],
         "--batch-size 0: must be at least 1"),
    ]
    try:
        import onnxruntime  # noqa: F401

        cases.append((["infer", str(image), "--weights", str(tmp_path / "broken.onnx"), "--out", str(tmp_path / "o")],
                      "broken.onnx: not a readable ONNX model"))
    except ImportError:
        cases.append((["infer", str(image), "--weights", str(tmp_path / "broken.onnx"), "--out", str(tmp_path / "o")],
                      "broken.onnx: running ONNX models needs onnxruntime"))
    for args, message in cases:
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2 and message in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "m.x").exists() and not (tmp_path / "m.onnx").exists()
