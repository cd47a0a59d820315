"""Bad input to every command, by class (what a new user hit): exit code 2, exactly one ``error:`` line naming the
file, key or option, no traceback, no temp-file name, nothing left on disk. Most cases stop before the model loads.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_cli.ktn_kg import app as kg_app
from ktn_model.config import setup_cfg, validate_cfg
from ktn_model.resources import presets
from ktn_model.surface.standin import random_uv_mesh
from ktn_model.surface.uv_mesh import save_uv_data
from ktn_model.threads import torch_threads
from ktn_utils.machine import default_threads, usable_cpus

ROOT = Path(__file__).resolve().parents[1]
TINY = "configs/ktn_tiny_cpu.yaml"


def bad(args: list, *parts: str, app_=app, absent: tuple = ()) -> str:
    """Run a command that must refuse its input; returns the error line."""
    res = CliRunner().invoke(app_, [str(a) for a in args])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit), f"not handled: {res.exception!r}"
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert ".tmp" not in lines[0] and "Traceback" not in res.output
    for part in parts:
        assert part in lines[0], (part, lines[0])
    for path in absent:
        assert not Path(path).exists(), f"{path} left behind"
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory, trained_weights):
    """Inputs of every kind, good and bad, in one folder."""
    root = tmp_path_factory.mktemp("bad_inputs")
    Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(root / "photo.png")
    (root / "text.txt").write_text("not a mat, not an image")
    (root / "empty.mat").write_bytes(b"")
    save_uv_data(root / "uv.mat", random_uv_mesh(seed=0, vertices_per_patch=20))
    fields = {k: v for k, v in scipy.io.loadmat(root / "uv.mat").items() if not k.startswith("__")}
    scipy.io.savemat(root / "cut_uv.mat", {**fields, "All_FaceIndices": fields["All_FaceIndices"][:-5]})
    Image.fromarray(np.zeros((24, 16, 3), np.uint8)).save(root / "atlas.png")
    (root / "truncated").mkdir()
    (root / "truncated" / "model_final.pth").write_bytes(trained_weights.read_bytes()[:100_000])
    (root / "truncated" / "config.yaml").write_text((trained_weights.parent / "config.yaml").read_text())
    (root / "folder").mkdir()
    return root


@pytest.fixture(scope="module")
def trained_weights(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("weights")
    cfg = setup_cfg(TINY, ["OUTPUT_DIR", str(out)])
    from ktn_model.modeling import build_model

    torch.manual_seed(0)
    torch.save({"model": build_model(cfg).state_dict(), "iteration": 0}, out / "model_final.pth")
    (out / "config.yaml").write_text(cfg.dump())
    return out / "model_final.pth"


def _model(files, trained_weights) -> list:
    return [files / "photo.png", "--weights", trained_weights]


# -- 1. every file reader and size option checked before work -------------------------------------------------------


def test_unreadable_files_and_huge_sizes_are_one_line(files, trained_weights, tmp_path):
    run = _model(files, trained_weights)
    out = tmp_path / "out"
    bad(["smpl", "correspond", *run, "--uv-data", files / "text.txt", "--out", out], "text.txt: not a readable MATLAB",
        absent=[out])
    bad(["smpl", "correspond", *run, "--uv-data", files / "empty.mat", "--out", out], "empty.mat: not a readable",
        absent=[out])
    bad(["smpl", "correspond", *run, "--uv-data", files / "uv.mat", "--smpl-model", files / "text.txt", "--out", out],
        "text.txt: a SMPL model is a .pkl or .npz file", absent=[out])
    bad(["texture", "apply", files / "text.txt", *run, "--out", out], "text.txt: not a readable image", absent=[out])
    bad(["infer", *run, "--out", out, "--texture-atlas", files / "text.txt"], "text.txt: not a readable image",
        absent=[out])
    bad(["infer", files / "photo.png", "--weights", files / "empty.mat", "--config-file", TINY, "--out", out],
        "empty.mat: not a readable checkpoint", absent=[out])
    line = bad(["texture", "extract", *run, "--out", out / "a.png", "--tile-size", 100_000],
               "--tile-size 100000: must be at most", "GiB of memory available", absent=[out])
    assert int(re.search(r"at most (\d+)", line)[1]) < 100_000
    bad(["data", "synth", "--out", out, "--size", 10**7], "--size 10000000: must be at most", absent=[out])
    bad(["demo", "--out", out, "--image-size", 10**7], "--image-size 10000000: must be at most", absent=[out])


# -- 2. the config's numbers validated at start, naming the key ----------------------------------------------------


@pytest.mark.parametrize(("key", "value", "message"), [
    ("SOLVER.MAX_ITER", "0", "SOLVER.MAX_ITER 0: must be at least 1"),
    ("SOLVER.MAX_ITER", "-1", "SOLVER.MAX_ITER -1: must be at least 1"),
    ("SOLVER.STEPS", "(200, 100)", "SOLVER.STEPS [200, 100]: must be increasing"),
    ("SOLVER.STEPS", "(0,)", "SOLVER.STEPS 0: must be at least 1"),
    ("SOLVER.IMS_PER_BATCH", "0", "SOLVER.IMS_PER_BATCH 0: must be at least 1"),
    ("SOLVER.BASE_LR", "0.0", "SOLVER.BASE_LR 0.0: must be greater than 0"),
    ("SOLVER.WARMUP_FACTOR", "2.0", "SOLVER.WARMUP_FACTOR 2.0: must be in (0, 1]"),
    ("SOLVER.CHECKPOINT_PERIOD", "0", "SOLVER.CHECKPOINT_PERIOD 0: must be at least 1"),
    ("INPUT.MAX_SIZE_TRAIN", "0", "INPUT.MAX_SIZE_TRAIN 0: must be at least 1"),
    ("INPUT.MIN_SIZE_TRAIN", "(0, 96)", "INPUT.MIN_SIZE_TRAIN 0: must be at least 1"),
    ("DATALOADER.NUM_WORKERS", "-2", "DATALOADER.NUM_WORKERS -2: must be at least 0"),
])
def test_training_numbers_are_checked_before_anything_runs(tmp_path, key, value, message):
    out = tmp_path / "run"
    bad(["train", "--config-file", TINY, "OUTPUT_DIR", out, key, value], message, absent=[out])


def test_every_shipped_preset_passes_the_checks_and_workers_must_divide_the_batch():
    for preset in presets():
        validate_cfg(setup_cfg(preset), training=True)
    with pytest.raises(ValueError, match=r"SOLVER.IMS_PER_BATCH 16: must be a multiple of the 3 workers"):
        validate_cfg(setup_cfg(TINY, ["SOLVER.IMS_PER_BATCH", "16"]), training=True, workers=3)


# -- 3. absurd values refused, options the recipe ignores refused ---------------------------------------------------


@pytest.mark.parametrize(("value", "rule"), [("nan", "must be a finite number"), ("-1", "must be at least 0.0"),
                                             ("2", "must be at most 1.0")])
def test_min_score_outside_0_1_is_refused_by_every_command(files, trained_weights, tmp_path, value, rule):
    run, out = _model(files, trained_weights), tmp_path / "out"
    for command in (["infer", *run, "--out", out], ["texture", "extract", *run, "--out", out / "a.png"],
                    ["smpl", "correspond", *run, "--uv-data", files / "uv.mat", "--out", out]):
        bad([*command, "--min-score", value], f"--min-score {float(value)}: {rule}", absent=[out])


def test_threads_seeds_and_unused_recipe_options_are_refused(files, tmp_path):
    out = tmp_path / "out"
    limit = usable_cpus()
    bad(["demo", "--out", out, "--threads", limit + 1], f"--threads {limit + 1}: must be at most {limit}",
        "the CPUs this process may use", absent=[out])
    bad(["demo", "--out", out, "--seed", -1], "--seed -1: must be at least 0", absent=[out])
    bad(["data", "synth", "--out", out, "--seed", -1], "--seed -1: must be at least 0", absent=[out])
    bad(["build", "--out", out / "g.pkl", "--omega", "0.3"], "--omega 0.3: the release recipe does not use it",
        app_=kg_app, absent=[out])
    bad(["build", "--out", out / "g.pkl", "--tau", "0.7"], "--tau 0.7: the release recipe", app_=kg_app, absent=[out])
    bad(["build", "--out", out / "g.pkl", "--workers", "2"], "--workers 2: only used to read --vg", app_=kg_app,
        absent=[out])
    bad(["diff", ROOT / "graphs/v2.pkl", ROOT / "graphs/v2.pkl", "--tol", "nan"], "--tol nan: must be a finite",
        app_=kg_app)
    bad(["texture", "apply", files / "atlas.png", files / "photo.png", "--weights", "w", "--out", out, "--alpha",
         "nan"], "--alpha nan: must be a finite number", absent=[out])


# -- 4. one convention for range errors: "error: --option VALUE: rule", not a usage box ---------------------------


def test_range_errors_are_one_line_not_a_usage_box(files, tmp_path):
    out = tmp_path / "out"
    assert bad(["demo", "--out", out, "--train-images", 1]) == "error: --train-images 1: must be at least 2"
    bad(["demo", "--out", out, "--iterations", 0], "--iterations 0: must be at least 1")
    bad(["demo", "--out", out, "--val-images", 0], "--val-images 0: must be at least 1")
    bad(["demo", "--out", out, "--image-size", 10], "--image-size 10: must be at least 64")
    bad(["demo", "--out", out, "--threads", 0], "--threads 0: must be at least 1")
    bad(["demo", "--out", out, "--iterations", "abc"], "--iterations")
    bad(["texture", "apply", files / "atlas.png", "in", "--weights", "w", "--out", out, "--alpha", 2],
        "--alpha 2.0: must be at most 1.0")
    bad(["texture", "extract", "in", "--weights", "w", "--out", out, "--tile-size", 1],
        "--tile-size 1: must be at least 2")
    bad(["texture", "extract", "in", "--weights", "w", "--out", out, "--person", 0], "--person 0: must be at least 1")
    bad(["train", "--num-gpus", 0], "--num-gpus 0: must be at least 1")
    bad(["infer", "in", "--weights", "w", "--out", out, "--batch-size", 0], "--batch-size 0: must be at least 1")
    bad(["data", "synth", "--out", out, "--size", 10], "--size 10: must be at least 64")
    bad(["data", "synth", "--out", out, "--images", 0], "--images 0: must be at least 1")
    bad(["build", "--out", out / "g.pkl", "--workers", 0], "--workers 0: must be at least 1", app_=kg_app)
    bad(["diff", "a", "b", "--tol", -1], "--tol -1.0: must be at least 0.0", app_=kg_app)
    bad(["inspect", "g", "--top", 0], "--top 0: must be at least 1", app_=kg_app)
    bad(["infer", "in", "--weights", "w"], "Missing option '--out'")
    bad(["infer", "in", "--weights", "w", "--out", out, "--wieghts", "x"], "no such option: --wieghts")
    bad(["export", "--weights", "w", "--out", out / "m", "--format", "tflite"], "--format tflite: choose one of onnx")
    assert not out.exists()


def test_the_options_of_this_rounds_commands_follow_the_same_convention(files, trained_weights, tmp_path):
    """``infer``'s video / render / scale-out options, ``inpaint``, ``evaluate`` and ``models``."""
    run, out = _model(files, trained_weights), tmp_path / "out"
    bad(["infer", *run, "--out", out, "--render-size", 0], "--render-size 0: must be at least 1", absent=[out])
    bad(["infer", *run, "--out", out, "--render-size", 10**7], "--render-size 10000000: must be at most",
        "memory available", absent=[out])
    bad(["infer", *run, "--out", out, "--steady", -1], "--steady -1: must be at least 0", absent=[out])
    bad(["infer", *run, "--out", out, "--num-gpus", -1], "--num-gpus -1: must be at least 0", absent=[out])
    bad(["infer", *run, "--out", out, "--shard", "3/2"], "--shard 3/2: expected K/N with 0 <= K < N", absent=[out])
    bad(["infer", *run, "--out", out, "--vis", "dp_rainbow"], "unknown visualisation dp_rainbow", absent=[out])
    gt = files / "photo.png"  # never read: the options are refused first
    bad(["inpaint", "--weights", trained_weights, "--annotations", gt, "--out", out / "p.json", "--grid", 0],
        "--grid 0: must be at least 1", absent=[out])
    bad(["inpaint", "--weights", trained_weights, "--annotations", gt, "--out", out / "p.json", "--grid", 5000],
        "--grid 5000: must be at most 1024", absent=[out])
    bad(["inpaint", "--weights", trained_weights, "--annotations", gt, "--out", out / "p.json", "--min-probability",
         "nan"], "--min-probability nan: must be a finite number", absent=[out])
    bad(["evaluate", gt, gt, "--workers", 0], "--workers 0: must be at least 1")
    bad(["evaluate", gt, gt, "--workers", usable_cpus() + 1], f"--workers {usable_cpus() + 1}: must be at most")
    bad(["models", "--taks", "cse"], "--taks")
    bad(["evaluate", gt, gt, "--out", gt / "m.json"], f"{gt / 'm.json'}", "is a file")  # before any scoring


# -- 5. overrides: negative numbers are values, every invalid override names its key -----------------------------


def test_negative_override_values_reach_the_config_and_name_their_key(files, trained_weights, tmp_path):
    run, out = _model(files, trained_weights), tmp_path / "out"
    bad(["infer", *run, "--out", out, "INPUT.MIN_SIZE_TEST", "-5"], "INPUT.MIN_SIZE_TEST -5: must be at least 1",
        absent=[out])
    bad(["infer", *run, "--out", out, "--", "INPUT.MIN_SIZE_TEST", "-5"], "INPUT.MIN_SIZE_TEST -5", absent=[out])
    bad(["infer", *run, "--out", out, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "-0.1"],
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST -0.1: must be in [0, 1]", absent=[out])
    bad(["export", "--weights", trained_weights, "--out", out / "m.onnx", "INPUT.MAX_SIZE_TEST", "-1"],
        "INPUT.MAX_SIZE_TEST -1: must be at least 1", absent=[out])
    bad(["train", "--config-file", TINY, "OUTPUT_DIR", out, "SOLVER.WARMUP_ITERS", "-3"],
        "SOLVER.WARMUP_ITERS -3: must be at least 0", absent=[out])
    bad(["infer", *run, "--out", out, "SOLVER.MAX_ITER", "abc"], "SOLVER.MAX_ITER: expected int", absent=[out])
    bad(["infer", *run, "--out", out, "INPUT.MIN_SIZE_TEST", "96", "-x", "1"], "-x: not a config key", absent=[out])
    res = CliRunner().invoke(app, ["infer", *map(str, run), "--out", str(out), "SEED", "-1"])
    assert res.exit_code == 0, res.output  # a negative value that is valid runs
    assert (out / "photo_IUV.png").is_file()


# -- 6. errors name the file and the field ----------------------------------------------------------------------


def test_config_and_checkpoint_errors_name_the_file_and_the_key(files, trained_weights, tmp_path):
    (tmp_path / "unknown.yaml").write_text("MODEL:\n  FOO_BAR: 1\n")
    (tmp_path / "mismatch.yaml").write_text("SOLVER:\n  MAX_ITER: abc\n")
    (tmp_path / "syntax.yaml").write_text("MODEL:\n  DEVICE: [cpu\n  X: 1\n")
    out = tmp_path / "run"
    train = ["train", "OUTPUT_DIR", out, "--config-file"]
    bad([*train, tmp_path / "unknown.yaml"], "unknown.yaml: unknown config key MODEL.FOO_BAR", absent=[out])
    bad([*train, tmp_path / "mismatch.yaml"], "mismatch.yaml: SOLVER.MAX_ITER: expected int", absent=[out])
    bad([*train, files / "photo.png"], "photo.png: not a YAML config file (not UTF-8 text)", absent=[out])
    bad([*train, tmp_path / "syntax.yaml"], "syntax.yaml: not valid YAML (line 3, column 4:", absent=[out])
    bad(["infer", files / "photo.png", "--weights", files / "truncated" / "model_final.pth", "--out", out],
        "model_final.pth: not a readable checkpoint", "truncated, or not a checkpoint", absent=[out])
    line = bad(["infer", *_model(files, trained_weights), "--out", out, "MODEL.DEVICE"],
               "MODEL.DEVICE: no value given", absent=[out])
    assert "auto" not in line
    bad(["train", "--config-file", TINY, "OUTPUT_DIR", out, "MODEL.DEVICE"], "MODEL.DEVICE: no value given")
    bad(["smpl", "correspond", *_model(files, trained_weights), "--uv-data", files / "cut_uv.mat", "--out", out],
        "cut_uv.mat: All_FaceIndices has", absent=[out])


# -- 7. output paths checked before any work; the user's path, never a temp file ---------------------------------


def test_unusable_output_paths_name_the_users_path_before_any_work(files, trained_weights, tmp_path):
    folder, under_file = files / "folder", files / "photo.png" / "out"
    weights = ["--weights", trained_weights]
    for args in (["convert", trained_weights, "--to", "detectron2", "--out", folder],
                 ["export", *weights, "--out", folder, "--format", "torchscript"],
                 ["texture", "extract", files / "photo.png", *weights, "--out", folder]):
        bad(args, f"{folder}: is a folder; give a file name")
    for args in (["infer", files / "photo.png", *weights, "--out", under_file],
                 ["smpl", "correspond", files / "photo.png", *weights, "--uv-data", files / "uv.mat", "--out",
                  under_file],
                 ["texture", "apply", files / "atlas.png", files / "photo.png", *weights, "--out", under_file],
                 ["data", "synth", "--out", under_file], ["demo", "--out", under_file],
                 ["train", "--config-file", TINY, "OUTPUT_DIR", under_file],
                 ["convert", trained_weights, "--to", "ktnv2", "--out", under_file / "x.pth"]):
        bad(args, f"{under_file}", "is a file")
    graph = ROOT / "graphs" / "v2.pkl"
    bad(["build", "--out", folder], f"{folder}: is a folder", app_=kg_app)
    bad(["export", graph, "--format", "npz", "--out", folder], f"{folder}: is a folder", app_=kg_app)
    bad(["inspect", graph, "--heatmap", folder], f"{folder}: is a folder", app_=kg_app)
    bad(["import", folder, "--out", under_file], f"{under_file}", app_=kg_app)
    assert list(folder.iterdir()) == [] and [p.name for p in files.glob(".*")] == []


# -- 8. repo-relative preset paths from anywhere; never "pass" what was passed -----------------------------------


def test_preset_paths_resolve_from_any_folder(trained_weights, files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["infer", str(files / "photo.png"), "--weights", str(trained_weights),
                                   "--config-file", "configs/ktn_tiny_cpu.yaml", "--out", str(out)])
    assert res.exit_code == 0, res.output
    line = bad(["infer", files / "photo.png", "--weights", trained_weights, "--config-file", "configs/nope.yaml",
                "--out", tmp_path / "o2"], "configs/nope.yaml: config file not found, nor a preset")
    assert "pass --config-file" not in line
    bad(["export", "--weights", files / "photo.png", "--out", tmp_path / "m.onnx"],
        "photo.png: no config.yaml beside the weights; name the model's config with --config-file")


# -- 9. documented commands work as written ----------------------------------------------------------------------


def _documented_command(doc: str, program: str) -> list[str]:
    """The first ``program ...`` command of an indented block in ``doc`` (continuation lines joined)."""
    text = (ROOT / "docs" / doc).read_text()
    start = text.index(f"    {program} ")
    lines = []
    for line in text[start:].splitlines():
        lines.append(line.strip().rstrip("\\").strip())
        if not line.rstrip().endswith("\\"):
            break
    return shlex.split(" ".join(lines))[len(program.split()) :]


def test_the_usage_training_example_passes_every_check_on_synthetic_data(tmp_path, monkeypatch):
    from ktn_model.data.synthetic import generate
    from ktn_model.engine.runner import check_inputs

    args = _documented_command("usage.md", "ktn train")
    monkeypatch.chdir(tmp_path)
    generate("data/train", 2, seed=1, image_size=64)
    generate("data/val", 1, seed=2, image_size=64)
    at = args.index("--config-file")
    config_file, opts = args[at + 1], args[:at] + args[at + 2 :]
    check_inputs(setup_cfg(ROOT / config_file, opts))  # the flip file, the data, the evaluation files


def test_export_help_and_docs_give_the_same_onnx_install_command():
    from ktn_model.export.formats import ONNX_EXTRA

    help_text = " ".join(CliRunner().invoke(app, ["export", "--help"]).output.replace("│", " ").split())
    assert ONNX_EXTRA in help_text
    assert ONNX_EXTRA in (ROOT / "docs" / "export.md").read_text()
    assert '"onnx"' in (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")[1]


# -- 10. threads: a default that does not oversubscribe, bounded by the machine ---------------------------------


def test_threads_default_bound_and_restore(tmp_path):
    assert default_threads() == max(1, usable_cpus() // 2) and default_threads(workers=usable_cpus()) == 1
    before = torch.get_num_threads()
    with torch_threads(1) as count:
        assert count == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match=f"threads {usable_cpus() + 1}: must be in 1..{usable_cpus()}"):
        with torch_threads(usable_cpus() + 1):
            pass
    out = tmp_path / "out"
    for command in (["train", "--config-file", TINY, "OUTPUT_DIR", out], ["infer", "x.png", "--weights", "w", "--out",
                    out], ["export", "--weights", "w", "--out", out / "m.onnx"]):
        bad([*command, "--threads", 0], "--threads 0: must be at least 1")
        bad([*command, "--threads", usable_cpus() + 1], f"must be at most {usable_cpus()}")
        assert "--threads" in CliRunner().invoke(app, [command[0], "--help"]).output
    assert not out.exists()
