"""``ktn infer``: inputs, full-image IUV/INDS pasting, pictures and results.json with the real tiny model."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.evaluation.results import decode_iuv
from ktn_model.inference.image_outputs import paste_iuv
from ktn_model.inference.inputs import collect_inputs, output_names
from ktn_model.inference.pipeline import Predictor
from ktn_model.modeling.structures import DensePoseChartResult
from ktn_model.vis.pictures import parse_vis

VIS = ["dp_contour", "dp_segm", "dp_u", "dp_v", "bbox", "keypoints"]


def _chart(iuv: np.ndarray) -> DensePoseChartResult:
    """The chart result whose encoding is ``iuv`` (U, V at the centre of each 1/255 step)."""
    uv = (iuv[1:].astype(np.float32) + 0.5) / 255 * (iuv[0] > 0)
    return DensePoseChartResult(torch.from_numpy(iuv[0].copy()), torch.from_numpy(uv))


def _output(boxes, scores, arrays):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32), "scores": torch.tensor(scores),
            "densepose": [_chart(a) for a in arrays]}


def test_paste_puts_each_box_at_its_corner_and_the_higher_score_wins():
    low = np.zeros((3, 2, 3), np.uint8)
    low[:, :, :] = [[[5]], [[50]], [[60]]]
    high = np.zeros((3, 2, 2), np.uint8)
    high[:, 0, :] = [[7], [70], [80]]  # second row is background (I = 0)
    out = _output([[1.0, 1.0, 4.9, 3.2], [2.5, 1.7, 4.6, 3.9]], [0.6, 0.9], [low, high])
    iuv, inds = paste_iuv(out, 4, 6)
    expected_inds = np.array([[0, 0, 0, 0, 0, 0],
                              [0, 1, 2, 2, 0, 0],
                              [0, 1, 1, 1, 0, 0],
                              [0, 0, 0, 0, 0, 0]], np.uint8)
    np.testing.assert_array_equal(inds, expected_inds)
    np.testing.assert_array_equal(iuv[1, 2], [7, 70, 80])
    np.testing.assert_array_equal(iuv[2, 2], [5, 50, 60])
    np.testing.assert_array_equal(iuv[0], 0)


def test_paste_clips_boxes_at_the_image_border():
    arr = np.full((3, 3, 3), 9, np.uint8)
    iuv, inds = paste_iuv(_output([[3.0, 2.0, 6.0, 5.0]], [0.9], [arr]), 4, 5)
    assert inds[2:, 3:].tolist() == [[1, 1], [1, 1]] and inds.sum() == 4


def test_inputs_from_files_folders_and_globs(tmp_path):
    for name in ("b.png", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.png").write_bytes(b"")
    found = collect_inputs([str(tmp_path), str(tmp_path / "sub" / "*.png"), str(tmp_path / "b.png")])
    assert [p.name for p in found] == ["a.jpg", "b.png", "c.png"]
    with pytest.raises(FileNotFoundError, match="nothing"):
        collect_inputs([str(tmp_path / "nothing*.png")])
    with pytest.raises(ValueError, match="notes.txt: not an image"):
        collect_inputs([str(tmp_path / "notes.txt")])
    with pytest.raises(ValueError, match="unknown visualisation dp_x"):
        parse_vis("bbox,dp_x")


def test_infer_writes_images_that_decode_to_the_model_predictions(tmp_path, trained):
    weights, model, cfg = trained
    torch.set_num_threads(1)  # the same as `--threads 1`: float sums may depend on the thread count
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    sizes = {"wide": (200, 280), "tall": (260, 190)}
    images = {name: rng.integers(0, 255, (*size, 3), np.uint8) for name, size in sizes.items()}
    for name, pixels in images.items():
        Image.fromarray(pixels).save(tmp_path / "in" / f"{name}.png")
    res = CliRunner().invoke(app, ["infer", str(tmp_path / "in"), "--weights", str(weights), "--out",
                                   str(tmp_path / "out"), "--min-score", "0", "--vis", ",".join(VIS),
                                   "--threads", "1"])
    assert res.exit_code == 0, res.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    predictor = Predictor(cfg, model)
    for image_id, name in enumerate(sorted(images), start=1):
        pixels = images[name]
        expected = predictor(pixels)
        assert len(expected["scores"]) > 0
        iuv = np.asarray(Image.open(tmp_path / "out" / f"{name}_IUV.png"))
        inds = np.asarray(Image.open(tmp_path / "out" / f"{name}_INDS.png"))
        assert iuv.shape == (*pixels.shape[:2], 3) and inds.shape == pixels.shape[:2]
        for vis in VIS:
            assert Image.open(tmp_path / "out" / f"{name}_{vis}.png").size == (pixels.shape[1], pixels.shape[0])
        mine = [r for r in results if r["image_id"] == image_id]
        assert [r["file_name"] for r in mine] == [f"{name}.png"] * len(expected["scores"])
        _check_detections(mine, expected, iuv, inds)


def _check_detections(results, expected, iuv, inds):
    """Each result decodes to the model's IUV; the full-image PNGs hold it wherever INDS names it."""
    claimed = 0
    for k, (det, box, array) in enumerate(zip(results, expected["boxes"], expected["densepose"], strict=True)):
        array = array.iuv()
        np.testing.assert_array_equal(decode_iuv(det["densepose"][0][1]), array)
        assert det["score"] == pytest.approx(float(expected["scores"][k]))
        x0, y0 = int(box[0]), int(box[1])
        ys, xs = np.nonzero(inds == k + 1)
        np.testing.assert_array_equal(iuv[ys, xs], array[:, ys - y0, xs - x0].T)
        claimed += len(ys)
    assert claimed == int((inds > 0).sum()) == int((iuv[..., 0] > 0).sum()) > 0


def test_infer_input_errors_are_one_line_with_exit_code_2(tmp_path, trained):
    weights, _, _ = trained
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "x.png")
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "other.json").write_text(json.dumps({"images": [{"id": 3, "file_name": "y.png"}]}))
    cases = [
        (["infer", str(tmp_path / "x.png"), "--weights", str(tmp_path / "no.pth"), "--out", str(tmp_path)],
         "no.pth: checkpoint not found"),
        (["infer", str(tmp_path / "none*.png"), "--weights", str(weights), "--out", str(tmp_path)],
         "no image or video found"),
        (["infer", str(tmp_path / "x.png"), "--weights", str(weights), "--out", str(tmp_path), "--annotations",
          str(tmp_path / "list.json")], "list.json: not a COCO json"),
        (["infer", str(tmp_path / "x.png"), "--weights", str(weights), "--out", str(tmp_path), "--annotations",
          str(tmp_path / "other.json")], "1 input image(s) are not in the annotations, e.g. x.png"),
        (["infer", str(tmp_path / "x.png"), "--weights", str(weights), "--out", str(tmp_path), "MODEL.NOPE", "1"],
         "unknown config key 'MODEL.NOPE'"),
        (["infer", str(tmp_path / "x.png"), "--weights", str(weights), "--config-file", str(tmp_path / "c.yaml"),
          "--out", str(tmp_path)], "c.yaml: config file not found, nor a preset"),
    ]
    for args, message in cases:
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2 and message in res.output and len(res.output.strip().splitlines()) == 1, res.output


def test_videos_are_annotated_frame_by_frame_when_opencv_is_present(tmp_path, trained):
    weights, _, _ = trained
    args = ["infer", str(tmp_path / "clip.mp4"), "--weights", str(weights), "--out", str(tmp_path / "out"),
            "--min-score", "0", "--vis", "dp_segm"]  # fmt: skip
    try:
        import cv2
    except ImportError:
        (tmp_path / "clip.mp4").write_bytes(b"")
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2 and "reading videos needs OpenCV" in res.output
        assert not (tmp_path / "out").exists()  # no empty output folder left behind
        return
    writer = cv2.VideoWriter(str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5, (128, 96))
    for k in range(3):
        writer.write(np.full((96, 128, 3), 40 * k, np.uint8))
    writer.release()
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    capture = cv2.VideoCapture(str(tmp_path / "out" / "clip_dp_segm.mp4"))
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    assert len(frames) == 3 and frames[0].shape == (96, 128, 3)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".parts", "clip_dp_segm.mp4", "results.json"]


def test_same_named_inputs_in_two_folders_keep_their_relative_paths(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.png").write_bytes(b"")
    paths = collect_inputs([str(tmp_path / "a" / "x.png"), str(tmp_path / "b")])
    assert list(output_names(paths).values()) == ["a/x.png", "b/x.png"]
    assert list(output_names(paths[:1]).values()) == ["x.png"]


def test_an_unreadable_image_is_skipped_the_rest_written_and_the_exit_code_is_1(tmp_path, trained):
    weights, _, _ = trained
    (tmp_path / "in").mkdir()
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(tmp_path / "in" / "good.png")
    (tmp_path / "in" / "bad.png").write_bytes(b"not a png")
    res = CliRunner().invoke(app, ["infer", str(tmp_path / "in"), "--weights", str(weights), "--out",
                                   str(tmp_path / "out"), "--vis", "bbox", "MODEL.DEVICE", "cpu"])
    assert res.exit_code == 1, res.output
    assert "1 image(s) could not be read" in res.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".parts", "good_INDS.png", "good_IUV.png", "good_bbox.png", "results.json"]  # .parts: the done images
