"""User errors and resume rules of ``ktn train`` / ``evaluate`` / ``data synth``: one line, the right exit code.

Training runs use the real tiny model on the 128 px synthetic set of ``test_train_cli`` for two
iterations; every other check stops before the first iteration.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from test_eval_protocol import LARGE_BOX, detection, gt_json, person, write_toy_eval_data
from test_train_cli import TINY, _args, _invoke, data  # noqa: F401  (data is a fixture)
from typer.testing import CliRunner

from ktn_cli.common import EXIT_BAD_INPUT, EXIT_CODES_HELP
from ktn_cli.ktn import app
from ktn_cli.train_cmd import RESUMABLE_HELP
from ktn_model.config import setup_cfg
from ktn_model.data.catalog import resolve
from ktn_model.data.dataset import DensePoseCocoDataset
from ktn_model.engine.runner import RESUMABLE_KEYS
from ktn_model.modeling.weights import load_checkpoint


def _one_error_line(output: str, *parts: str) -> None:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    for part in parts:
        assert part in lines[0], (part, lines[0])


def _iterations(out) -> list[int]:
    return [json.loads(line)["iteration"] for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def two_iterations(data, tmp_path_factory):  # noqa: F811
    """A finished 2-iteration run whose datasets were given on the command line only."""
    out = tmp_path_factory.mktemp("run2")
    _invoke(_args(data, out, "SOLVER.MAX_ITER", "2", test=False))
    return out


@pytest.fixture
def run_copy(two_iterations, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(two_iterations, copy)
    return copy


def _resume(out, *extra):
    return ["train", "--config-file", TINY, "--resume", "OUTPUT_DIR", str(out), *extra]


# -- resume -------------------------------------------------------------------------------------------


def test_resume_restores_the_saved_config_and_writes_each_iteration_once(data, two_iterations, run_copy):  # noqa: F811
    saved = (run_copy / "config.yaml").read_text()
    output = _invoke(_resume(run_copy, "SOLVER.MAX_ITER", "3"))  # the datasets are not repeated
    assert f"resumed from {run_copy / 'model_final.pth'} at iteration 2" in output
    cfg = setup_cfg(run_copy / "config.yaml")
    assert cfg.DATASETS.TRAIN == [f"{data}/train/annotations.json:{data}/train/images"]
    moved = saved.replace("MAX_ITER: 2", "MAX_ITER: 3").replace(str(two_iterations), str(run_copy))
    assert (run_copy / "config.yaml").read_text() == moved  # the copy's own folder, MAX_ITER raised
    assert load_checkpoint(run_copy / "model_final.pth")["iteration"] == 3
    assert _iterations(run_copy) == [1, 2, 3]


def test_resume_refuses_to_change_what_the_run_was_trained_with(run_copy):
    before = (run_copy / "config.yaml").read_bytes()
    res = CliRunner().invoke(app, _resume(run_copy, "SOLVER.BASE_LR", "0.5"))
    assert res.exit_code == EXIT_BAD_INPUT
    _one_error_line(res.output, "config.yaml: SOLVER.BASE_LR is 0.01", "SOLVER.MAX_ITER", "new OUTPUT_DIR")
    assert (run_copy / "config.yaml").read_bytes() == before


def test_resuming_a_finished_run_changes_nothing(run_copy):
    before = {p.name: p.read_bytes() for p in run_copy.iterdir() if p.is_file()}
    output = _invoke(_resume(run_copy))
    assert "nothing to resume" in output and "SOLVER.MAX_ITER is 2" in output
    assert {p.name: p.read_bytes() for p in run_copy.iterdir() if p.is_file()} == before


def test_resume_without_a_checkpoint_says_so(tmp_path):
    res = CliRunner().invoke(app, _resume(tmp_path / "empty"))
    assert res.exit_code == EXIT_BAD_INPUT
    _one_error_line(res.output, "empty: nothing to resume (no last_checkpoint)")
    assert not (tmp_path / "empty").exists()


def test_a_new_run_does_not_overwrite_a_finished_one(data, run_copy):  # noqa: F811
    before = (run_copy / "config.yaml").read_bytes()
    res = CliRunner().invoke(app, _args(data, run_copy, "SOLVER.BASE_LR", "0.5"))
    assert res.exit_code == EXIT_BAD_INPUT
    _one_error_line(res.output, "already holds a run (latest checkpoint model_final.pth)", "--resume")
    assert (run_copy / "config.yaml").read_bytes() == before


def test_the_help_names_exactly_the_keys_a_resume_may_change():
    assert RESUMABLE_HELP.split(", ") == list(RESUMABLE_KEYS)
    res = CliRunner().invoke(app, ["train", "--help"])
    assert "--resume" in res.output and "SOLVER.MAX_ITER" in res.output


# -- inputs checked before the first iteration ----------------------------------------------------------


def _without_test_set(args: list[str]) -> list[str]:
    at = args.index("DATASETS.TEST")
    return args[:at] + args[at + 2 :]


def test_a_missing_default_test_set_fails_before_training(data, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    res = CliRunner().invoke(app, _without_test_set(_args(data, out, "DATASETS.ROOT", str(tmp_path / "none"))))
    assert res.exit_code == EXIT_BAD_INPUT
    _one_error_line(res.output, "densepose_minival2014.json: annotation file of dataset 'densepose_coco_2014_minival'")
    assert not out.exists()


def test_missing_evaluation_files_fail_before_training(data, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    res = CliRunner().invoke(app, _args(data, out, "TEST.EVAL_DATA_DIR", str(tmp_path)))
    assert res.exit_code == EXIT_BAD_INPUT
    _one_error_line(res.output, f"{tmp_path / 'SMPL_subdiv.mat'}: evaluation-data file not found")
    assert not out.exists()


def test_no_readable_image_is_one_line_and_leaves_no_files(data, tmp_path):  # noqa: F811
    train = data / "train"
    spec = f"['{train}/annotations.json:{tmp_path / 'no_images'}']"
    (tmp_path / "no_images").mkdir()
    out = tmp_path / "run"
    res = CliRunner().invoke(app, _args(data, out, "DATASETS.TRAIN", spec, test=False))
    assert res.exit_code == EXIT_BAD_INPUT
    _one_error_line(res.output, "none of the 6 training images can be read (first: ",
                    "000000.png: not a readable image")
    assert not out.exists() or not list(out.iterdir())


def test_cuda_on_a_machine_without_gpu_is_one_line(data, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    res = CliRunner().invoke(app, _args(data, tmp_path / "run", "MODEL.DEVICE", "cuda"))
    assert res.exit_code == EXIT_BAD_INPUT
    _one_error_line(res.output, "MODEL.DEVICE cuda: needs 1 CUDA GPU(s), this machine has 0")


# -- annotation files: the file, the record and the field ---------------------------------------------


def _synth_json(data, tmp_path, edit) -> str:  # noqa: F811
    content = json.loads((data / "train" / "annotations.json").read_text())
    edit(content)
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(content))
    return f"{path}:{data / 'train' / 'images'}"


def _drop(key):
    return lambda c: c.pop(key)


def _drop_from_first_dense(key):
    def edit(content):
        ann = next(a for a in content["annotations"] if "dp_x" in a)
        del ann[key]

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_drop_from_first_dense("dp_U"), r"ann\.json: annotation \d+ \(index \d+\): has dp_x but no 'dp_U'"),
        (_drop_from_first_dense("dp_masks"), r"ann\.json: annotation \d+ \(index \d+\): has dp_x but no 'dp_masks'"),
        (_drop_from_first_dense("bbox"), r"ann\.json: annotation \d+ \(index \d+\): missing 'bbox'"),
        (_drop_from_first_dense("image_id"), r"ann\.json: annotation \d+ \(index \d+\): missing 'image_id'"),
        (_drop("categories"), r"ann\.json: no 'categories' list"),
        (lambda c: c["images"][1].pop("height"), r"ann\.json: image 1 \(id 2\): missing 'height'"),
        (lambda c: c["annotations"][0].update(keypoints=[0] * 50),
         r"ann\.json: annotation 1 \(index 0\): 'keypoints' must hold 51 numbers, got 50"),
        (
            lambda c: [a.pop(k) for a in c["annotations"] for k in ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V", "dp_masks")
                       if k in a],
            r"ann\.json: no DensePose ground truth: none of its \d+ annotations has dp_x",
        ),
    ],
)
def test_a_training_set_missing_a_field_names_file_record_and_field(data, tmp_path, edit, message):  # noqa: F811
    with pytest.raises(ValueError, match=message):
        DensePoseCocoDataset(resolve(_synth_json(data, tmp_path, edit)), train=True)


def test_train_with_a_missing_dp_field_is_one_line(data, tmp_path):  # noqa: F811
    spec = _synth_json(data, tmp_path, _drop_from_first_dense("dp_U"))
    res = CliRunner().invoke(app, _args(data, tmp_path / "run", "DATASETS.TRAIN", f"['{spec}']", test=False))
    assert res.exit_code == EXIT_BAD_INPUT
    _one_error_line(res.output, "ann.json: annotation", "has dp_x but no 'dp_U'")


# -- evaluate ----------------------------------------------------------------------------------------


@pytest.fixture
def eval_files(tmp_path):
    write_toy_eval_data(tmp_path / "eval")
    persons = [person(1, 1, LARGE_BOX)]
    results = tmp_path / "results.json"
    results.write_text(json.dumps([detection(persons[0], 0.9) | {"file_name": "1.png"}]))
    return persons, results, tmp_path / "eval"


def _evaluate(gt, results, eval_dir, *extra):
    return CliRunner().invoke(app, ["evaluate", str(gt), str(results), "--eval-data", str(eval_dir), *map(str, extra)])


def test_results_of_other_files_are_refused_not_scored_zero(eval_files, tmp_path):
    persons, results, eval_dir = eval_files
    gt = gt_json(tmp_path / "gt.json", persons, 1)
    assert _evaluate(gt, results, eval_dir).exit_code == 0
    renamed = json.loads(results.read_text())
    renamed[0]["file_name"] = "frame_0001.jpg"
    results.write_text(json.dumps(renamed))
    res = _evaluate(gt, results, eval_dir)
    assert res.exit_code == EXIT_BAD_INPUT
    message = "detection 0 (image id 1): file_name 'frame_0001.jpg' is not the ground truth's '1.png'"
    _one_error_line(res.output, message, "ktn infer --annotations")


def test_a_ground_truth_without_annotations_is_refused(eval_files, tmp_path):
    _, results, eval_dir = eval_files
    res = _evaluate(gt_json(tmp_path / "gt.json", [], 1), results, eval_dir)
    assert res.exit_code == EXIT_BAD_INPUT
    _one_error_line(res.output, "gt.json: no DensePose ground truth: none of its 0 annotations has dp_x")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.pop("categories"), "gt.json: no 'categories' list"),
        (lambda c: c["annotations"][0].pop("area"), "gt.json: annotation 1 (index 0): missing 'area'"),
        (lambda c: c["annotations"][0].pop("bbox"), "gt.json: annotation 1 (index 0): missing 'bbox'"),
        (lambda c: c["annotations"][0].pop("image_id"), "gt.json: annotation 1 (index 0): missing 'image_id'"),
        (lambda c: c["annotations"][0].pop("dp_U"), "gt.json: annotation 1 (index 0): has dp_x but no 'dp_U'"),
    ],
)
def test_a_ground_truth_missing_a_field_names_file_record_and_field(eval_files, tmp_path, edit, message):
    persons, results, eval_dir = eval_files
    gt = tmp_path / "gt.json"
    gt_json(gt, persons, 1)
    content = json.loads(gt.read_text())
    edit(content)
    gt.write_text(json.dumps(content))
    res = _evaluate(gt, results, eval_dir)
    assert res.exit_code == EXIT_BAD_INPUT
    _one_error_line(res.output, message)


def test_evaluate_out_pointing_at_a_directory_names_it(eval_files, tmp_path):
    persons, results, eval_dir = eval_files
    folder = tmp_path / "metrics"
    folder.mkdir()
    res = _evaluate(gt_json(tmp_path / "gt.json", persons, 1), results, eval_dir, "--out", folder)
    assert res.exit_code == EXIT_BAD_INPUT
    _one_error_line(res.output, f"--out {folder}: is a directory")
    assert not list(folder.iterdir()) and not list(tmp_path.glob(".*.tmp"))


# -- small CLI checks ----------------------------------------------------------------------------------


def test_synth_negative_seed_names_the_option(tmp_path):
    res = CliRunner().invoke(app, ["data", "synth", "--out", str(tmp_path / "s"), "--seed", "-1"])
    assert res.exit_code == EXIT_BAD_INPUT
    _one_error_line(res.output, "--seed -1: must be at least 0")
    assert not (tmp_path / "s").exists()


def test_the_app_help_states_the_exit_codes():
    res = CliRunner().invoke(app, ["--help"])
    text = " ".join(res.output.replace("│", " ").split())
    assert " ".join(EXIT_CODES_HELP.split()) in text
    assert "2 bad input" in EXIT_CODES_HELP and "1 a run that failed" in EXIT_CODES_HELP
    assert "130 interrupted" in EXIT_CODES_HELP
