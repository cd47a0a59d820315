"""Steady video: identities by box IoU, temporal smoothing that keeps part boundaries, the video CLI path."""

import io
import json
import sys

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.inference import video
from ktn_model.inference.smoothing import TemporalSmoother, to_box_grid, vote
from ktn_model.inference.steady import SteadyVideo
from ktn_model.inference.tracking import IoUTracker
from ktn_model.inference.writer import InferenceRun
from ktn_model.modeling.structures import DensePoseChartResult


def test_tracker_rule_matching_new_ids_in_score_order_and_the_gap():
    t = IoUTracker(min_iou=0.3, max_gap=1)
    a, b = [0, 0, 10, 10], [20, 0, 30, 10]
    assert t.update(np.array([b, a]), np.array([0.5, 0.9])).tolist() == [2, 1]  # new ids by descending score
    assert t.update(np.array([[21, 0, 31, 10], [1, 0, 11, 10]]), np.array([0.95, 0.6])).tolist() == [2, 1]
    assert t.update(np.array([[2, 0, 12, 10]]), np.array([0.9])).tolist() == [1]  # track 2 unseen: frame 2
    assert t.update(np.zeros((0, 4)), np.zeros(0)).tolist() == []  # frame 3: track 2 unseen for 2 frames: ends
    assert t.update(np.array([[21, 0, 31, 10], [2, 0, 12, 10]]), np.array([0.9, 0.8])).tolist() == [3, 1]
    assert sorted(t.tracks) == [1, 3] and t.next_id == 4


def test_tracker_ties_go_to_the_lower_track_id_and_the_lower_detection_index():
    t = IoUTracker(min_iou=0.1)
    t.update(np.array([[0, 0, 10, 10], [10, 0, 20, 10]]), np.array([0.9, 0.8]))  # ids 1, 2
    # one detection exactly between both tracks: equal IoU, track 1 takes it; the other detection starts track 3
    assert t.update(np.array([[5, 0, 15, 10], [40, 0, 50, 10]]), np.array([0.5, 0.9])).tolist() == [1, 3]
    t = IoUTracker(min_iou=0.1)
    t.update(np.array([[10, 0, 20, 10]]), np.array([0.9]))
    assert t.update(np.array([[15, 0, 25, 10], [5, 0, 15, 10]]), np.array([0.1, 0.9])).tolist() == [1, 2]


def test_box_grid_resampling_and_the_vote():
    grid = np.array([[1, 2], [3, 4]], np.uint8)
    assert to_box_grid(grid, 4, 4).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert to_box_grid(grid, 1, 3).tolist() == [[3, 4, 4]]  # centres at row 0.5·2 = 1, cols 1/3, 1, 5/3
    labels = np.array([[[3, 1, 0]], [[5, 2, 0]], [[3, 3, 7]]], np.uint8)  # (K=3, 1, 3), current frame first
    uv = np.zeros((3, 2, 1, 3), np.float32)
    uv[:, 0, 0, 0] = [0.75, 0.125, 0.25]
    voted, smooth_uv = vote(labels, uv)
    assert voted.tolist() == [[3, 1, 0]]  # 3 wins 2:1; 1 / 2 / 3 tie -> current; background 2:1
    assert smooth_uv[0, 0].tolist() == [0.5, 0.0, 0.0]  # part 3's U only: (0.75 + 0.25) / 2; 0 off the body


def test_smoothing_removes_a_one_frame_flicker_follows_a_lasting_change_and_keeps_static_maps():
    s = TemporalSmoother(window=3)
    base = np.zeros((4, 6), np.uint8)
    base[:, :3], base[:, 3:] = 2, 9  # a vertical part boundary
    uv = np.full((2, 4, 6), 0.5, np.float32)
    flicker = base.copy()
    flicker[:, 3] = 2  # the boundary jumps one pixel for one frame
    out = [s.smooth(1, labels, uv)[0] for labels in (base, base, flicker, base, base, flicker, flicker, flicker)]
    assert all(np.array_equal(o, base) for o in out[:6])  # static, then the one-frame jump voted away
    assert np.array_equal(out[6], flicker) and np.array_equal(out[7], flicker)  # a change that lasts: one frame late
    big = np.kron(base, np.ones((2, 2), np.uint8))  # the same person, box twice as large
    assert np.array_equal(TemporalSmoother(3).smooth(1, base, uv)[0], base)
    assert np.array_equal(s.smooth(1, big, np.full((2, 8, 12), 0.5, np.float32))[0], np.kron(flicker, np.ones((2, 2))))


def _result(labels):
    labels = torch.as_tensor(labels, dtype=torch.uint8)
    return DensePoseChartResult(labels, torch.full((2, *labels.shape), 0.5) * (labels > 0))


def test_steady_video_tracks_smooths_per_person_and_records_tracks():
    steady = SteadyVideo(window=3)
    a, b = np.full((2, 2), 4, np.uint8), np.full((2, 2), 7, np.uint8)
    frames = [([[0, 0, 2, 2], [10, 0, 12, 2]], [0.9, 0.8], [a, b]),
              ([[10, 0, 12, 2], [0, 0, 2, 2]], [0.9, 0.8], [np.full((2, 2), 5, np.uint8), a]),  # order swapped
              ([[0, 0, 2, 2], [10, 0, 12, 2]], [0.9, 0.8], [a, b])]  # fmt: skip
    outs = []
    for boxes, scores, maps in frames:
        outs.append(steady({"boxes": torch.tensor(boxes, dtype=torch.float32), "scores": torch.tensor(scores),
                            "densepose": [_result(m) for m in maps]}))
    assert [o["track_ids"].tolist() for o in outs] == [[1, 2], [2, 1], [1, 2]]
    assert outs[1]["densepose"][0].labels.tolist() == [[5, 5], [5, 5]]  # track 2: 7 then 5: tie -> current
    assert outs[2]["densepose"][1].labels.tolist() == [[7, 7], [7, 7]]  # 7, 5, 7: the vote, not person 1's 4
    assert [r["track_id"] for r in steady.records] == [1, 2, 2, 1, 1, 2]
    assert steady.records[1] == {"frame": 0, "track_id": 2, "bbox": [10.0, 0.0, 2.0, 2.0], "score": 0.800000011920929}


def _detections(rng, count):
    """A Predictor-like output of ``count`` persons with random boxes and maps, the render frame's too."""
    corners = rng.integers(0, 20, (count, 2))
    boxes = np.concatenate([corners, corners + rng.integers(4, 12, (count, 2))], 1)
    maps = [_result(rng.integers(0, 25, tuple(rng.integers(2, 6, 2)), np.uint8)) for _ in range(count)]
    renders = [_result(rng.integers(0, 25, (3, 3), np.uint8)) for _ in range(count)]
    return {"boxes": torch.tensor(boxes, dtype=torch.float32), "scores": torch.tensor(rng.random(count)).float(),
            "densepose": maps, "render": {"densepose": renders}}


def test_the_steady_state_saved_without_pickle_continues_exactly_as_the_uninterrupted_object():
    rng = np.random.default_rng(1)
    frames = [_detections(rng, count) for count in (2, 3, 1, 0, 2, 3, 2)]
    whole = SteadyVideo(window=3, tracker=IoUTracker(min_iou=0.1, max_gap=1))
    expected = [whole(frame) for frame in frames]
    for n in range(1, len(frames)):
        steady = SteadyVideo(window=3, tracker=IoUTracker(min_iou=0.1, max_gap=1))
        for frame in frames[:n]:
            steady(frame)
        saved = io.BytesIO()
        np.savez(saved, **steady.state())
        saved.seek(0)
        restored = SteadyVideo()
        with np.load(saved, allow_pickle=False) as arrays:
            restored.restore(dict(arrays))
        assert restored.tracker.state() == steady.tracker.state() and restored.records == steady.records
        for frame, want in zip(frames[n:], expected[n:], strict=True):
            got = restored(frame)
            assert got["track_ids"].tolist() == want["track_ids"].tolist()
            for mine, theirs in ((got, want), (got["render"], want["render"])):  # both smoothers
                pairs = zip(mine["densepose"], theirs["densepose"], strict=True)
                assert all(a.labels.equal(b.labels) and a.uv.equal(b.uv) for a, b in pairs)
        assert restored.records == whole.records


def _avi(path, frames=8):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (48, 64, 3), np.uint8))
    writer.release()


def test_a_video_that_stops_decoding_half_way_keeps_its_frames_warns_once_and_exits_1(tmp_path, trained):
    torch.set_num_threads(1)
    weights, _, _ = trained
    _avi(tmp_path / "whole.avi")
    data = (tmp_path / "whole.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])  # the header still announces 8 frames
    args = ["infer", str(tmp_path / "cut.avi"), "INPUT.MIN_SIZE_TEST", "96", "--weights", str(weights),
            "--min-score", "0", "--vis", "dp_viridis", "--steady", "3", "--out", str(tmp_path / "out")]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1, res.output
    warnings = [line for line in res.output.splitlines() if line.startswith(("warning", "error"))]
    assert warnings == [f"warning: {tmp_path / 'cut.avi'}: decoding stopped after frame 3 of 8; the 3 frames so "
                        "far are written"]
    capture = cv2.VideoCapture(str(tmp_path / "out" / "cut_dp_viridis.mp4"))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 3
    tracks = json.loads((tmp_path / "out" / "cut_tracks.json").read_text())
    assert tracks and {r["frame"] for r in tracks} <= set(range(3))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".parts", "cut_dp_viridis.mp4",
                                                                   "cut_tracks.json", "results.json"]
    written = (tmp_path / "out" / "cut_dp_viridis.mp4").stat().st_mtime_ns
    again = CliRunner().invoke(app, args)  # the stopped video is done: skipped, no warning, nothing rewritten
    assert again.exit_code == 0 and "warning" not in again.output, again.output
    assert (tmp_path / "out" / "cut_dp_viridis.mp4").stat().st_mtime_ns == written
    res = CliRunner().invoke(app, [*args[:-2], "--out", str(tmp_path / "neg"), "--steady", "-1"])
    assert res.exit_code == 2 and res.output.strip() == "error: --steady -1: must be at least 0"


def test_a_restarted_run_redoes_only_the_video_whose_output_is_missing(tmp_path, trained, monkeypatch):
    torch.set_num_threads(1)
    weights, _, _ = trained
    (tmp_path / "in").mkdir()
    _avi(tmp_path / "in" / "a.avi", frames=3)
    _avi(tmp_path / "in" / "b.avi", frames=3)
    out = tmp_path / "out"
    args = ["infer", str(tmp_path / "in" / "a.avi"), str(tmp_path / "in" / "b.avi"), "INPUT.MIN_SIZE_TEST", "96",
            "--weights", str(weights), "--min-score", "0", "--vis", "dp_viridis", "--steady", "1",
            "--out", str(out)]  # fmt: skip
    annotated: list[str] = []
    video = InferenceRun.video
    monkeypatch.setattr(InferenceRun, "video", lambda job, path, name: annotated.append(name) or video(job, path, name))
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    first = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    assert sorted(first) == [".lock", "a.avi.json", "a_dp_viridis.mp4", "a_tracks.json", "b.avi.json",
                             "b_dp_viridis.mp4", "b_tracks.json", "results.json"]  # fmt: skip
    assert first["a.avi.json"][0] == first["b.avi.json"][0] == first["results.json"][0] == b"[]"
    (out / "a_dp_viridis.mp4").unlink()  # as if the run had stopped before a's video was renamed into place
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert annotated == ["a.avi", "b.avi", "a.avi"]  # the restart made a's video only
    for name in ("b_dp_viridis.mp4", "b_tracks.json", "b.avi.json"):  # b untouched
        path = next(out.rglob(name))
        assert (path.read_bytes(), path.stat().st_mtime_ns) == first[name]
    assert (out / "a_dp_viridis.mp4").read_bytes() == first["a_dp_viridis.mp4"][0]  # made again, the same bytes
    assert (out / "results.json").read_bytes() == b"[]"  # image names only: videos add no detections


def _decoded(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    return frames


@pytest.mark.parametrize(("stop", "kept"), [(4, 1), (6, 2)])  # the frame annotating stops at; segments kept
def test_an_interrupted_video_continues_from_its_last_finished_segment_as_if_never_stopped(
        tmp_path, trained, monkeypatch, stop, kept):  # fmt: skip
    torch.set_num_threads(1)
    weights, _, _ = trained
    monkeypatch.setattr(video, "SEGMENT_FRAMES", 3)
    _avi(tmp_path / "clip.avi", frames=7)

    def args(out):
        return ["infer", str(tmp_path / "clip.avi"), "INPUT.MIN_SIZE_TEST", "96", "--weights", str(weights),
                "--min-score", "0", "--vis", "dp_segm", "--steady", "3", "--out", str(tmp_path / out)]  # fmt: skip

    assert CliRunner().invoke(app, args("whole")).exit_code == 0
    annotated = []
    annotate = InferenceRun._annotate_frame

    def interrupted(job, frame, vis):
        if len(annotated) == stop:
            raise KeyboardInterrupt
        annotated.append(frame)
        return annotate(job, frame, vis)

    monkeypatch.setattr(InferenceRun, "_annotate_frame", interrupted)
    res = CliRunner().invoke(app, args("out"))
    assert res.exit_code == 130, res.output
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert left == sorted(f".clip_dp_segm.seg{k:05d}.{ext}" for k in range(kept) for ext in ("mp4", "npz"))
    annotated.clear()
    stop = -1
    res = CliRunner().invoke(app, args("out"))
    assert res.exit_code == 0, res.output
    assert len(annotated) == 7 - 3 * kept  # the kept segments' frames are decoded, not annotated
    whole, out = tmp_path / "whole", tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in whole.iterdir())  # no hidden file left
    assert (out / "clip_tracks.json").read_bytes() == (whole / "clip_tracks.json").read_bytes()
    frames, expected = _decoded(out / "clip_dp_segm.mp4"), _decoded(whole / "clip_dp_segm.mp4")
    assert len(frames) == 7 and all(np.array_equal(a, b) for a, b in zip(frames, expected, strict=True))
    assert (out / "clip_dp_segm.mp4").read_bytes() == (whole / "clip_dp_segm.mp4").read_bytes()


def test_without_pyav_a_video_is_one_error_line_before_any_work(tmp_path, trained, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av: ImportError
    _avi(tmp_path / "clip.avi", frames=2)
    res = CliRunner().invoke(app, ["infer", str(tmp_path / "clip.avi"), "--weights", str(trained[0]),
                                   "--out", str(tmp_path / "out")])  # fmt: skip
    assert res.exit_code == 2, res.output
    assert res.output.strip() == "error: writing annotated videos needs PyAV: pip install 'ktn[video]'"
    assert not (tmp_path / "out").exists()
