"""``ktn evaluate``: metrics table and json on good input, one line and exit code 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
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
        "heavy = ('torch', 'torchvision', 'onnx', 'onnxruntime', 'matplotlib', 'pandas', 'ktn_model.engine.outputs', "
        "'ktn_model.engine.predictor', 'ktn_model.engine.evaluator', 'ktn_model.modeling', 'ktn_model.export')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-2000:]
