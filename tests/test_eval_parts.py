"""Known answers of the per-part analysis (Table XI) and the confusion matrix (Fig. 9) on the hand-built toy world
of ``test_eval_protocol`` (docs/densepose_format.md, "Per-part analysis")."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_eval_protocol import LARGE_BOX, LENGTH, MEDIUM_BOX, POINTS, detection, gt_json, person, write_toy_eval_data

from ktn_model.data.meta import POINT_LABEL_SYMMETRIES
from ktn_model.evaluation import decode_iuv, encode_iuv, evaluate_densepose
from ktn_model.evaluation.part_analysis import PartAnalysis
from ktn_model.evaluation.parts import GROUPS, PATCH_NAMES, all_parts, select

V_ON_GRID = 153 / 255  # a V that the result's V·255 byte holds exactly


@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("eval_data")
    write_toy_eval_data(directory)
    return directory


def on_grid(ann: dict) -> dict:
    return ann | {"dp_V": [V_ON_GRID] * len(POINTS)}


def analyse(gt, results, eval_dir, parts=None):
    analysis = PartAnalysis()
    metrics = evaluate_densepose(gt, results, eval_dir, observers=[analysis])
    return metrics, {row.part.name: row for row in analysis.rows(select(parts))}, analysis


def test_a_detection_with_every_point_right_has_zero_error_and_full_recall(tmp_path, eval_dir):
    ann = on_grid(person(1, 1, LARGE_BOX))
    _, rows, analysis = analyse(gt_json(tmp_path / "gt.json", [ann], 1), [detection(ann, 0.9)], eval_dir)
    present = {int(p) for _, _, p, _ in POINTS}
    for name, patches in GROUPS.items():
        row = rows[name]
        if set(patches) & present:
            assert (row.ar, row.u_mse, row.v_mse, row.uv_gd, row.accuracy) == (100.0, 0.0, 0.0, 0.0, 1.0), name
            assert row.persons == 1 and row.points == row.correct == len(set(patches) & present)
        else:
            assert row.persons == row.points == 0 and math.isnan(row.ar) and math.isnan(row.u_mse), name
    assert rows["All"].points == len(POINTS) and rows["All"].ar == 100.0
    expected = np.zeros((24, 25), dtype=np.int64)
    for _, _, part, _ in POINTS:
        expected[part - 1, part] += 1
    assert np.array_equal(analysis.confusion, expected)


def with_labels(det: dict, relabel) -> dict:
    """``det`` with its IUV's patch labels replaced by ``relabel(labels)``."""
    iuv = decode_iuv(det["densepose"][0][1])
    iuv[0] = relabel(iuv[0])
    return det | {"densepose": [[list(iuv.shape), encode_iuv(iuv)], det["bbox"]]}


def test_a_left_right_arm_swap_lands_in_exactly_those_cells(tmp_path, eval_dir):
    # The arm points are painted with their mirror patch (left <-> right), every other point stays right.
    arms = [p for name in ("L-Arm", "R-Arm") for p in GROUPS[name]]
    mirror = np.asarray(POINT_LABEL_SYMMETRIES, dtype=np.uint8)
    anns = [on_grid(person(1, 1, LARGE_BOX)), on_grid(person(2, 1, MEDIUM_BOX))]
    results = [with_labels(detection(a, 0.9), lambda i: np.where(np.isin(i, arms), mirror[i], i)) for a in anns]
    metrics, rows, analysis = analyse(gt_json(tmp_path / "gt.json", anns, 1), results, eval_dir)
    expected = np.zeros((24, 25), dtype=np.int64)
    for _, _, part, _ in POINTS:
        predicted = POINT_LABEL_SYMMETRIES[part] if part in (15, 19) else part
        expected[part - 1, predicted] += 2
    assert np.array_equal(analysis.confusion, expected)
    assert analysis.confusion[14, 16] == analysis.confusion[18, 20] == 2  # upper/lower arm left front -> right
    assert rows["L-Arm"].accuracy == 0.0 and rows["L-Arm"].ar == 0.0 and math.isnan(rows["L-Arm"].u_mse)
    assert rows["Torso"].accuracy == 1.0 and rows["Torso"].ar == 100.0
    # 7 of the 9 points score 1 and the two arm points 0 (10 m apart): GPS 7/9, matched from 0.5 up to 0.75.
    assert rows["All"].ar == pytest.approx(100.0 * 6 / 10, abs=1e-12)
    assert metrics["densepose_gps"]["AR"] == pytest.approx(100.0 * 6 / 10, abs=1e-12)


def restricted(anns: list[dict], patches: tuple[int, ...]) -> list[dict]:
    """The persons with only their points on ``patches``; a person without any loses its DensePose (ignored)."""
    out = []
    for ann in anns:
        keep = [i for i, p in enumerate(ann["dp_I"]) if p in patches]
        base = {k: v for k, v in ann.items() if not k.startswith("dp_")}
        if keep:
            base |= {k: [ann[k][i] for i in keep] for k in ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V")}
            base["dp_masks"] = ann["dp_masks"]
        out.append(base)
    return out


def test_part_ar_equals_the_official_ar_on_that_parts_points(tmp_path, eval_dir):
    # Every person is matched at GPS >= 0.5 by one detection no other person competes for: there the two
    # definitions coincide. U shifted by one vertex on two of the four persons gives part GPS values on both
    # sides of the thresholds.
    anns = [person(1, 1, LARGE_BOX), person(2, 1, MEDIUM_BOX), person(3, 2, LARGE_BOX), person(4, 2, MEDIUM_BOX)]
    results = [detection(a, 0.9 - 0.1 * i, u_shift=0.2 * (i % 2)) for i, a in enumerate(anns)]
    metrics, rows, _ = analyse(gt_json(tmp_path / "gt.json", anns, 2), results, eval_dir)
    assert rows["All"].ar == metrics["densepose_gps"]["AR"]
    checked = 0
    for part in all_parts()[1:]:
        if not rows[part.name].persons:
            continue
        official = evaluate_densepose(gt_json(tmp_path / "p.json", restricted(anns, part.patches), 2), results,
                                      eval_dir)["densepose_gps"]["AR"]  # fmt: skip
        assert rows[part.name].ar == pytest.approx(official, abs=1e-9), part.name
        checked += 1
    assert checked == 9 + 5  # the nine patches of the toy points and the five groups they fall in
    # U one vertex off: the correct points' U error is 0.2 (as bytes), their geodesic distance LENGTH * 0.2.
    shifted_u = [(round((u + 0.2) * 255) / 255 - u) ** 2 for _, _, _, u in POINTS]
    assert rows["All"].u_mse == pytest.approx((2 * sum(shifted_u)) / (4 * len(POINTS)), rel=1e-12)
    assert rows["All"].uv_gd == pytest.approx(LENGTH * 0.2 / 2, rel=1e-12)


def test_where_the_definitions_differ_a_part_of_an_unmatched_person(tmp_path, eval_dir):
    # Only the two head points are right: whole-body GPS 2/9 < 0.5, so the person is not matched and its head
    # is not recalled here, while the official AR on the head points alone matches it (GPS 1).
    ann = person(1, 1, LARGE_BOX)
    iuv_det = with_labels(detection(ann, 0.9), lambda i: np.where(np.isin(i, GROUPS["Head"]), i, 0))
    _, rows, _ = analyse(gt_json(tmp_path / "gt.json", [ann], 1), [iuv_det], eval_dir)
    official = evaluate_densepose(gt_json(tmp_path / "h.json", restricted([ann], GROUPS["Head"]), 1), [iuv_det],
                                  eval_dir)["densepose_gps"]["AR"]  # fmt: skip
    assert rows["Head"].ar == 0.0 and official == 100.0


def test_part_names():
    assert [p.name for p in select(["head", "r_arm", "Torso Front", "16", "all"])] == [
        "Head", "R-Arm", "torso front", PATCH_NAMES[15], "All"]
    with pytest.raises(ValueError, match=r"unknown part 'elbow'; parts: All, Head, Torso, R-Arm"):
        select(["head", "elbow"])
