"""Known-answer tests of the GPS / GPSm protocol on a hand-built toy world (docs/densepose_format.md,
"Evaluation protocol").

Toy mesh: every part 1..24 has six vertices at U = 0, 0.2, ..., 1 and V = 0.5, each its own mesh
vertex; the geodesic distance inside a part is ``LENGTH`` · |ΔU|, across parts 10 m. GT points sit
on vertices, so a prediction that shifts every U by 0.2 lands exactly one vertex further.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from ktn_model.evaluation import encode_iuv, evaluate_densepose, load_eval_data, save_eval_data, to_coco_results
from ktn_model.evaluation.gps import KAPPA, PART_GROUP
from ktn_model.evaluation.matching import METRIC_NAMES, THRESHOLDS

GRID = np.linspace(0.0, 1.0, 6)
LENGTH = 0.8
CROSS_PART = 10.0
# Nine GT points on a 3×3 grid of the 256 box frame: (dp_x, dp_y, I, U).
POINTS = [
    (x, y, part, u)
    for (x, y), part, u in zip(
        [(x, y) for y in (40, 128, 216) for x in (40, 128, 216)],
        [1, 2, 23, 24, 3, 15, 7, 11, 19],
        [0.0, 0.2, 0.4, 0.6, 0.8, 0.2, 0.4, 0.6, 0.0],
        strict=True,
    )
]
IMAGE_HW = (300, 400)
LARGE_BOX = [20.0, 30.0, 120.0, 160.0]  # area 19200 ≥ 96²
MEDIUM_BOX = [200.0, 40.0, 60.0, 80.0]  # area 4800 in [32², 96²]


def toy_mesh() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(part_id, u, v, square distance matrix) of the toy mesh."""
    part = np.repeat(np.arange(1, 25), len(GRID))
    u = np.tile(GRID, 24)
    dist = np.where(part[:, None] == part[None, :], LENGTH * np.abs(u[:, None] - u[None, :]), CROSS_PART)
    np.fill_diagonal(dist, 0.0)
    return part, u, np.full(len(u), 0.5), dist


def condensed(square: np.ndarray) -> np.ndarray:
    """Pairs (lo, hi) ordered by hi then lo: the layout of ``Pdist_matrix``."""
    return square.T[np.tril_indices(len(square), -1)]


def write_toy_eval_data(directory) -> None:
    part, u, v, dist = toy_mesh()
    save_eval_data(directory, part, u, v, np.arange(1, len(u) + 1), condensed(dist))


@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("eval_data")
    write_toy_eval_data(directory)
    return directory


def full_part_mask() -> dict:
    rle = mask_utils.encode(np.asfortranarray(np.ones((256, 256), dtype=np.uint8)))
    return {"counts": rle["counts"].decode("ascii"), "size": [256, 256]}


def person(ann_id: int, image_id: int, bbox: list, densepose: bool = True, crowd: bool = False) -> dict:
    """A GT person (or crowd region) with keypoints, a rectangle segmentation and the toy points."""
    x, y, w, h = bbox
    kps = [[x + w * (k + 1) / 18, y + h * (k + 1) / 18, 2] for k in range(17)]
    ann = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "iscrowd": int(crowd),
        "bbox": bbox,
        "area": w * h,
        "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
        "keypoints": [c for kp in kps for c in kp],
        "num_keypoints": 0 if crowd else 17,
    }
    if densepose:
        ann.update({k: [p[i] for p in POINTS] for i, k in enumerate(("dp_x", "dp_y", "dp_I", "dp_U"))})
        ann["dp_V"] = [0.5] * len(POINTS)
        ann["dp_masks"] = [full_part_mask()] + [[]] * 13
    return ann


def gt_json(path, persons: list[dict], num_images: int, **first_image_fields) -> str:
    images = [
        {"id": i, "file_name": f"{i}.png", "height": IMAGE_HW[0], "width": IMAGE_HW[1]}
        for i in range(1, num_images + 1)
    ]
    images[0].update(first_image_fields)
    data = {"images": images, "annotations": persons, "categories": [{"id": 1, "name": "person"}]}
    path.write_text(json.dumps(data))
    return str(path)


def render(ann: dict, bbox: list, u_shift: float = 0.0, fg_rows: float = 1.0) -> np.ndarray:
    """Predicted IUV for ``bbox``: foreground I = 1 in the top ``fg_rows`` fraction, GT points painted."""
    x, y, w, h = bbox
    iuv = np.zeros((3, max(int(h), 1), max(int(w), 1)), dtype=np.uint8)
    iuv[0, : int(round(fg_rows * iuv.shape[1]))] = 1
    gx, gy, gw, gh = ann["bbox"]
    points = zip(*(ann.get(k, []) for k in ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V")), strict=True)
    for dx, dy, part, u, v in points:
        px, py = int(dx * gw / 255 + gx - x), int(dy * gh / 255 + gy - y)
        if 0 <= px < iuv.shape[2] and 0 <= py < iuv.shape[1]:
            iuv[:, py, px] = (part, round((u + u_shift) * 255), round(v * 255))
    return iuv


def detection(ann: dict, score: float, bbox: list | None = None, **render_args) -> dict:
    bbox = list(ann["bbox"]) if bbox is None else bbox
    iuv = render(ann, bbox, **render_args)
    return {
        "image_id": ann["image_id"],
        "category_id": 1,
        "bbox": bbox,
        "score": score,
        "densepose": [[list(iuv.shape), encode_iuv(iuv)], bbox],
        "keypoints": ann["keypoints"],
    }


def expected_ap(value: float) -> float:
    """AP (= AR) of a single GT matched with similarity ``value``: the share of thresholds ≤ value."""
    return 100.0 * np.count_nonzero(THRESHOLDS <= value) / len(THRESHOLDS)


@pytest.fixture
def world(tmp_path):
    """Two images: a large and a medium person on image 1, a large person on image 2."""
    persons = [person(1, 1, LARGE_BOX), person(2, 1, MEDIUM_BOX), person(3, 2, LARGE_BOX)]
    return gt_json(tmp_path / "gt.json", persons, 2), persons


def test_perfect_predictions_score_100(world, eval_dir):
    gt, persons = world
    results = [detection(p, 0.9 - 0.1 * i) for i, p in enumerate(persons)]
    metrics = evaluate_densepose(gt, results, eval_dir)
    # precision = tp / (tp + fp + eps) keeps a perfect AP a few ulp below 100, as in the reference.
    for section in ("densepose_gps", "densepose_gpsm", "keypoints"):
        assert metrics[section] == {k: pytest.approx(100.0, abs=1e-9) for k in METRIC_NAMES}, section


def test_to_coco_results_output_evaluates_to_100(world, eval_dir):
    gt, persons = world
    results = []
    for image_id in (1, 2):
        mine = [p for p in persons if p["image_id"] == image_id]
        xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in (p["bbox"] for p in mine)], dtype=np.float32)
        output = {
            "boxes": xyxy,
            "scores": np.linspace(0.9, 0.8, len(mine)),
            "densepose": [render(p, p["bbox"]) for p in mine],
        }
        results += to_coco_results(image_id, output)
    assert evaluate_densepose(gt, results, eval_dir)["densepose_gps"]["AP"] == pytest.approx(100.0, abs=1e-9)


def test_shifted_u_gives_the_formula_gps(world, eval_dir):
    gt, persons = world
    part, _, _, dist = toy_mesh()
    first_vertex = {p: np.flatnonzero(part == p)[0] for p in range(1, 25)}
    terms = []
    for _, _, p, u in POINTS:
        a = first_vertex[p] + int(round(u / 0.2))
        d = dist[a, a + 1]
        terms.append(np.exp(-(d**2) / (2 * KAPPA[PART_GROUP[p]] ** 2)))
    gps = float(np.mean(terms))
    results = [detection(p, 0.9, u_shift=0.2) for p in persons]
    metrics = evaluate_densepose(gt, results, eval_dir)["densepose_gps"]
    assert metrics["AP"] == pytest.approx(expected_ap(gps), abs=1e-9)
    assert metrics["AR"] == pytest.approx(expected_ap(gps), abs=1e-9)
    assert metrics["AP50"] == pytest.approx(100.0, abs=1e-9) and metrics["AP75"] == 0.0


def test_gps_matrix_value_matches_formula(eval_dir):
    from ktn_model.evaluation.gps import GpsScorer, gt_points

    data = load_eval_data(eval_dir)
    ann = person(1, 1, LARGE_BOX)
    dp = {k: np.asarray(ann[k], dtype=float) for k in ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V")}
    (pts,) = gt_points(data, [(np.asarray(LARGE_BOX), dp)])
    shifted = render(ann, LARGE_BOX, u_shift=0.2)
    value = GpsScorer(data).matrix([pts], np.array([LARGE_BOX]), lambda d: shifted)[0, 0]
    expected = np.mean([np.exp(-((LENGTH * 0.2) ** 2) / (2 * KAPPA[PART_GROUP[p]] ** 2)) for _, _, p, _ in POINTS])
    assert value == pytest.approx(expected, rel=1e-12)


def test_missed_person_lowers_recall_exactly(tmp_path, eval_dir):
    persons = [person(i, 1 + i // 3, LARGE_BOX if i % 2 else MEDIUM_BOX) for i in range(1, 5)]
    gt = gt_json(tmp_path / "gt.json", persons, 2)
    results = [detection(p, 0.9) for p in persons[:3]]
    metrics = evaluate_densepose(gt, results, eval_dir)["densepose_gps"]
    assert metrics["AR"] == 75.0
    assert metrics["AP"] == pytest.approx(100.0 * 76 / 101, abs=1e-12)


def test_gpsm_uses_mask_iou(world, eval_dir, tmp_path):
    _, persons = world
    # GT points moved into the top half of the box; foreground only in the top half → IoU 0.5.
    top_only = [p | {"dp_y": [{40: 20, 128: 60, 216: 100}[y] for y in p["dp_y"]]} for p in persons]
    gt = gt_json(tmp_path / "top.json", top_only, 2)
    results = [detection(p, 0.9, fg_rows=0.5) for p in top_only]
    metrics = evaluate_densepose(gt, results, eval_dir)
    assert metrics["densepose_gps"]["AP"] == pytest.approx(100.0, abs=1e-9)
    assert metrics["densepose_gpsm"]["AP"] == pytest.approx(expected_ap(np.sqrt(0.5)), abs=1e-9)


def test_crowd_and_no_densepose_persons_are_ignored(tmp_path, eval_dir):
    crowd_box = [150.0, 150.0, 200.0, 140.0]
    persons = [
        person(1, 1, LARGE_BOX),
        person(2, 1, MEDIUM_BOX, densepose=False),
        person(3, 1, crowd_box, densepose=False, crowd=True),
        person(4, 2, MEDIUM_BOX, densepose=False),
    ]
    gt = gt_json(tmp_path / "gt.json", persons, 2)
    # Detections on ignored persons score higher than the true one: counted as false positives
    # they would cut AP. A box inside the crowd region (box IoU = overlap / detection area) and a
    # detection on an image whose GTs are all ignored are neutral too.
    results = [
        detection(persons[0], 0.5),
        detection(persons[1], 0.9),
        detection(persons[2], 0.8, bbox=[200.0, 180.0, 60.0, 80.0]),
        detection(persons[3], 0.95, bbox=[0.0, 0.0, 30.0, 30.0]),
    ]
    metrics = evaluate_densepose(gt, results, eval_dir)["densepose_gps"]
    assert metrics["AP"] == pytest.approx(100.0, abs=1e-9) and metrics["AR"] == 100.0
    # Control: the same kind of box away from every ignored person is a false positive.
    results.append(detection(persons[0], 0.99, bbox=[300.0, 40.0, 50.0, 60.0]))
    assert evaluate_densepose(gt, results, eval_dir)["densepose_gps"]["AP"] == pytest.approx(50.0)


def test_box_fallback_to_an_ignored_gt_drops_the_match(tmp_path, eval_dir):
    # Matching step 3 (box fallback): unmatched at 0.95, the detection's best box-IoU GT (ties go to the later,
    # ignored one) makes it ignored at every threshold, so its TPs at 0.5..0.6 are lost.
    persons = [person(1, 1, LARGE_BOX), person(2, 1, LARGE_BOX, densepose=False)]
    gt = gt_json(tmp_path / "gt.json", persons, 1)
    metrics = evaluate_densepose(gt, [detection(persons[0], 0.9, u_shift=0.2)], eval_dir)["densepose_gps"]
    assert metrics["AP"] == 0.0 and metrics["AR"] == 0.0


def test_ignore_regions_drop_covered_persons_and_detections(tmp_path, eval_dir):
    # Region x 250..390, y 150..290: it covers person 2 (never detected) and a high-scoring
    # detection with full foreground; both vanish, so AP and AR stay perfect.
    region = {"ignore_regions_x": [[250, 390, 390, 250]], "ignore_regions_y": [[150, 150, 290, 290]]}
    persons = [person(1, 1, LARGE_BOX), person(2, 1, [260.0, 160.0, 60.0, 80.0])]
    results = [detection(persons[0], 0.5), detection(persons[0], 0.99, bbox=[300.0, 200.0, 50.0, 60.0])]
    with_region = evaluate_densepose(gt_json(tmp_path / "a.json", persons, 1, **region), results, eval_dir)
    assert with_region["densepose_gps"]["AP"] == pytest.approx(100.0, abs=1e-9)
    assert with_region["densepose_gps"]["AR"] == 100.0
    without = evaluate_densepose(gt_json(tmp_path / "b.json", persons, 1), results, eval_dir)
    assert without["densepose_gps"]["AR"] == 50.0


def test_gpsm_mask_falls_back_to_segmentation_then_to_nothing(tmp_path, eval_dir):
    no_dp_masks = {k: v for k, v in person(1, 1, LARGE_BOX).items() if k != "dp_masks"}
    results = [detection(no_dp_masks, 0.9)]
    metrics = evaluate_densepose(gt_json(tmp_path / "a.json", [no_dp_masks], 1), results, eval_dir)
    assert metrics["densepose_gpsm"]["AP"] == pytest.approx(100.0, abs=1e-9)
    no_mask = {k: v for k, v in no_dp_masks.items() if k != "segmentation"}
    metrics = evaluate_densepose(gt_json(tmp_path / "b.json", [no_mask], 1), results, eval_dir)
    assert metrics["densepose_gps"]["AP"] == pytest.approx(100.0, abs=1e-9)
    assert metrics["densepose_gpsm"]["AP"] == 0.0


def test_other_categories_are_not_evaluated(world, eval_dir):
    gt, persons = world
    results = [detection(p, 0.5) for p in persons]
    results.append(detection(persons[0], 0.99, bbox=[300.0, 200.0, 50.0, 60.0]) | {"category_id": 2})
    metrics = evaluate_densepose(gt, results, eval_dir)
    assert metrics["densepose_gps"]["AP"] == pytest.approx(100.0, abs=1e-9)
    assert metrics["keypoints"]["AP"] == pytest.approx(100.0, abs=1e-9)


def test_empty_results_give_zeros(world, eval_dir):
    gt, _ = world
    metrics = evaluate_densepose(gt, [], eval_dir)
    assert set(metrics) == {"densepose_gps", "densepose_gpsm"}
    assert all(v == 0.0 for section in metrics.values() for v in section.values())


def test_only_top_20_detections_per_image_count(world, eval_dir):
    gt, persons = world
    decoys = [detection(persons[2], 0.99, bbox=[300.0, 200.0, 50.0, 60.0]) for _ in range(20)]
    results = decoys + [detection(p, 0.5) for p in persons]
    metrics = evaluate_densepose(gt, results, eval_dir)["densepose_gps"]
    # Image 2's true detection is the 21st: its person is missed; image 1 keeps both.
    assert metrics["AR"] == pytest.approx(100.0 * 2 / 3)


def test_synthetic_generator_set_evaluates(tmp_path):
    from ktn_model.data.synthetic import generate

    gt_path = generate(tmp_path, 4, seed=3)
    persons = [a for a in json.loads(gt_path.read_text())["annotations"] if not a["iscrowd"]]
    assert any("dp_x" in p for p in persons)
    metrics = evaluate_densepose(gt_path, [detection(p, 0.9) for p in persons], tmp_path / "eval_data")
    # GT points painted exactly: every pair's GPS is far above 0.5 (U, V quantisation and the
    # 255-versus-256 frame keep it a little below 1).
    assert metrics["densepose_gps"]["AP50"] == pytest.approx(100.0, abs=1e-9)
    assert metrics["keypoints"]["AP"] == pytest.approx(100.0, abs=1e-9)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(image_id=7), r"detection 1 \(image id 7\): image id not in the ground truth"),
        (lambda d: d["densepose"][0].__setitem__(1, "%%%not base64"), r"detection 1 \(image id 1\): densepose"),
        (lambda d: d.update(bbox=[20.0, 30.0, 100.0, 160.0]), r"detection 1 \(image id 1\): IUV shape"),
        (lambda d: d.update(score="high"), r"detection 1 \(image id 1\): 'score'"),
        (lambda d: d.pop("keypoints"), r"detection 1 \(image id 1\): 'keypoints' must be 51 finite numbers"),
    ],
)
def test_malformed_detection_is_named(world, eval_dir, change, message):
    gt, persons = world
    results = [detection(p, 0.9) for p in persons]
    results.insert(1, detection(persons[0], 0.8))
    change(results[1])
    with pytest.raises(ValueError, match=message):
        evaluate_densepose(gt, results, eval_dir)
