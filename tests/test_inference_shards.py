"""``ktn infer --shard K/N`` and restartable folder runs: shards merge into one run's results.json, a run killed
half-way and restarted writes the same bytes as one that never stopped, ``--num-gpus``'s child command lines and
``--num-gpus`` without GPUs."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.inference import gpus
from ktn_model.inference.gpus import LAUNCH, without_option
from ktn_model.inference.shards import in_shard, parse_shard, remove_stale_temp_files

IMAGES = 10


def test_parse_shard_and_the_split():
    assert parse_shard(None) == (0, 1) and parse_shard("0/2") == (0, 2) and parse_shard(" 3/4 ") == (3, 4)
    for bad in ("3/2", "2/2", "1/0", "a/b", "1", "-1/2"):
        with pytest.raises(ValueError, match=f"--shard {bad}: expected K/N with 0 <= K < N"):
            parse_shard(bad)
    assert [p for p in range(7) if in_shard(p, (1, 3))] == [1, 4]
    assert sorted(p for k in range(3) for p in range(7) if in_shard(p, (k, 3))) == list(range(7))  # each once
    assert without_option(["infer", "a", "--num-gpus", "2", "--num-gpus=3", "--out", "o"], "--num-gpus") == [
        "infer", "a", "--out", "o"]  # fmt: skip


class _Child:
    """A ``subprocess.Popen`` stand-in: records its command line, ``wait()`` gives a chosen exit code."""

    def __init__(self, argv, codes, started):
        self.argv, self.code = argv, codes[len(started)]
        started.append(argv)

    def wait(self):
        return self.code


@pytest.mark.parametrize("option", [["--num-gpus", "2"], ["--num-gpus=2"]])
def test_num_gpus_starts_one_child_per_gpu_with_its_shard_and_device_and_returns_the_worst_code(monkeypatch, option):
    started: list[list[str]] = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(gpus.subprocess, "Popen", lambda argv: _Child(argv, [0, 1], started))
    argv = ["infer", "in", *option, "--out", "o", "MODEL.X", "1"]
    assert gpus.run_on_gpus(2, None, argv=argv) == 1  # child 1 failed
    assert started == [[sys.executable, "-c", LAUNCH, "infer", "in", "--out", "o", "MODEL.X", "1",
                        "--shard", f"{r}/2", "MODEL.DEVICE", f"cuda:{r}"] for r in range(2)]  # fmt: skip


def test_stale_temp_files_of_our_outputs_only_are_removed(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in (".a_IUV.png.x1y2.tmp", "sub/.b.json.zz.tmp", ".c.seg00001.npz.q9.tmp", ".notes.tmp", "keep.png"):
        (tmp_path / name).write_bytes(b"")
    assert remove_stale_temp_files(tmp_path) == 3
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == [
        ".notes.tmp", "keep.png"]  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("shard_inputs")
    rng = np.random.default_rng(7)
    for k in range(IMAGES):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), np.uint8)).save(root / f"im{k:02d}.png")
    return root


def _args(folder, weights, out):
    return ["infer", str(folder), "INPUT.MIN_SIZE_TEST", "96", "--weights", str(weights), "--min-score", "0",
            "--vis", "dp_parula", "--out", str(out)]  # fmt: skip


def _files(out):
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
            and p.name != ".lock"}


def test_two_shards_merge_into_the_results_json_of_one_run(tmp_path, folder, trained):
    torch.set_num_threads(1)
    weights, _, _ = trained
    one = CliRunner().invoke(app, _args(folder, weights, tmp_path / "one"))
    assert one.exit_code == 0, one.output
    first = CliRunner().invoke(app, [*_args(folder, weights, tmp_path / "two"), "--shard", "1/2"])
    assert first.exit_code == 0, first.output
    half = _files(tmp_path / "two")
    assert sorted(n for n in half if n.endswith("_IUV.png")) == [f"im{k:02d}_IUV.png" for k in range(1, IMAGES, 2)]
    assert half["results.json"] != _files(tmp_path / "one")["results.json"]  # only shard 1's images so far
    second = CliRunner().invoke(app, [*_args(folder, weights, tmp_path / "two"), "--shard", "0/2"])
    assert second.exit_code == 0, second.output
    assert _files(tmp_path / "two") == _files(tmp_path / "one")  # every PNG, every part and results.json


def _subprocess(args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", "import torch; torch.set_num_threads(1); " + LAUNCH, *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def test_a_run_killed_half_way_and_restarted_writes_the_bytes_of_an_uninterrupted_run(tmp_path, folder, trained):
    weights, _, _ = trained
    whole = _subprocess(_args(folder, weights, tmp_path / "whole"))
    assert whole.wait(timeout=600) == 0, whole.stderr.read().decode()
    killed = _subprocess(_args(folder, weights, tmp_path / "killed"))
    parts = tmp_path / "killed" / ".parts"
    deadline = time.monotonic() + 600
    while len(list(parts.glob("*.json"))) < IMAGES // 3 and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    done = len(list(parts.glob("*.json")))
    assert IMAGES // 3 <= done < IMAGES and not (tmp_path / "killed" / "results.json").exists()
    for png in (tmp_path / "killed").glob("*.png"):  # whatever has its final name is whole
        Image.open(png).load()
    restarted = _subprocess(_args(folder, weights, tmp_path / "killed"))
    assert restarted.wait(timeout=600) == 0, restarted.stderr.read().decode()
    assert _files(tmp_path / "killed") == _files(tmp_path / "whole")


def test_bad_shard_and_num_gpus_without_gpus_are_one_line_before_any_work(tmp_path, folder, trained, monkeypatch):
    weights, _, _ = trained
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    cases = [(["--shard", "3/2"], "error: --shard 3/2: expected K/N with 0 <= K < N (e.g. 0/4 ... 3/4)"),
             (["--num-gpus", "2"], "error: --num-gpus 2: this machine has 0 GPU(s)")]  # fmt: skip
    for extra, message in cases:
        res = CliRunner().invoke(app, [*_args(folder, weights, tmp_path / "out"), *extra])
        assert res.exit_code == 2 and res.output.strip() == message, res.output
        assert not (tmp_path / "out").exists()
