"""``evaluate_densepose`` (streamed, image by image, with its shortcuts) gives exactly the numbers of the literal
protocol implementation ``reference_eval.py`` (and pycocotools' keypoint AP) on six random scenes, and its
keypoint OKS equals pycocotools' bit for bit."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import reference_eval
from eval_scenes import build_results, perturb
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ktn_model.evaluation import evaluate_densepose
from ktn_model.evaluation.keypoints import oks_matrix


@pytest.fixture(scope="module")
def scenes(synth_dir, tmp_path_factory):
    gt = json.loads((synth_dir / "annotations.json").read_text())
    out = tmp_path_factory.mktemp("scenes")
    paths = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        results = build_results(gt, rng)
        scene_gt, results = perturb(gt, results, rng) if seed % 2 else (gt, results)
        gt_path, results_path = out / f"gt{seed}.json", out / f"results{seed}.json"
        gt_path.write_text(json.dumps(scene_gt))
        results_path.write_text(json.dumps(results))
        paths.append((gt_path, results_path))
    return paths


@pytest.mark.parametrize("seed", range(6))
def test_equals_the_formula_implementation_exactly(scenes, synth_dir, seed):
    gt_path, results_path = scenes[seed]
    ours = evaluate_densepose(gt_path, results_path, synth_dir / "eval_data")
    expected = reference_eval.evaluate(gt_path, results_path, synth_dir / "eval_data")
    assert ours == expected  # every number, to the last bit
    assert 0 < ours["densepose_gpsm"]["AP"] < 100 and 0 < ours["keypoints"]["AP"] < 100


def test_oks_equals_pycocotools_bit_for_bit(scenes):
    gt_path, results_path = scenes[1]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt_path))
        results = json.loads(results_path.read_text())
        coco_eval = COCOeval(coco, coco.loadRes(results), "keypoints")
        coco_eval.evaluate()
    compared = 0
    for (image_id, _), expected in coco_eval.ious.items():
        if len(expected) == 0:
            continue
        dts = sorted((r for r in results if r["image_id"] == image_id), key=lambda r: -r["score"])[:20]
        gts = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        ours = oks_matrix(gts, np.array([d["keypoints"] for d in dts], dtype=np.float64))
        assert np.array_equal(ours, expected)
        compared += 1
    assert compared >= 6


def test_worker_processes_give_the_same_numbers(scenes, synth_dir):
    from ktn_model.evaluation.part_analysis import PartAnalysis
    from ktn_model.evaluation.parts import all_parts

    gt_path, results_path = scenes[1]
    outcomes = []
    for workers in (1, 3):
        analysis = PartAnalysis()
        metrics = evaluate_densepose(gt_path, results_path, synth_dir / "eval_data", [analysis], workers=workers)
        outcomes.append((metrics, repr(analysis.rows(all_parts())), analysis.confusion.tolist()))
    assert outcomes[0] == outcomes[1]
