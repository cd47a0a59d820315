"""``TEST.DENSEPOSE_PRECISION`` and ``ktn infer --precision``: the DensePose branch under autocast."""

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.export.graph import TracedKTN
from ktn_model.inference.pipeline import Predictor

BF16 = ["TEST.DENSEPOSE_PRECISION", "bfloat16"]


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(4).integers(0, 255, (240, 300, 3), np.uint8)


def test_bfloat16_keeps_the_float32_detections_and_rounds_only_the_densepose_maps(trained, image):
    weights, _, _ = trained
    exact, reduced = Predictor.from_checkpoint(weights), Predictor.from_checkpoint(weights, opts=BF16)
    assert reduced.model.roi_heads.densepose_dtype == torch.bfloat16
    tensors = [torch.tensor(image).permute(2, 0, 1).float().div(255)]
    with torch.no_grad():
        (a,), (b,) = exact.model(tensors), reduced.model(tensors)
    assert len(a["boxes"]) == 20
    for name in ("boxes", "scores", "labels"):
        assert torch.equal(a[name], b[name]), name  # the box branch is never autocast
    for field in "MIUVSK":
        x, y = getattr(a["densepose"], field), getattr(b["densepose"], field)
        assert y.dtype == torch.float32 and x.shape == y.shape
        gap = float((x - y).abs().max())
        assert 0 < gap < 0.05 * float(x.abs().max()), (field, gap)  # bfloat16's rounding, nothing more
    assert b["keypoints"].shape == (20, 17, 3)
    iuv = [(r.labels, r.uv) for p in (exact, reduced) for r in p(image)["densepose"]]
    half = len(iuv) // 2
    agree = np.mean([float((la == lb).float().mean()) for (la, _), (lb, _) in zip(iuv[:half], iuv[half:],
                                                                                    strict=True)])
    assert agree > 0.9


def test_unknown_precision_and_reduced_exports_are_refused(tmp_path, trained, image):
    weights, _, _ = trained
    path = tmp_path / "x.png"
    Image.fromarray(image).save(path)
    res = CliRunner().invoke(app, ["infer", str(path), "--weights", str(weights), "--out", str(tmp_path / "o"),
                                   "--precision", "int4"])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert "TEST.DENSEPOSE_PRECISION must be one of float32, bfloat16, float16, got 'int4'" in res.output
    with pytest.raises(ValueError, match="exported graphs run in float32"):
        TracedKTN(Predictor.from_checkpoint(weights, opts=BF16).model)


def test_infer_precision_flag_writes_the_same_detections(tmp_path, trained, image):
    weights, _, _ = trained
    path = tmp_path / "x.png"
    Image.fromarray(image).save(path)
    for precision in ("float32", "bfloat16"):
        res = CliRunner().invoke(app, ["infer", str(path), "--weights", str(weights), "--out",
                                       str(tmp_path / precision), "--min-score", "0", "--vis", "bbox",
                                       "--precision", precision])
        assert res.exit_code == 0, res.output
    a, b = (np.asarray(Image.open(tmp_path / p / "x_INDS.png")) for p in ("float32", "bfloat16"))
    assert a.shape == b.shape == image.shape[:2]
    assert (a == b).mean() > 0.9 and (a > 0).any()
