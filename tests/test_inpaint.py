"""Teacher inpainting (docs/other_systems.md, "Teacher inpainting"): the labels are the teacher's argmax inside the
mask and the annotations at annotated points; the file's encoding, provenance and refusals; a student trains on
it; bad input is one line with exit code 2."""

import hashlib
import json
import math

import numpy as np
import pytest
import torch
from preset_runs import ROOT, invoke, make_data, run_opts

from ktn_cli import inpaint_cmd
from ktn_model.config import setup_cfg
from ktn_model.data.pseudo_labels import PseudoLabels, cell_centres, decode_grid, encode_grid
from ktn_model.data.synthetic import write_symmetry_tables
from ktn_model.data.transforms import flip_points, hflip, load_uv_symmetry
from ktn_model.engine import inpaint
from ktn_model.modeling import build_model
from ktn_model.modeling.losses.chart import DensePoseChartLoss, DensePoseLossWeights
from ktn_model.modeling.losses.sampling import DensePoseRoIs
from ktn_model.modeling.structures import DensePoseOutput

TINY = "configs/ktn_tiny_cpu.yaml"


def test_labels_are_the_teacher_argmax_inside_the_mask_and_the_annotations_at_annotated_points():
    g = 4
    logits = np.zeros((25, g, g), np.float32)
    logits[0] = 9.0  # the background wins overall, but the mask rules it out
    logits[3, :, :2], logits[7, :, 2:] = 2.0, 2.0  # left half patch 3, right half patch 7 (p = e^2 / (e^2 + 23))
    logits[7, 3, 3] = 0.0  # one uncertain cell: 24 equal patches, p = 1/24
    u = np.zeros((25, g, g), np.float32)
    v = np.zeros((25, g, g), np.float32)
    u[3], v[3], u[7], v[7] = 0.25, 0.5, 0.75, 1.5  # V above 1 is clipped
    mask = np.ones((g, g), bool)
    mask[0, :] = False  # the top row is outside the person
    points = np.array([[10.0, 10.0, 12.0, 0.1, 0.2],  # cell (0, 0): outside the mask, still the annotation
                       [200.0, 140.0, 20.0, 0.3, 0.4]], np.float32)  # cell (2, 3)
    grid = inpaint.teacher_grid(logits, u, v, mask, points, min_probability=0.2)
    assert grid.dtype == np.uint8 and grid.shape == (3, g, g)
    assert math.exp(2) / (math.exp(2) + 23) > 0.2 > 1 / 24
    assert grid[0].tolist() == [[12, 0, 0, 0], [3, 3, 7, 7], [3, 3, 7, 20], [3, 3, 7, 0]]
    assert grid[1].tolist() == [[25, 0, 0, 0], [63, 63, 191, 191], [63, 63, 191, 76], [63, 63, 191, 0]]
    assert grid[2].tolist() == [[51, 0, 0, 0], [127, 127, 255, 255], [127, 127, 255, 102], [127, 127, 255, 0]]
    everything = inpaint.teacher_grid(logits, u, v, mask, points[:0], min_probability=0.0)
    assert everything[0].tolist() == [[0, 0, 0, 0], [3, 3, 7, 7], [3, 3, 7, 7], [3, 3, 7, 1]]  # ties: lowest patch


def test_grid_encoding_round_trips_and_points_skip_annotated_cells():
    iuv = np.zeros((3, 4, 4), np.uint8)
    iuv[:, 1, 2] = (5, 51, 102)
    iuv[:, 3, 0] = (9, 255, 0)
    assert np.array_equal(decode_grid(encode_grid(iuv), 4), iuv)
    with pytest.raises(ValueError, match="bytes, expected 3 × 5 × 5"):
        decode_grid(encode_grid(iuv), 5)
    with pytest.raises(ValueError, match="patch index 30 above 24"):
        decode_grid(encode_grid(np.full((3, 2, 2), 30, np.uint8)), 2)
    labels = PseudoLabels.__new__(PseudoLabels)
    labels.path, labels.grid, labels.by_annotation = "x.json", 4, {1: encode_grid(iuv)}
    assert cell_centres(4).tolist() == [32.0, 96.0, 160.0, 224.0]
    got = labels.points(1, torch.zeros((0, 5)))
    assert torch.equal(got, torch.tensor([[160.0, 96.0, 5.0, 0.2, 0.4], [32.0, 224.0, 9.0, 1.0, 0.0]]))
    annotated = torch.tensor([[150.0, 70.0, 5.0, 0.2, 0.4]])  # in cell (1, 2): that cell is the annotation's
    assert torch.equal(labels.points(1, annotated), torch.tensor([[32.0, 224.0, 9.0, 1.0, 0.0]]))


def test_the_loss_on_pseudo_points_is_the_point_loss_times_its_weight():
    torch.manual_seed(0)
    out = DensePoseOutput(*(torch.randn(1, c, 8, 8) for c in (2, 25, 25, 25)))
    points = torch.tensor([[40.0, 60.0, 3.0, 0.2, 0.7], [200.0, 100.0, 17.0, 0.9, 0.1]])
    target = {"boxes": torch.tensor([[0.0, 0.0, 16.0, 16.0]]), "dp_points": [points], "dp_pseudo": [points],
              "dp_masks": torch.ones(1, 256, 256, dtype=torch.uint8)}
    rois = [DensePoseRoIs(target["boxes"], torch.tensor([0]))]
    losses = DensePoseChartLoss(DensePoseLossWeights(pseudo=0.25))(out, rois, [target])
    for name in "IUV":
        assert losses[f"loss_densepose_{name}_pseudo"].item() == pytest.approx(
            0.25 * losses[f"loss_densepose_{name}"].item(), rel=1e-6)
    plain = {k: v for k, v in target.items() if k != "dp_pseudo"}
    assert "loss_densepose_I_pseudo" not in DensePoseChartLoss()(out, rois, [plain])
    no_rois = [DensePoseRoIs(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))]
    empty = DensePoseChartLoss()(out[:0], no_rois, [target])  # an image without DensePose RoIs: zero terms
    assert {k: v.item() for k, v in empty.items() if k.endswith("_pseudo")} == {
        "loss_densepose_U_pseudo": 0.0, "loss_densepose_V_pseudo": 0.0, "loss_densepose_I_pseudo": 0.0}


def test_a_flip_mirrors_the_pseudo_points(tmp_path):
    write_symmetry_tables(tmp_path / "sym.mat")
    sym = load_uv_symmetry(tmp_path / "sym.mat")
    points = torch.tensor([[40.0, 60.0, 3.0, 0.2, 0.7]])
    target = {"boxes": torch.tensor([[1.0, 2.0, 30.0, 40.0]]), "keypoints": torch.zeros(1, 17, 3),
              "dp_points": [points], "dp_masks": torch.zeros(1, 256, 256, dtype=torch.uint8), "dp_pseudo": [points]}
    _, flipped = hflip(torch.zeros(3, 50, 60), target, sym)
    assert torch.equal(flipped["dp_pseudo"][0], flip_points(points, sym))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Synthetic data, a random-weights tiny teacher with its config, and its pseudo-labels for the training set."""
    root = tmp_path_factory.mktemp("inpaint")
    data = make_data(root / "data")
    teacher = root / "teacher"
    cfg = setup_cfg(TINY, run_opts(data, teacher))
    torch.manual_seed(0)
    teacher.mkdir()
    torch.save({"model": build_model(cfg).state_dict()}, teacher / "model_final.pth")
    (teacher / "config.yaml").write_text(cfg.dump())
    dense = root / "dense.json"
    output = invoke(["inpaint", "--weights", teacher / "model_final.pth", "--annotations",
                     data / "train" / "annotations.json", "--out", dense, "--min-probability", "0.05"])
    return data, teacher / "model_final.pth", dense, output


def test_inpaint_writes_every_annotated_person_with_provenance(run):
    data, weights, dense, output = run
    assert output.startswith(f"wrote {dense}:") and "% of the in-mask cells without an annotated point" in output
    assert (inpaint_cmd.DEFAULT_GRID, inpaint_cmd.DEFAULT_MIN_PROBABILITY) == (inpaint.DEFAULT_GRID, 0.5)
    file = json.loads(dense.read_text())
    gt = json.loads((data / "train" / "annotations.json").read_text())
    provenance = file["provenance"]
    assert provenance["teacher_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    gt_bytes = (data / "train" / "annotations.json").read_bytes()
    assert provenance["annotations_sha256"] == hashlib.sha256(gt_bytes).hexdigest()
    assert provenance["thresholds"] == {"min_patch_probability": 0.05} and file["grid"] == provenance["grid"] == 64
    dense_persons = {a["id"]: a for a in gt["annotations"] if "dp_masks" in a}
    assert {a["id"] for a in file["annotations"]} == set(dense_persons)
    assert file["images"] == sorted(i["id"] for i in gt["images"])
    labels = PseudoLabels(dense)
    for ann_id, ann in dense_persons.items():
        iuv = decode_grid(labels.by_annotation[ann_id], 64)
        cols, rows = (np.clip(np.floor(np.asarray(ann[k]) / 4), 0, 63).astype(int) for k in ("dp_x", "dp_y"))
        last = {}
        for r, c, i in zip(rows, cols, ann["dp_I"], strict=True):
            last[(r, c)] = i  # the last point of a cell is its label
        assert all(iuv[0, r, c] == i for (r, c), i in last.items())
    assert not list(dense.parent.glob(".*.tmp"))


def test_a_student_trains_on_the_pseudo_labels(run, tmp_path):
    data, _, dense, _ = run
    invoke(["train", "--config-file", ROOT / TINY, *run_opts(data, tmp_path), "DATASETS.TEST", "[]",
            "DATASETS.TRAIN_PSEUDO_LABELS", f"['{dense}']", "MODEL.ROI_DENSEPOSE_HEAD.PSEUDO_LABEL_WEIGHT", "0.3"])
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(r["loss_densepose_I_pseudo"] > 0 for r in records if "loss_densepose_I" in r)


def _one_line(output: str, *fragments: str) -> None:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), output
    assert all(f in lines[0] for f in fragments), output


def test_pseudo_labels_of_another_dataset_are_refused_at_start(run, tmp_path):
    data, weights, _, _ = run
    other = tmp_path / "val_dense.json"
    invoke(["inpaint", "--weights", weights, "--annotations", data / "val" / "annotations.json", "--out", other])
    out = invoke(["train", "--config-file", ROOT / TINY, *run_opts(data, tmp_path / "run"),
                  "DATASETS.TRAIN_PSEUDO_LABELS", f"['{other}']"], code=2)
    _one_line(out, str(other), "pseudo-labels of other annotations")
    assert not (tmp_path / "run").exists()
    out = invoke(["train", "--config-file", ROOT / TINY, *run_opts(data, tmp_path / "run"),
                  "DATASETS.TRAIN_PSEUDO_LABELS", f"['{other}', '{other}']"], code=2)
    _one_line(out, "DATASETS.TRAIN_PSEUDO_LABELS has 2 entries, DATASETS.TRAIN 1")


def test_bad_inputs_are_one_line_with_exit_code_2(run, tmp_path):
    data, weights, dense, _ = run
    train = data / "train" / "annotations.json"
    _one_line(invoke(["inpaint", "--weights", weights, "--annotations", train, "--out", dense], code=2),
              str(dense), "already exists")
    state = torch.load(weights)["model"]
    stage1 = tmp_path / "stage1" / "model_final.pth"
    stage1.parent.mkdir()
    torch.save({"model": {k: v for k, v in state.items() if "densepose_predictor" not in k}}, stage1)
    (stage1.parent / "config.yaml").write_text((weights.parent / "config.yaml").read_text())
    _one_line(invoke(["inpaint", "--weights", stage1, "--annotations", train, "--out", tmp_path / "a.json"], code=2),
              "no DensePose")
    gt = json.loads(train.read_text())
    for ann in gt["annotations"]:
        ann.pop("dp_masks", None)
    unmasked = tmp_path / "unmasked" / "annotations.json"
    unmasked.parent.mkdir()
    unmasked.write_text(json.dumps(gt))
    _one_line(invoke(["inpaint", "--weights", weights, "--annotations", unmasked, "--images", data / "train" / "images",
                      "--out", tmp_path / "b.json"], code=2), str(unmasked), "no dp_masks")
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()
