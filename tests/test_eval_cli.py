"""``ktn evaluate``: metrics table and json on good input, one line and exit code 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_eval_protocol import LARGE_BOX, MEDIUM_BOX, detection, gt_json, person, write_toy_eval_data
from typer.testing import CliRunner

from ktn_cli.ktn import app


@pytest.fixture
def eval_dir(tmp_path):
    write_toy_eval_data(tmp_path / "eval")
    return tmp_path / "eval"


@pytest.fixture
def files(tmp_path):
    persons = [person(1, 1, LARGE_BOX), person(2, 1, MEDIUM_BOX)]
    gt = gt_json(tmp_path / "gt.json", persons, 1)
    results = tmp_path / "results.json"
    results.write_text(json.dumps([detection(p, 0.9) for p in persons]))
    return gt, results


def run(*args: str):
    return CliRunner().invoke(app, ["evaluate", *map(str, args)])


def test_evaluate_prints_table_and_writes_metrics(files, eval_dir, tmp_path):
    gt, results = files
    out = tmp_path / "sub" / "metrics.json"
    result = run(gt, results, "--eval-data", eval_dir, "--out", out)
    assert result.exit_code == 0, result.output
    assert "GPSm" in result.stdout and "APm" in result.stdout  # the metrics table of ktn train, too
    metrics = json.loads(out.read_text())
    assert list(metrics) == ["densepose_gps", "densepose_gpsm", "keypoints"]
    assert metrics["densepose_gps"]["AP"] == pytest.approx(100.0, abs=1e-9)
    assert [p.name for p in out.parent.iterdir()] == ["metrics.json"]  # no temp file left


@pytest.mark.parametrize(
    ("break_input", "message"),
    [
        (lambda gt, res, ev: res.write_text("[{"), "results.json: not valid JSON"),
        (lambda gt, res, ev: res.write_text('[{"image_id": 9}]'), "detection 0 (image id 9): image id not in"),
        (lambda gt, res, ev: gt.unlink(), "gt.json: annotation file not found"),
        (lambda gt, res, ev: (ev / "Pdist_matrix.pkl").unlink(), "Pdist_matrix.pkl: evaluation-data file not found"),
    ],
)
def test_bad_input_gives_one_line_and_exit_code_2(files, eval_dir, tmp_path, break_input, message):
    gt, results = files
    break_input(tmp_path / "gt.json", results, eval_dir)
    result = run(gt, results, "--eval-data", eval_dir, "--out", tmp_path / "m.json")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and message in result.stderr
    assert not (tmp_path / "m.json").exists()


def test_the_evaluate_command_imports_neither_torch_nor_the_inference_code(files, eval_dir, tmp_path):
    gt, results = files
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from ktn_cli.ktn import app\n"
        f"args = ['evaluate', {str(gt)!r}, {str(results)!r}, '--eval-data', {str(eval_dir)!r}]\n"
        "result = CliRunner().invoke(app, args)\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = ('torch', 'torchvision', 'onnx', 'onnxruntime', 'matplotlib', 'pandas', "
        "'ktn_model.inference.pipeline', 'ktn_model.inference.writer', 'ktn_model.inference.image_outputs', "
        "'ktn_model.engine', 'ktn_model.vis', 'ktn_model.modeling', 'ktn_model.export')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-2000:]


@pytest.fixture
def two_models(tmp_path):
    """Model a paints every GT point right; model b paints the left-arm points as right-arm ones."""
    from test_eval_parts import on_grid, with_labels

    from ktn_model.data.meta import POINT_LABEL_SYMMETRIES

    persons = [on_grid(person(1, 1, LARGE_BOX)), on_grid(person(2, 1, MEDIUM_BOX))]
    gt = gt_json(tmp_path / "gt.json", persons, 1)
    mirror = np.asarray(POINT_LABEL_SYMMETRIES, dtype=np.uint8)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "results.json").write_text(json.dumps([detection(p, 0.9) for p in persons]))
    swapped = [with_labels(detection(p, 0.9), lambda i: np.where(np.isin(i, (15, 19)), mirror[i], i)) for p in persons]
    (tmp_path / "b" / "results.json").write_text(json.dumps(swapped))
    return gt, tmp_path / "a" / "results.json", tmp_path / "b" / "results.json"


def test_per_part_and_confusion_side_by_side(two_models, eval_dir, tmp_path):
    gt, a, b = two_models
    report = tmp_path / "report"
    result = run(gt, a, "--eval-data", eval_dir, "--compare", b, "--per-part", "--confusion", "--report-dir", report,
                 "--out", tmp_path / "m.json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "a/results GPS" in result.stdout and "b/results GPSm" in result.stdout and "L-Arm" in result.stdout
    assert sorted(p.name for p in report.iterdir()) == [
        "confusion.png", "confusion_a_results.csv", "confusion_b_results.csv", "patch_accuracy.png",
        "per_part.csv", "per_part.json"]  # fmt: skip
    table = pd.read_csv(report / "per_part.csv")
    arm = table[(table.part == "L-Arm")].set_index("model")
    assert arm.loc["a/results", "AR"] == 100.0 and arm.loc["b/results", "AR"] == 0.0
    assert arm.loc["a/results", "U_MSE"] == 0.0 and np.isnan(arm.loc["b/results", "U_MSE"])
    cells = pd.read_csv(report / "confusion_b_results.csv", index_col=0)
    assert cells.loc["upper arm left front", "upper arm right front"] == 2
    assert cells.loc["lower arm left front", "lower arm right front"] == 2
    assert cells.loc["upper arm left front", "upper arm left front"] == 0
    document = json.loads((report / "per_part.json").read_text())
    assert "GPS AP50" in document["matching"] and set(document["models"]) == {"a/results", "b/results"}
    assert set(json.loads((tmp_path / "m.json").read_text())) == {"a/results", "b/results"}
    with Image.open(report / "confusion.png") as picture:  # two heat maps and their difference
        assert picture.size[0] > 2 * picture.size[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--part", "elbow"], "unknown part 'elbow'; parts: All, Head"),
        (["--confusion"], "--confusion writes its tables and pictures into a folder: give --report-dir DIR"),
        (["--compare", "{other_images}"], "--compare needs result files for the same images"),
        (["--compare", "{other_gt}"], "is not the ground truth's"),
    ],
)
def test_analysis_bad_input_is_one_line_exit_2(two_models, eval_dir, tmp_path, args, message):
    gt, a, b = two_models
    data = json.loads(a.read_text())
    (tmp_path / "other_images.json").write_text(json.dumps([d | {"image_id": 2} for d in data]))
    gt_json(tmp_path / "gt.json", [person(1, 1, LARGE_BOX), person(2, 1, MEDIUM_BOX), person(3, 2, LARGE_BOX)], 2)
    (tmp_path / "other_gt.json").write_text(json.dumps([d | {"file_name": "elsewhere/9.png"} for d in data]))
    args = [arg.format(other_images=tmp_path / "other_images.json", other_gt=tmp_path / "other_gt.json")
            for arg in args]  # fmt: skip
    result = run(gt, a, "--eval-data", eval_dir, *args, "--out", tmp_path / "m.json")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and message in result.stderr
    assert not (tmp_path / "m.json").exists()
