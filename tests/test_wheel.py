"""The built wheel carries its presets and default graphs: ``ktn demo`` and ``ktn train --config-file <preset>``
work from any directory with nothing but the installed package."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this tree and installed (without dependencies) into a fresh folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
    for name in tracked:  # a clean copy: setuptools' build/ folder would carry stale files into the wheel
        if (ROOT / name).is_file():
            (tmp / "src" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tmp / "src" / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(tmp / "src"), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist")], check=True, capture_output=True)
    (wheel,) = (tmp / "dist").glob("ktn-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp / "site"),
                    str(wheel)], check=True, capture_output=True)
    return tmp / "site"


def _ktn(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = "import ktn_model, sys; from ktn_cli.ktn import app; print('package', ktn_model.__file__); app(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_the_wheel_holds_presets_and_graphs(installed):
    shipped = installed / "ktn_model"
    assert (shipped / "configs" / "ktn_tiny_cpu.yaml").is_file()
    assert (shipped / "configs" / "detectron2" / "densepose_rcnn_R_50_FPN_s1x.yaml").is_file()
    assert (shipped / "configs" / "release" / "ktnv2_R_50.yaml").is_file()
    assert (shipped / "graphs" / "v2.pkl").is_file() and (installed / "ktn_utils" / "atomic.py").is_file()
    for name in ("cse/densepose_rcnn_R_50_FPN_soft_s1x", "evolution/densepose_R_50_FPN_DL_WC1M_3x_Atop10P_CA"):
        assert (shipped / "configs" / "detectron2" / f"{name}.yaml").is_file()  # every zoo model's preset
    assert (shipped / "zoo" / "models.csv").is_file()


def test_demo_and_train_with_a_preset_name_from_another_directory(installed, tmp_path):
    res = _ktn(installed, tmp_path, "demo", "--out", "demo", "--iterations", "2", "--train-images", "4",
               "--val-images", "2", "--image-size", "96")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"package {installed}" in res.stdout and "trained" in res.stdout
    data = tmp_path / "demo" / "data"
    res = _ktn(installed, tmp_path, "train", "--config-file", "ktn_tiny_cpu", "OUTPUT_DIR", "run",
               "DATASETS.TRAIN", f"[\"{data}/train/annotations.json:{data}/train/images\"]", "DATASETS.TEST", "[]",
               "INPUT.HFLIP_TRAIN", "False", "SOLVER.MAX_ITER", "2", "MODEL.DEVICE", "cpu")
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "run" / "model_final.pth").is_file()
