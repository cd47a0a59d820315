"""Synthetic DensePose-COCO: determinism, json format, eval-data files, body symmetry, CLI."""

import pickle

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import scipy.io
from conftest import SYNTH_IMAGES
from pycocotools.coco import COCO
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.data import body, scene, surface, synthetic
from ktn_model.data.meta import COARSE_OF_FINE, DP_KEYS, KEYPOINT_NAMES, POINT_LABEL_SYMMETRIES


@pytest.fixture(scope="module")
def coco(synth_dir):
    return COCO(str(synth_dir / "annotations.json"))


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(synth_dir, tmp_path):
    synthetic.generate(tmp_path / "again", SYNTH_IMAGES, seed=3, workers=2)  # the fixture used one process
    first, second = _files(synth_dir), _files(tmp_path / "again")
    assert sorted(first) == sorted(second)
    assert len([p for p in first if p.suffix == ".png"]) == SYNTH_IMAGES
    assert all(first[name] == second[name] for name in first)
    synthetic.generate(tmp_path / "other", 2, seed=4)
    assert (tmp_path / "other/images/000000.png").read_bytes() != (synth_dir / "images/000000.png").read_bytes()


def test_json_is_densepose_coco(coco, synth_dir):
    assert coco.dataset["categories"][0]["keypoints"] == list(KEYPOINT_NAMES)
    anns = coco.dataset["annotations"]
    assert [a["id"] for a in anns] == list(range(1, len(anns) + 1))
    assert len(coco.getImgIds()) == SYNTH_IMAGES
    for img in coco.dataset["images"]:
        assert coco.imgs[img["id"]]["height"] in (240, 320) and img["width"] in (240, 320)
        assert (synth_dir / "images" / img["file_name"]).is_file()
    crowd = [a for a in anns if a["iscrowd"]]
    no_dp = [a for a in anns if not a["iscrowd"] and "dp_x" not in a]
    assert len(crowd) >= 1 and len(no_dp) >= 1 and len(anns) - len(crowd) - len(no_dp) >= SYNTH_IMAGES
    for ann in anns:
        img = coco.imgs[ann["image_id"]]
        rle = coco.annToRLE(ann)
        assert mask_utils.area(rle) == ann["area"] > 0
        assert np.allclose(mask_utils.toBbox(rle), ann["bbox"])
        assert len(ann["keypoints"]) == 51 and ann["num_keypoints"] == sum(v > 0 for v in ann["keypoints"][2::3])
        assert all(0 <= x < img["width"] for x in ann["keypoints"][0::3])
        if ann["iscrowd"]:
            assert not any(k in ann for k in DP_KEYS)


def test_densepose_fields(coco):
    dense = [a for a in coco.dataset["annotations"] if "dp_x" in a]
    limb_points = torso_head_points = 0
    for ann in dense:
        n = len(ann["dp_I"])
        assert 0 < n <= 196 and all(len(ann[k]) == n for k in DP_KEYS[:5])
        assert all(0 <= x < 256 for x in ann["dp_x"] + ann["dp_y"])
        assert all(0 <= u <= 1 for u in ann["dp_U"] + ann["dp_V"])
        parts = np.array(ann["dp_I"], dtype=int)
        assert set(parts) <= set(range(1, 25))
        limb_points += np.isin(parts, range(7, 23)).sum() / 16
        torso_head_points += np.isin(parts, [1, 2, 23, 24]).sum() / 4
        assert len(ann["dp_masks"]) == 14
        labels = np.zeros((256, 256), int)
        for k, rle in enumerate(ann["dp_masks"], start=1):
            if rle:
                assert rle["size"] == [256, 256]
                labels[mask_utils.decode(rle) > 0] = k
        # every point lies on the coarse part of its patch (masks sampled on the same pixels)
        x, y = np.array(ann["dp_x"]).astype(int), np.array(ann["dp_y"]).astype(int)
        agree = labels[y, x] == np.asarray(COARSE_OF_FINE)[parts]
        assert agree.mean() > 0.99
    assert torso_head_points > 2 * limb_points  # per patch, limbs get fewer points


def test_points_agree_with_the_rendered_truth_at_both_scalings():
    """The json points are the rendered (I, U, V); read at the evaluator's 255-scaled position
    (docs/densepose_format.md, "GPS") a perfect prediction still has the same patch under every point."""
    for index in range(4):
        drawn = synthetic.synth_scene(3, index)
        for k, ann in enumerate(drawn.annotations):
            if "dp_x" not in ann:
                continue
            iuv = drawn.iuv(k)
            x0, y0, w, h = ann["bbox"]
            dp_x, dp_y = np.array(ann["dp_x"]), np.array(ann["dp_y"])
            px, py = (x0 + dp_x * w / 256).astype(int), (y0 + dp_y * h / 256).astype(int)
            assert np.array_equal(iuv[0, py, px], ann["dp_I"])
            assert np.abs(iuv[1, py, px] / 255 - ann["dp_U"]).max() < 1 / 255
            assert np.abs(iuv[2, py, px] / 255 - ann["dp_V"]).max() < 1 / 255
            ex, ey = (x0 + dp_x * w / 255).astype(int), (y0 + dp_y * h / 255).astype(int)
            assert np.array_equal(iuv[0, ey, ex], ann["dp_I"])


def test_eval_data_files(synth_dir):
    subdiv = scipy.io.loadmat(synth_dir / "eval_data/SMPL_subdiv.mat")
    part = subdiv["Part_ID_subdiv"].ravel()
    assert np.issubdtype(part.dtype, np.integer) and set(part) == set(range(1, 25))
    n = part.size
    assert subdiv["U_subdiv"].size == subdiv["V_subdiv"].size == n and subdiv["vertex"].shape == (3, n)
    assert subdiv["faces"].shape[0] == 3 and subdiv["faces"].min() == 1 and subdiv["faces"].max() == n
    index = scipy.io.loadmat(synth_dir / "eval_data/SMPL_SUBDIV_TRANSFORM.mat")["index"].ravel()
    m = index.max()
    assert index.min() == 1 and set(index) == set(range(1, m + 1)) and m < n <= 3000
    with open(synth_dir / "eval_data/Pdist_matrix.pkl", "rb") as f:
        pdist = pickle.load(f)["Pdist_matrix"]
    assert pdist.shape == (m * (m - 1) // 2, 1) and np.all(pdist > 0)


def _geodesic(mesh, a, b):
    """The ``Pdist_matrix`` look-up between subdivision vertices a and b (0-based)."""
    lo, hi = sorted((mesh.index[a], mesh.index[b]))
    return 0.0 if lo == hi else float(mesh.pdist[hi * (hi - 1) // 2 + lo])


def _vertex(mesh, part, u, v):
    sel = np.flatnonzero(mesh.part == part)
    return sel[np.argmin((mesh.u[sel] - u) ** 2 + (mesh.v[sel] - v) ** 2)]


def test_geodesics_follow_the_body():
    mesh = surface.build_mesh()
    # along a straight line of a limb (a cylinder generator) the geodesic is exactly |dV| * length
    start, end = _vertex(mesh, 20, 0.5, 0.0), _vertex(mesh, 20, 0.5, 1.0)
    assert _geodesic(mesh, start, end) == pytest.approx(body.SEGMENTS[body.SEG["r_lower_arm"]].length, abs=1e-6)
    # seam duplicates (front U=1 / back U=0 of the torso) are one mesh vertex
    assert _geodesic(mesh, _vertex(mesh, 2, 1.0, 0.5), _vertex(mesh, 1, 0.0, 0.5)) == 0.0
    # fingertip to fingertip across the T-pose is at least the arm span (about 1.8 m)
    span = _geodesic(mesh, _vertex(mesh, 3, 0.5, 1.0), _vertex(mesh, 4, 0.5, 1.0))
    assert 1.7 < span < 2.2
    # mirror-symmetric distances
    a, b = _vertex(mesh, 16, 0.3, 0.7), _vertex(mesh, 9, 0.6, 0.2)
    ma, mb = _vertex(mesh, 15, 0.7, 0.7), _vertex(mesh, 10, 0.4, 0.2)
    assert _geodesic(mesh, a, b) == pytest.approx(_geodesic(mesh, ma, mb), rel=1e-4)


def test_symmetry_tables_match_the_body(synth_dir):
    mat = scipy.io.loadmat(synth_dir / "UV_symmetry_transforms.mat")
    assert mat["U_transforms"].shape == (1, 24) and mat["U_transforms"][0, 5].shape == (256, 256)
    rng = np.random.default_rng(0)
    i, u, v = rng.integers(1, 25, 500), rng.random(500), rng.random(500)
    rest = body.pose_body(body.rest_pose())
    points = body.iuv_to_point(rest, i, u, v)
    rows, cols = (v * 255).astype(int), (u * 255).astype(int)
    mu = np.array([mat["U_transforms"][0, p - 1][r, c] for p, r, c in zip(i, rows, cols, strict=True)])
    mv = np.array([mat["V_transforms"][0, p - 1][r, c] for p, r, c in zip(i, rows, cols, strict=True)])
    mirrored = body.iuv_to_point(rest, np.asarray(POINT_LABEL_SYMMETRIES)[i], mu, mv)
    expected = points * [-1, 1, 1]
    # the table is quantised to 1/255 of the patch: at most half a cell of arc/length away
    assert np.abs(mirrored - expected).max() < 0.01


def test_mirrored_pose_renders_the_flipped_image():
    rng = np.random.default_rng(7)
    pose = scene.sample_pose(rng)
    width, height, scale, tx, ty = 160, 200, 90.0, 70.3, 110.7
    person = scene.Person(body.pose_body(pose), scale, tx, ty, 10.0, np.ones(3), True)
    mirror = scene.Person(body.pose_body(pose.mirrored()), scale, width - tx, ty, 10.0, np.ones(3), True)
    buf = scene.render([person], width, height)
    flipped = scene.render([mirror], width, height)
    on = buf.pid[:, ::-1] >= 0
    assert on.sum() > 1000 and (on == (flipped.pid >= 0)).mean() > 0.999
    same = on & (flipped.pid >= 0)
    partner = np.asarray(POINT_LABEL_SYMMETRIES)[buf.i[:, ::-1]]
    assert (partner[same] == flipped.i[same]).mean() > 0.99
    agree = same & (partner == flipped.i)
    assert np.abs(flipped.u[agree] - (1 - buf.u[:, ::-1][agree])).max() < 1e-6
    assert np.abs(flipped.v[agree] - buf.v[:, ::-1][agree]).max() < 1e-6


def test_cli_synth(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "d"), "--images", "2", "--seed", "1"])
    assert ok.exit_code == 0 and (tmp_path / "d/annotations.json").is_file()
    for bad in (["--images", "0"], ["--size", "10"]):
        res = runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "e"), *bad])
        assert res.exit_code == 2 and "error:" in res.output
    assert not (tmp_path / "e").exists()
