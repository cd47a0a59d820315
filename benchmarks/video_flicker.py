"""Flicker of DensePose on video with and without ``--steady K`` smoothing, on a synthetic walk whose truth is known.

The video: two persons of the synthetic set (``ktn_model.data.scene``) walk towards each other across a
192 x 144 frame in ``--frames`` frames (more frames = slower motion), arms and legs swinging three times, and
cross (the nearer one hides the other). The truth I, U, V come from the renderer. The per-frame predictor is
simulated, frame by frame independently, from the truth: each visible person's box is its truth box with every
side moved by N(0, ``--jitter``) pixels, and its maps are the truth maps of the true box resampled into the moved
one (a localisation error); then part labels within one pixel of a part boundary are swapped with a neighbour's
with probability ``--boundary-noise``, three 3 x 3 blobs get a random part, and U, V get N(0, ``--uv-noise``).
Those detections go through the product's tracker and smoother (``SteadyVideo``), pasted like ``NAME_IUV.png``.

Measured over the pixels inside a person in two consecutive frames (truth):
- label change: share of such pixels whose I differs from the previous frame, predicted and the truth's own;
- U/V change: mean |ΔU|, |ΔV| where I is the same in both frames;
- accuracy: share of truth person pixels with the right I; U/V error: mean |U − U*|, |V − V*| where I is right.

    .venv/bin/python benchmarks/video_flicker.py [--frames 48] [--windows 1,3,5] [--seed 0]
"""

from __future__ import annotations

import numpy as np
import torch
import typer

from ktn_model.data import body, scene
from ktn_model.data.meta import NUM_PATCHES
from ktn_model.engine.outputs import paste_iuv
from ktn_model.inference.smoothing import to_box_grid
from ktn_model.inference.steady import SteadyVideo
from ktn_model.modeling.structures import DensePoseChartResult

WIDTH, HEIGHT = 192, 144


def walk(frames: int) -> list[scene.Buffers]:
    """Truth render buffers of two persons walking towards each other."""
    out = []
    for t in range(frames):
        phase = 2 * np.pi * 3 * t / frames  # three strides along the path: more frames, slower motion
        persons = []
        for k, (x0, x1, yaw) in enumerate(((30.0, 160.0, -0.4), (165.0, 40.0, 0.4))):
            swing = 0.5 * np.sin(phase + k * np.pi)
            pose = body.Pose(arm_abduct=np.array([0.25, 0.25]), arm_flex=np.array([swing, -swing]),
                             elbow=np.array([0.4, 0.4]), leg_abduct=np.array([0.05, 0.05]),
                             leg_flex=np.array([-swing, swing]) * 0.8, knee=np.array([0.3, 0.3]), yaw=yaw)
            centre = (x0 + (x1 - x0) * t / max(frames - 1, 1), 72.0 + 2 * np.sin(2 * phase))
            persons.append(scene._place(np.random.default_rng(k), body.pose_body(pose), 110.0 - 10 * k, WIDTH,
                                        HEIGHT, 10.0 * (2 - k), True, centre))
        out.append(scene.render(persons, WIDTH, HEIGHT))
    return out


def simulate(buf: scene.Buffers, rng: np.random.Generator, jitter: float, boundary: float, uv_noise: float) -> dict:
    """One frame's detections (``Predictor`` output layout) from the truth buffers, with independent noise."""
    boxes, results = [], []
    for pid in sorted(set(np.unique(buf.pid).tolist()) - {-1}):
        ys, xs = np.nonzero(buf.pid == pid)
        true = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
        moved = np.clip(true + rng.normal(0, jitter, 4), 0, [WIDTH, HEIGHT, WIDTH, HEIGHT])
        w, h = max(int(moved[2] - moved[0]), 1), max(int(moved[3] - moved[1]), 1)
        rows, cols = slice(int(true[1]), int(true[3])), slice(int(true[0]), int(true[2]))
        on = buf.pid[rows, cols] == pid
        labels = to_box_grid(np.where(on, buf.i[rows, cols], 0), h, w).astype(np.uint8)
        uv = to_box_grid(np.stack([buf.u[rows, cols], buf.v[rows, cols]]) * on, h, w)
        labels = _noisy_labels(labels, rng, boundary)
        uv = np.clip(uv + rng.normal(0, uv_noise, uv.shape), 0, 1) * (labels > 0)
        boxes.append(moved)
        results.append(DensePoseChartResult(torch.from_numpy(labels), torch.from_numpy(uv.astype(np.float32))))
    return {"boxes": torch.tensor(np.array(boxes).reshape(-1, 4), dtype=torch.float32),
            "scores": torch.full((len(boxes),), 0.95), "densepose": results}


def _noisy_labels(labels: np.ndarray, rng: np.random.Generator, boundary: float) -> np.ndarray:
    out = labels.copy()
    shifted = np.pad(labels, 1, mode="edge")
    h, w = labels.shape
    dy, dx = rng.integers(-1, 2, (2, h, w))
    neighbour = shifted[1 + np.arange(h)[:, None] + dy, 1 + np.arange(w)[None, :] + dx]
    on_edge = (labels > 0) & (neighbour > 0) & (neighbour != labels)
    swap = on_edge & (rng.random((h, w)) < boundary)
    out[swap] = neighbour[swap]
    for _ in range(3):
        y, x = rng.integers(0, max(h - 3, 1)), rng.integers(0, max(w - 3, 1))
        blob = out[y:y + 3, x:x + 3]
        blob[blob > 0] = rng.integers(1, NUM_PATCHES + 1)
    return out


def measure(truth: list[scene.Buffers], predicted: list[np.ndarray]) -> dict:
    """The flicker and accuracy figures of (H, W, 3) uint8 IUV frames against the truth."""
    label_change, truth_change, uv_change, truth_uv_change, correct, uv_error = [], [], [], [], [], []
    for t, (buf, iuv) in enumerate(zip(truth, predicted, strict=True)):
        inside = buf.pid >= 0
        right = inside & (iuv[..., 0] == buf.i)
        correct.append(right.sum() / inside.sum())
        uv_error.append(np.mean(np.abs(iuv[..., 1:][right] / 255.0 - np.stack([buf.u, buf.v], -1)[right])))
        if t == 0:
            continue
        prev_buf, prev = truth[t - 1], predicted[t - 1]
        both = inside & (prev_buf.pid >= 0)
        label_change.append(np.mean(iuv[..., 0][both] != prev[..., 0][both]))
        truth_change.append(np.mean(buf.i[both] != prev_buf.i[both]))
        same = both & (iuv[..., 0] == prev[..., 0]) & (iuv[..., 0] > 0)
        uv_change.append(np.mean(np.abs(iuv[..., 1:][same].astype(float) - prev[..., 1:][same]) / 255.0))
        tsame = both & (buf.i == prev_buf.i)
        truth_uv_change.append(np.mean(np.abs(np.stack([buf.u - prev_buf.u, buf.v - prev_buf.v], -1)[tsame])))
    return {"label change %": 100 * np.mean(label_change), "truth label change %": 100 * np.mean(truth_change),
            "U/V change": np.mean(uv_change), "truth U/V change": np.mean(truth_uv_change),
            "I accuracy %": 100 * np.mean(correct), "U/V error": np.mean(uv_error)}


def main(frames: int = 48, windows: str = "1,3,5", seed: int = 0, jitter: float = 1.5,
         boundary_noise: float = 0.5, uv_noise: float = 0.05) -> None:
    torch.set_num_threads(1)
    truth = walk(frames)
    rng = np.random.default_rng(seed)
    detections = [simulate(buf, rng, jitter, boundary_noise, uv_noise) for buf in truth]
    print(f"{frames} frames {WIDTH}x{HEIGHT}, seed {seed}, jitter {jitter} px, boundary noise {boundary_noise}, "
          f"U/V noise {uv_noise}")
    header = None
    for window in (int(w) for w in windows.split(",")):
        steady = SteadyVideo(window)
        pasted = [paste_iuv(steady(det) if window > 1 else det, HEIGHT, WIDTH)[0] for det in detections]
        figures = measure(truth, pasted)
        if header is None:
            header = ["--steady"] + list(figures)
            print(" | ".join(header))
        print(" | ".join([f"{window if window > 1 else 'off'}"] + [f"{v:.4f}" if "U/V" in k else f"{v:.2f}"
                                                                   for k, v in figures.items()]))


if __name__ == "__main__":
    typer.run(main)
