"""``ktn texture extract`` / ``apply``: synthetic predictions through the CLI, and one real tiny model run."""

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model import api
from ktn_model.config import setup_cfg
from ktn_model.data.synthetic import synth_scene
from ktn_model.modeling import build_model
from ktn_model.surface.texture import TextureAccumulator, fill_holes, paint, person_mask, to_uint8


def synthetic_frame(index: int) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(name, image, full-image GT IUV, INDS) of synthetic scene ``index``: what predict_iuv yields."""
    scene = synth_scene(5, index, 160)
    iuv = np.zeros((*scene.pixels.shape[:2], 3), np.uint8)
    inds = np.zeros(scene.pixels.shape[:2], np.uint8)
    for k, ann in enumerate(scene.annotations):
        if not ann["iscrowd"]:
            person = scene.iuv(k).transpose(1, 2, 0)
            iuv[person[..., 0] > 0] = person[person[..., 0] > 0]
            inds[person[..., 0] > 0] = k + 1
    return f"img{index}", scene.pixels, iuv, inds


@pytest.fixture
def frames(monkeypatch):
    """Two synthetic frames served in place of the network."""
    items = [synthetic_frame(k) for k in (1, 2)]
    calls = []

    def fake(inputs, weights, config_file, min_score):
        calls.append((inputs, weights, min_score))
        return iter(items)

    monkeypatch.setattr(api, "predict_iuv", fake)
    return items, calls


def _run(args: list[str]):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_extract_accumulates_the_largest_person_of_every_frame(tmp_path, frames):
    items, calls = frames
    res = _run(["texture", "extract", "in", "--weights", "w.pth", "--out", tmp_path / "atlas.png", "--tile-size", 32])
    assert res.exit_code == 0, res.output
    assert calls == [(["in"], Path("w.pth"), 0.8)]
    expected = TextureAccumulator(32)
    for _, image, iuv, inds in items:
        expected.add(image, iuv, person_mask(inds))
    atlas = np.asarray(Image.open(tmp_path / "atlas.png"))
    coverage = np.asarray(Image.open(tmp_path / "atlas_coverage.png"))
    assert atlas.shape == (192, 128, 3) and coverage.shape == (192, 128)
    np.testing.assert_array_equal(atlas, to_uint8(expected.atlas()))
    np.testing.assert_array_equal(coverage, expected.coverage() * 255)
    assert f"{int(expected.confidence.sum().round())} pixels from 2 image(s)" in res.output

    res = _run(["texture", "extract", "in", "--weights", "w.pth", "--out", tmp_path / "filled.png", "--tile-size", 32,
                "--fill", "--person", 1])  # fmt: skip
    assert res.exit_code == 0, res.output
    one = TextureAccumulator(32)
    for _, image, iuv, inds in items:
        one.add(image, iuv, person_mask(inds, 1))
    filled = np.asarray(Image.open(tmp_path / "filled.png"))
    np.testing.assert_array_equal(filled, to_uint8(fill_holes(one.atlas(), one.coverage())))


def test_apply_paints_every_person_and_rejects_a_wrong_size_atlas(tmp_path, frames):
    items, _ = frames
    rng = np.random.default_rng(0)
    atlas = rng.integers(0, 256, (6 * 20, 4 * 20, 3)).astype(np.uint8)
    Image.fromarray(atlas).save(tmp_path / "atlas.png")
    seen = (rng.random((120, 80)) < 0.5).astype(np.uint8) * 255
    Image.fromarray(seen).save(tmp_path / "cov.png")
    res = _run(["texture", "apply", tmp_path / "atlas.png", "in", "--weights", "w.pth", "--out", tmp_path / "out",
                "--alpha", 0.6, "--coverage", tmp_path / "cov.png"])  # fmt: skip
    assert res.exit_code == 0, res.output
    for name, image, iuv, _ in items:
        painted = np.asarray(Image.open(tmp_path / "out" / f"{name}_texture.png"))
        np.testing.assert_array_equal(painted, paint(image, iuv, atlas, opacity=seen / 255.0, alpha=0.6))
        assert (painted != image).any()
    Image.fromarray(atlas[:100]).save(tmp_path / "small.png")
    Image.fromarray(seen[:60]).save(tmp_path / "small_cov.png")
    for args, message in (
        ([tmp_path / "small.png"], "small.png: a texture atlas is 4N x 6N pixels (width x height, N >= 2), got 80 x"),
        ([tmp_path / "atlas.png", "--coverage", tmp_path / "small_cov.png"], "small_cov.png: coverage is 80 x 60"),
    ):
        res = _run(["texture", "apply", args[0], "in", "--weights", "w", "--out", tmp_path / "bad", *args[1:]])
        assert res.exit_code == 2 and message in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "bad").exists()


def test_extract_without_any_person_is_an_error_and_writes_nothing(tmp_path, monkeypatch):
    empty = ("x", np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8))
    monkeypatch.setattr(api, "predict_iuv", lambda *a: iter([empty]))
    res = _run(["texture", "extract", "in", "--weights", "w", "--out", tmp_path / "atlas.png"])
    assert res.exit_code == 2 and "no person pixels found" in res.output
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A tiny-preset checkpoint (random weights, seed 0) with its config.yaml beside it."""
    out = tmp_path_factory.mktemp("ckpt")
    cfg = setup_cfg("configs/ktn_tiny_cpu.yaml", ["OUTPUT_DIR", str(out)])
    torch.manual_seed(0)
    torch.save({"model": build_model(cfg).state_dict(), "iteration": 0}, out / "model_final.pth")
    (out / "config.yaml").write_text(cfg.dump())
    return out / "model_final.pth"


def _fake_cv2(frames: list[np.ndarray] | None) -> types.ModuleType:
    """An OpenCV stand-in whose VideoCapture plays ``frames`` (BGR), or cannot open (None)."""

    class Capture:
        def __init__(self, _path):
            self.frames = list(frames or [])

        def isOpened(self):  # noqa: N802 (OpenCV's name)
            return frames is not None

        def read(self):
            return (True, self.frames.pop(0)) if self.frames else (False, None)

        def release(self):
            pass

    return types.SimpleNamespace(VideoCapture=Capture, COLOR_BGR2RGB=4, cvtColor=lambda f, _code: f[..., ::-1])


def test_real_model_on_an_image_and_a_video(tmp_path, tiny_weights, monkeypatch):
    name, image, _, _ = synthetic_frame(2)
    Image.fromarray(image).save(tmp_path / "person.png")
    (tmp_path / "clip.mp4").write_bytes(b"\0" * 16)
    base = ["texture", "extract", tmp_path / "person.png", tmp_path / "clip.mp4", "--weights", tiny_weights,
            "--min-score", 0, "--tile-size", 16]  # fmt: skip
    monkeypatch.setitem(sys.modules, "cv2", None)  # OpenCV missing
    res = _run([*base, "--out", tmp_path / "a.png"])
    assert res.exit_code == 2 and "reading videos needs OpenCV" in res.output, res.output
    monkeypatch.setitem(sys.modules, "cv2", _fake_cv2(None))
    res = _run([*base, "--out", tmp_path / "a.png"])
    assert res.exit_code == 2 and "clip.mp4: not a readable video" in res.output and len(res.output.splitlines()) == 1
    assert not (tmp_path / "a.png").exists()
    monkeypatch.setitem(sys.modules, "cv2", _fake_cv2([image[..., ::-1], image[..., ::-1]]))
    res = _run([*base, "--out", tmp_path / "a.png"])
    assert res.exit_code == 0, res.output
    assert "from 3 image(s)" in res.output
    assert np.asarray(Image.open(tmp_path / "a.png")).shape == (96, 64, 3)
    res = _run(["texture", "apply", tmp_path / "a.png", tmp_path / "person.png", tmp_path / "clip.mp4",
                "--weights", tiny_weights, "--min-score", 0, "--out", tmp_path / "out"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "clip_000000_texture.png", "clip_000001_texture.png", "person_texture.png"]


def test_infer_paints_a_given_atlas_with_dp_iuv_texture(tmp_path, tiny_weights):
    weights = tiny_weights
    atlas = np.zeros((6 * 8, 4 * 8, 3), np.uint8)
    atlas[...] = (10, 200, 30)
    Image.fromarray(atlas).save(tmp_path / "atlas.png")
    Image.fromarray(np.full((90, 120, 3), 128, np.uint8)).save(tmp_path / "x.png")
    res = CliRunner().invoke(app, ["infer", str(tmp_path / "x.png"), "--weights", str(weights), "--out",
                                   str(tmp_path / "out"), "--min-score", "0", "--vis", "dp_iuv_texture",
                                   "--texture-atlas", str(tmp_path / "atlas.png")])
    assert res.exit_code == 0, res.output
    iuv = np.asarray(Image.open(tmp_path / "out" / "x_IUV.png"))
    picture = np.asarray(Image.open(tmp_path / "out" / "x_dp_iuv_texture.png").convert("RGB")).astype(int)
    person = iuv[..., 0] > 0
    assert person.sum() > 0
    assert np.abs(picture[person] - (10, 200, 30)).max() <= 2  # a uniform atlas paints its colour
    bad = tmp_path / "bad.png"
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(bad)
    res = CliRunner().invoke(app, ["infer", str(tmp_path / "x.png"), "--weights", str(weights), "--out",
                                   str(tmp_path / "out2"), "--texture-atlas", str(bad)])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
