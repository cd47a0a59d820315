"""``ktn train`` end to end with the real tiny model on a small synthetic set (96-128 px images)."""

import json
import os
import subprocess

import pytest
import torch
from torchrun_nodes import TORCHRUN, run_two_nodes
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.config import setup_cfg
from ktn_model.data.synthetic import generate
from ktn_model.modeling.weights import load_checkpoint

TINY = "configs/ktn_tiny_cpu.yaml"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    generate(root / "train", 6, seed=11, image_size=128)
    generate(root / "val", 2, seed=12, image_size=128)
    return root


def _args(data, out, *extra, test=True):
    train, val = data / "train", data / "val"
    opts = [
        "OUTPUT_DIR", str(out),
        "DATASETS.TRAIN", f"['{train}/annotations.json:{train}/images']",
        "DATASETS.TEST", f"['{val}/annotations.json:{val}/images']" if test else "[]",
        "TEST.EVAL_DATA_DIR", str(val / "eval_data"),
        "INPUT.UV_SYMMETRY_FILE", str(train / "UV_symmetry_transforms.mat"),
        "INPUT.MIN_SIZE_TRAIN", "[96]", "INPUT.MAX_SIZE_TRAIN", "128",
        "INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "128",
        "SOLVER.MAX_ITER", "4", "SOLVER.CHECKPOINT_PERIOD", "2", "SOLVER.WARMUP_ITERS", "2", "SOLVER.STEPS", "[3]",
        "SOLVER.LOG_PERIOD", "1",
    ]  # fmt: skip
    return ["train", "--config-file", TINY, "--graph", "graphs/v2.pkl", *opts, *extra]


def _invoke(args, code=0):
    res = CliRunner().invoke(app, args)
    assert res.exit_code == code, res.output
    return res.output


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return out, _invoke(_args(data, out))


def test_train_writes_checkpoints_config_metrics_and_prints_the_table(trained):
    out, output = trained
    assert "GPS" in output and "GPSm" in output and "AP50" in output
    assert sorted(p.name for p in out.glob("*.pth")) == ["model_0000002.pth", "model_final.pth"]
    cfg = setup_cfg(out / "config.yaml")
    assert cfg.MODEL.ROI_DENSEPOSE_HEAD.GRAPH == "graphs/v2.pkl" and cfg.SOLVER.MAX_ITER == 4
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records if "loss_densepose_I" in r] == [1, 2, 3, 4]
    assert [r["iteration"] for r in records if "densepose_gps/AP" in r] == [4]
    results = json.loads((out / "inference" / "annotations_results.json").read_text())
    assert all({"image_id", "bbox", "score", "densepose"} <= set(r) for r in results)


def test_eval_only_prints_gps_and_gpsm_for_a_checkpoint(data, trained, tmp_path):
    out, _ = trained
    output = _invoke(_args(data, tmp_path, "MODEL.WEIGHTS", str(out / "model_final.pth")) + ["--eval-only"])
    assert "GPS" in output and "GPSm" in output and "keypoints" in output
    assert not list(tmp_path.glob("*.pth"))  # nothing was trained


@pytest.mark.parametrize("workers", ["0", "2"])
def test_resumed_run_reaches_the_weights_of_a_straight_run(data, tmp_path, workers):
    loading = ("DATALOADER.NUM_WORKERS", workers)
    _invoke(_args(data, tmp_path / "straight", *loading, test=False))
    _invoke(_args(data, tmp_path / "resumed", *loading, "SOLVER.MAX_ITER", "2", test=False))
    assert "resumed from" in _invoke(_args(data, tmp_path / "resumed", *loading, "--resume", test=False))
    straight = load_checkpoint(tmp_path / "straight" / "model_final.pth")
    resumed = load_checkpoint(tmp_path / "resumed" / "model_final.pth")
    assert resumed["iteration"] == straight["iteration"] == 4
    assert all(torch.equal(straight["model"][k], resumed["model"][k]) for k in straight["model"])


def test_a_diverging_run_stops_naming_the_loss_and_keeps_the_last_good_checkpoint(data, tmp_path):
    extra = ["SOLVER.BASE_LR", "1e6", "SOLVER.WARMUP_ITERS", "0", "SOLVER.CHECKPOINT_PERIOD", "1"]
    output = _invoke(_args(data, tmp_path, *extra, test=False), code=1)
    last = tmp_path / "model_0000001.pth"
    assert f"error: loss_densepose_I is nan at iteration 2; training stopped (last good checkpoint: {last})" in output
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == [last.name]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--config-file", "no/such.yaml"], "no/such.yaml: config file not found"),
        (["SOLVER.NO_SUCH_KEY", "1"], "unknown config key 'SOLVER.NO_SUCH_KEY'"),
        (["--eval-only", "MODEL.WEIGHTS", "missing.pth"], "missing.pth: checkpoint not found"),
        (["--eval-only", "MODEL.WEIGHTS", ""], "--eval-only needs a checkpoint"),
    ],
)
def test_bad_inputs_give_one_line_and_exit_code_2(data, tmp_path, extra, message):
    output = _invoke(_args(data, tmp_path) + extra, code=2)
    assert message in output and len(output.strip().splitlines()) == 1


def test_two_gloo_workers_train_the_real_model(data, tmp_path):
    _invoke(_args(data, tmp_path, "--num-gpus", "2", test=False))
    state = load_checkpoint(tmp_path / "model_final.pth")
    assert state["iteration"] == 4 and len(state["rng"]) == 2


@pytest.fixture(scope="module")
def standalone(data, tmp_path_factory):
    """``torchrun --standalone --nproc_per_node 2 -m ktn_cli.ktn train`` (2 iterations): its output folder."""
    out = tmp_path_factory.mktemp("standalone")
    cmd = [*TORCHRUN, "--standalone", "--nproc_per_node", "2", "-m", "ktn_cli.ktn",
           *_args(data, out, "SOLVER.MAX_ITER", "2", test=False)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stdout + res.stderr
    return out


def test_torchrun_workers_join_one_group(standalone):
    state = load_checkpoint(standalone / "model_final.pth")
    assert state["iteration"] == 2 and len(state["rng"]) == 2


def test_two_torchrun_nodes_train_the_weights_of_the_standalone_run(data, standalone, tmp_path):
    """docs/inference.md's two-machine command, both "machines" here (tests/torchrun_nodes.py): the same two ranks
    as ``--standalone --nproc_per_node 2``, so the same weights."""
    target = ["-m", "ktn_cli.ktn", *_args(data, tmp_path / "out", "SOLVER.MAX_ITER", "2", test=False)]
    codes, output = run_two_nodes(target, tmp_path)
    assert codes == [0, 0], output
    state = load_checkpoint(tmp_path / "out" / "model_final.pth")
    expected = load_checkpoint(standalone / "model_final.pth")
    assert state["iteration"] == 2 and len(state["rng"]) == 2 and state["model"].keys() == expected["model"].keys()
    for name, value in state["model"].items():
        torch.testing.assert_close(value, expected["model"][name], rtol=0, atol=0)
