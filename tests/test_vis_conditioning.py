"""Conditioning renders (dp_viridis, dp_parula) against comfyui_controlnet_aux 1.1.5's DensePose rule."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.vis.conditioning import STYLES, render_conditioning, render_size, viridis_table
from ktn_model.vis.parula import PARULA_RGB

# floor(I * 255 / 24) for I = 1..24, and the colours of parts 1..24, read from cv2.applyColorMap by hand.
PART_INDEX = [10, 21, 31, 42, 53, 63, 74, 85, 95, 106, 116, 127, 138, 148, 159, 170, 180, 191, 201, 212, 223, 233,
              244, 255]  # fmt: skip
VIRIDIS_PARTS = [
    (71, 16, 99), (72, 31, 112), (71, 44, 122), (68, 57, 131), (64, 70, 136), (59, 81, 139), (54, 93, 141),
    (49, 104, 142), (44, 113, 142), (40, 124, 142), (37, 133, 142), (33, 144, 141), (31, 154, 138), (32, 163, 134),
    (39, 173, 129), (53, 183, 121), (70, 192, 111), (92, 200, 99), (115, 208, 86), (142, 214, 69), (170, 220, 50),
    (197, 224, 33), (226, 228, 24), (253, 231, 37)]  # fmt: skip
PARULA_PARTS = [
    (37, 60, 163), (20, 80, 194), (4, 97, 223), (8, 110, 221), (14, 122, 216), (20, 132, 212), (15, 144, 208),
    (11, 156, 203), (6, 166, 198), (22, 173, 185), (38, 179, 172), (55, 185, 159), (86, 187, 144), (114, 189, 130),
    (145, 191, 116), (170, 189, 105), (192, 188, 96), (216, 186, 86), (228, 192, 74), (240, 199, 60), (252, 206, 46),
    (251, 220, 36), (250, 235, 25), (249, 251, 14)]  # fmt: skip
BACKGROUND = {"dp_viridis": (68, 1, 84), "dp_parula": (0, 0, 0)}
PART_COLOURS = {"dp_viridis": VIRIDIS_PARTS, "dp_parula": PARULA_PARTS}


def test_tables_are_opencvs_viridis_and_parula():
    grey = np.arange(256, dtype=np.uint8)[:, None]
    for table, cmap in ((viridis_table(), cv2.COLORMAP_VIRIDIS), (PARULA_RGB, cv2.COLORMAP_PARULA)):
        assert np.array_equal(table, cv2.applyColorMap(grey, cmap)[:, 0, ::-1])
    assert [i * 255 // 24 for i in range(1, 25)] == PART_INDEX
    assert [tuple(map(int, PARULA_RGB[i])) for i in PART_INDEX] == PARULA_PARTS
    assert [tuple(map(int, viridis_table()[i])) for i in PART_INDEX] == VIRIDIS_PARTS


@pytest.mark.parametrize("kind", ["dp_viridis", "dp_parula"])
def test_each_part_colour_the_background_and_the_truncated_box(kind):
    labels = np.array([[0, *range(1, 25), 7], [5] * 26], np.uint8)  # (2, 26): row 1 lies below the box's h
    box = np.array([[2.7, 1.2, 27.95, 2.9]], np.float32)  # x = 2, y = 1, w = int(25.25) = 25, h = int(1.7) = 1
    got = render_conditioning(kind, (4, 30), box, np.array([0.9]), [labels])
    expected = np.tile(np.array(BACKGROUND[kind], np.uint8), (4, 30, 1))
    expected[1, 3:27] = PART_COLOURS[kind]  # parts 1..24 at x = 3..26; I = 0 at x = 2 keeps the background
    assert got.dtype == np.uint8 and np.array_equal(got, expected)


@pytest.mark.parametrize("kind", ["dp_viridis", "dp_parula"])
def test_overlapping_persons_are_painted_in_descending_score_order(kind):
    a = np.full((4, 4), 3, np.uint8)  # score 0.9, box (0, 0, 4, 4)
    b = np.array([[0, 0, 0], [0, 20, 20], [0, 20, 20]], np.uint8)  # score 0.4, box (2, 2, 5, 5)
    boxes = np.array([[2, 2, 5, 5], [0, 0, 4, 4]], np.float32)  # given lowest score first: the order is by score
    got = render_conditioning(kind, (6, 6), boxes, np.array([0.4, 0.9]), [b, a])
    bg, part3, part20 = BACKGROUND[kind], PART_COLOURS[kind][2], PART_COLOURS[kind][19]
    expected = np.tile(np.array(bg, np.uint8), (6, 6, 1))
    expected[0:4, 0:4] = part3
    expected[3:5, 3:5] = part20  # the lower score is drawn later, on top, where its I > 0
    assert np.array_equal(got, expected)  # at (2, 2) b has I = 0: a's part 3 stays


@pytest.mark.parametrize("kind", ["dp_viridis", "dp_parula"])
def test_no_detections_and_empty_boxes_give_the_background(kind):
    bg = np.tile(np.array(BACKGROUND[kind], np.uint8), (3, 5, 1))
    assert np.array_equal(render_conditioning(kind, (3, 5), np.zeros((0, 4)), np.zeros(0), []), bg)
    thin = np.array([[1.0, 0.0, 1.9, 3.0]], np.float32)  # w = int(0.9) = 0: detectron2's visualiser skips it
    assert np.array_equal(render_conditioning(kind, (3, 5), thin, np.ones(1), [np.full((3, 1), 9, np.uint8)]), bg)


def _reference_rule(kind, size, boxes, scores, labels):
    """The reference's steps written over OpenCV as it runs them: BGR canvas, applyColorMap, masked paste."""
    canvas = np.zeros((*size, 3), np.uint8)
    for d in np.argsort(-scores, kind="stable"):
        xywh = boxes[d].copy()
        xywh[2:] -= xywh[:2]
        x, y, w, h = (int(v) for v in xywh)
        if w <= 0 or h <= 0:
            continue
        matrix = labels[d]
        vis = cv2.applyColorMap((matrix.astype(np.float32) * np.float32(255 / 24)).clip(0, 255).astype(np.uint8),
                                cv2.COLORMAP_VIRIDIS if kind == "dp_viridis" else cv2.COLORMAP_PARULA)
        bg = matrix == 0
        vis[bg] = canvas[y:y + h, x:x + w][bg]
        canvas[y:y + h, x:x + w] = vis
    rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)
    if kind == "dp_viridis":
        for c, fill in enumerate((68, 1, 84)):
            rgb[..., c][rgb[..., c] == 0] = fill
    return rgb


@pytest.mark.parametrize("kind", ["dp_viridis", "dp_parula"])
def test_random_multi_person_scenes_equal_the_reference_rule(kind):
    rng = np.random.default_rng(5)
    for _ in range(20):
        n = int(rng.integers(0, 6))
        xy = rng.uniform(0, 40, (n, 2)).astype(np.float32)
        boxes = np.concatenate([xy, xy + rng.uniform(0.5, 30, (n, 2)).astype(np.float32)], 1).clip(0, 48)
        scores = rng.choice([0.3, 0.5, 0.8, 0.95], n)  # ties too
        labels = []
        for x1, y1, x2, y2 in boxes:
            h, w = max(int(y2 - y1), 1), max(int(x2 - x1), 1)
            labels.append(np.where(rng.random((h, w)) < 0.3, 0, rng.integers(1, 25, (h, w))).astype(np.uint8))
        got = render_conditioning(kind, (50, 48), boxes, scores, labels)
        assert np.array_equal(got, _reference_rule(kind, (50, 48), boxes, scores, labels))


def test_render_size_follows_the_short_side_and_refuses_zero():
    assert render_size(480, 640, 512) == (512, 683)
    assert render_size(640, 480) == (640, 480)
    assert render_size(101, 50, 25) == (50, 25)  # 50.5 rounds half to even
    with pytest.raises(ValueError, match="--render-size must be at least 1 pixel, got 0"):
        render_size(10, 10, 0)
    assert set(STYLES) == {"dp_viridis", "dp_parula"}


def test_ktn_infer_writes_the_renders_at_the_input_size_or_the_requested_one(tmp_path, trained):
    weights, _, _ = trained
    rng = np.random.default_rng(2)
    (tmp_path / "in").mkdir()
    Image.fromarray(rng.integers(0, 255, (60, 80, 3), np.uint8)).save(tmp_path / "in" / "a.png")
    base = ["infer", str(tmp_path / "in"), "--weights", str(weights), "--min-score", "0",
            "--vis", "dp_viridis,dp_parula"]  # fmt: skip
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "full")])
    assert res.exit_code == 0, res.output
    results = json.loads((tmp_path / "full" / "results.json").read_text())
    assert results  # random weights with --min-score 0: detections to paint
    viridis = np.asarray(Image.open(tmp_path / "full" / "a_dp_viridis.png"))
    parula = np.asarray(Image.open(tmp_path / "full" / "a_dp_parula.png"))
    assert viridis.shape == parula.shape == (60, 80, 3)
    person = (parula != 0).any(-1)  # parula's background is black, its table has no black
    assert person.any() and np.array_equal((viridis != (68, 1, 84)).any(-1), person)
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "small"), "--render-size", "30"])
    assert res.exit_code == 0, res.output
    assert np.asarray(Image.open(tmp_path / "small" / "a_dp_viridis.png")).shape == (30, 40, 3)
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "zero"), "--render-size", "0"])
    assert res.exit_code == 2 and res.output.strip() == "error: --render-size must be at least 1 pixel, got 0"
    assert not (tmp_path / "zero").exists()
