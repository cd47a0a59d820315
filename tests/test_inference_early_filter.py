"""``--min-score`` before the DensePose branch: the same kept detections, bit for bit, and no work on the others."""

import numpy as np
import pytest
import torch

from ktn_model.engine.predictor import Predictor
from ktn_model.inference.early_filter import box_score_threshold, score_filter_before_densepose


def test_the_threshold_is_the_float32_just_below_min_score():
    assert box_score_threshold(0.05, 0.0) == 0.05
    assert box_score_threshold(0.05, 0.01) == 0.05
    t = box_score_threshold(0.05, 0.8)
    assert np.float32(t) < np.float32(0.8) and np.nextafter(np.float32(t), np.float32(1)) == np.float32(0.8)
    scores = torch.tensor([0.8, np.float32(t), 0.9], dtype=torch.float32)
    assert (scores > t).tolist() == (scores >= 0.8).tolist() == [True, False, True]


def _predict_both_ways(model, cfg, which):
    """(everything at min_score 0, the output at a higher min_score, the keep mask, RoIs the head saw per call)."""
    image = np.random.default_rng(4).integers(0, 255, (96, 128, 3), np.uint8)
    seen = []
    handle = model.roi_heads.densepose_head.register_forward_hook(lambda _m, args, _o: seen.append(args[0].shape[0]))
    try:
        everything = Predictor(cfg, model, min_score=0.0)(image)
        scores = everything["scores"].numpy()
        min_score = float(np.median(scores)) if which == "median" else float(np.sort(scores)[len(scores) // 3])
        kept = Predictor(cfg, model, min_score=min_score)(image)
    finally:
        handle.remove()
    return everything, kept, scores >= np.float32(min_score), seen


def _assert_same_detections(kept, everything, mask):
    for key in ("boxes", "scores", "labels"):
        assert torch.equal(kept[key], everything[key][torch.from_numpy(mask)])
    expected = [r for r, m in zip(everything["densepose"], mask, strict=True) if m]
    assert len(kept["densepose"]) == len(expected)
    return expected


@pytest.mark.parametrize("which", ["median", "exact_score"])
def test_kept_detections_are_identical_and_only_they_reach_the_densepose_head(trained, which, monkeypatch):
    torch.set_num_threads(1)
    _, model, cfg = trained
    head = model.roi_heads.densepose_head
    one_by_one = head.forward  # oneDNN's conv picks its kernel by batch size: run RoIs singly to compare bits
    monkeypatch.setattr(head, "forward", lambda x: torch.cat([one_by_one(x[i : i + 1]) for i in range(len(x))]))
    everything, kept, mask, seen = _predict_both_ways(model, cfg, which)
    assert len(mask) >= 6 and 0 < mask.sum() < len(mask)
    assert seen == [len(mask), mask.sum()]  # the head ran on the kept boxes only
    for got, want in zip(kept["densepose"], _assert_same_detections(kept, everything, mask), strict=True):
        assert torch.equal(got.labels, want.labels) and torch.equal(got.uv, want.uv)
    assert model.roi_heads.score_thresh == cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST  # restored after the call


def test_with_the_batched_head_only_float_rounding_differs(trained):
    torch.set_num_threads(1)
    _, model, cfg = trained
    everything, kept, mask, _ = _predict_both_ways(model, cfg, "median")
    for got, want in zip(kept["densepose"], _assert_same_detections(kept, everything, mask), strict=True):
        assert torch.equal(got.labels, want.labels) and torch.allclose(got.uv, want.uv, rtol=0, atol=1e-5)


def test_an_exported_graph_without_roi_heads_is_left_alone():
    model = torch.nn.Identity()
    with score_filter_before_densepose(model, 0.9):
        assert not hasattr(model, "roi_heads")
