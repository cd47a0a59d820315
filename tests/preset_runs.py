"""Presets end to end on a small synthetic set: ``ktn train`` a few iterations (evaluating at the end), then
``ktn export`` to ONNX with its check. R-50 presets are made slim with the slim preset's own keys."""

from pathlib import Path

import torch
import yaml
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.data.synthetic import generate

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "ktn_tiny_cpu.yaml"


def make_data(root: Path) -> Path:
    """6 training and 2 validation images of at most 128 px."""
    generate(root / "train", 6, seed=11, image_size=128)
    generate(root / "val", 2, seed=12, image_size=128)
    return root


def _flat(node: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in node.items():
        out += _flat(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}", repr(value)]
    return out


def slim_opts() -> list[str]:
    """``configs/ktn_tiny_cpu.yaml``'s own keys (not its base's) as KEY VALUE overrides."""
    keys = yaml.safe_load(TINY.read_text())
    keys.pop("_BASE_")
    return _flat(keys)


def run_opts(data: Path, out: Path, iterations: int = 2) -> list[str]:
    """The data, sizes and schedule of a few-iteration run on ``make_data``'s set."""
    train, val = data / "train", data / "val"
    return [
        "MODEL.DEVICE", "cpu", "OUTPUT_DIR", str(out), "MODEL.ROI_DENSEPOSE_HEAD.GRAPH", str(ROOT / "graphs/v2.pkl"),
        "DATASETS.TRAIN", f"['{train}/annotations.json:{train}/images']",
        "DATASETS.TEST", f"['{val}/annotations.json:{val}/images']", "TEST.EVAL_DATA_DIR", str(val / "eval_data"),
        "INPUT.UV_SYMMETRY_FILE", str(train / "UV_symmetry_transforms.mat"),
        "INPUT.MIN_SIZE_TRAIN", "[96]", "INPUT.MAX_SIZE_TRAIN", "128", "INPUT.MIN_SIZE_TEST", "96",
        "INPUT.MAX_SIZE_TEST", "128", "SOLVER.MAX_ITER", str(iterations), "SOLVER.WARMUP_ITERS", "1",
        "SOLVER.STEPS", "[]", "SOLVER.CHECKPOINT_PERIOD", "100", "SOLVER.LOG_PERIOD", "1",
    ]  # fmt: skip


def invoke(args: list[str], code: int = 0) -> str:
    """``ktn ARGS`` on one thread (the test machine is shared); its output, after checking the exit code."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = CliRunner().invoke(app, [str(a) for a in args])
    finally:
        torch.set_num_threads(threads)
    assert res.exit_code == code, res.output
    return res.output


def train_evaluate_export(preset: str, data: Path, out: Path, *opts: str) -> str:
    """``ktn train`` (``opts``, then ``run_opts``) then ``ktn export --format onnx``; the training output."""
    output = invoke(["train", "--config-file", ROOT / preset, *opts, *run_opts(data, out)])
    assert "GPS" in output and "GPSm" in output
    exported = invoke(["export", "--weights", out / "model_final.pth", "--out", out / "model.onnx", "--format", "onnx"])
    assert "checked on a" in exported and (out / "model.onnx").is_file()
    return output
