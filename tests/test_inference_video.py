"""Steady video: identities by box IoU, temporal smoothing that keeps part boundaries, the video CLI path."""

import json

import cv2
import numpy as np
import torch
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.inference.smoothing import TemporalSmoother, to_box_grid, vote
from ktn_model.inference.steady import SteadyVideo
from ktn_model.inference.tracking import IoUTracker
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
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cut_dp_viridis.mp4", "cut_tracks.json",
                                                                   "results.json"]
    res = CliRunner().invoke(app, [*args[:-2], "--out", str(tmp_path / "neg"), "--steady", "-1"])
    assert res.exit_code == 2 and res.output.strip() == "error: --steady must be 0 or more frames, got -1"
