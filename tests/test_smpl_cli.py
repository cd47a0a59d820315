"""``ktn smpl correspond``: per-image .npz from predicted IUVs, generated UV data and SMPL stand-ins."""

import numpy as np
import pytest
import scipy.io
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model import api
from ktn_model.surface.correspond import SurfaceLocator
from ktn_model.surface.smpl_pixels import pixel_correspondences
from ktn_model.surface.standin import random_uv_mesh, save_smpl, template_for
from ktn_model.surface.uv_mesh import save_uv_data


def _frame(seed: int, height: int, width: int) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """A random two-person IUV (left and right halves, a background border)."""
    rng = np.random.default_rng(seed)
    iuv = np.zeros((height, width, 3), np.uint8)
    iuv[1:-1, 1:-1] = np.stack([rng.integers(1, 25, (height - 2, width - 2)),
                                *rng.integers(0, 256, (2, height - 2, width - 2))], -1)  # fmt: skip
    inds = np.where(iuv[..., 0] > 0, 1 + (np.arange(width) >= width // 2), 0).astype(np.uint8)
    return f"f{seed}", np.zeros((height, width, 3), np.uint8), iuv, inds


@pytest.fixture
def setup(tmp_path, monkeypatch):
    mesh = random_uv_mesh(seed=3, vertices_per_patch=25)
    save_uv_data(tmp_path / "UV_Processed.mat", mesh)
    template = template_for(mesh, seed=4)
    save_smpl(tmp_path / "smpl.pkl", template)
    items = [_frame(0, 12, 20), _frame(1, 9, 7)]
    monkeypatch.setattr(api, "predict_iuv", lambda *a: iter(items))
    return mesh, template, items


def _run(args):
    return CliRunner().invoke(app, ["smpl", "correspond", "in", "--weights", "w.pth", *[str(a) for a in args]])


def test_correspond_writes_one_npz_per_image(tmp_path, setup):
    mesh, template, items = setup
    res = _run(["--uv-data", tmp_path / "UV_Processed.mat", "--smpl-model", tmp_path / "smpl.pkl",
                "--out", tmp_path / "out"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"{10 * 18 + 7 * 5} person pixels in 2 image(s)" in res.output
    locator = SurfaceLocator(mesh)
    for name, _, iuv, inds in items:
        with np.load(tmp_path / "out" / f"{name}_smpl.npz") as saved:
            expected = pixel_correspondences(locator, iuv, inds, template)
            assert sorted(saved.files) == sorted(expected)
            for key, value in expected.items():
                np.testing.assert_array_equal(saved[key], value)
            assert (saved["smpl_face"] >= 0).all() and not np.isnan(saved["points"]).any()
    res = _run(["--uv-data", tmp_path / "UV_Processed.mat", "--out", tmp_path / "plain"])
    assert res.exit_code == 0, res.output
    with np.load(tmp_path / "plain" / "f0_smpl.npz") as saved:
        assert "points" not in saved.files and len(saved["face"]) == 180


def test_bad_uv_data_or_smpl_model_is_one_line_and_exit_2(tmp_path, setup):
    mesh, template, _ = setup
    fields = scipy.io.loadmat(tmp_path / "UV_Processed.mat")
    scipy.io.savemat(tmp_path / "partial.mat", {k: v for k, v in fields.items() if k in ("All_Faces", "All_U_norm")})
    small = type(template)(template.vertices[:10], template.faces[:0])
    save_smpl(tmp_path / "small.npz", small)
    cases = [
        (["--uv-data", tmp_path / "partial.mat"],
         "partial.mat: missing field(s) All_FaceIndices, All_V_norm, All_vertices"),
        (["--uv-data", tmp_path / "none.mat"], "none.mat: UV data not found"),
        (["--uv-data", tmp_path / "UV_Processed.mat", "--smpl-model", tmp_path / "small.npz"],
         f"small.npz: the UV data refers to SMPL vertex {mesh.smpl_vertex.max() + 1}, the model has 10"),
        (["--uv-data", tmp_path / "UV_Processed.mat", "--smpl-model", tmp_path / "UV_Processed.mat"],
         "UV_Processed.mat: a SMPL model is a .pkl or .npz file"),
    ]
    for args, message in cases:
        res = _run([*args, "--out", tmp_path / "out"])
        assert res.exit_code == 2 and message in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "out").exists()
