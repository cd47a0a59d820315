"""Pixels -> SMPL (ktn_model.surface.uv_mesh, .correspond, .smpl, .smpl_pixels) on generated stand-ins."""

import os
import pickle

import numpy as np
import pytest
import scipy.io

from ktn_model.surface.correspond import SurfaceLocator
from ktn_model.surface.smpl import load_smpl_template, smpl_faces_of, surface_points
from ktn_model.surface.smpl_pixels import pixel_correspondences
from ktn_model.surface.standin import random_uv_mesh, save_smpl, template_for
from ktn_model.surface.uv_mesh import UV_FIELDS, load_uv_data, save_uv_data


@pytest.fixture(scope="module")
def mesh():
    return random_uv_mesh(seed=0, vertices_per_patch=30)


@pytest.fixture(scope="module")
def locator(mesh):
    return SurfaceLocator(mesh, cells=8)


def test_stand_in_file_has_the_release_fields_shapes_and_one_based_indices(tmp_path, mesh):
    save_uv_data(tmp_path / "UV_Processed.mat", mesh)
    raw = scipy.io.loadmat(tmp_path / "UV_Processed.mat")
    faces, vertices = len(mesh.faces), len(mesh.u)
    assert {k: raw[k].shape for k in UV_FIELDS} == {"All_FaceIndices": (faces, 1), "All_Faces": (faces, 3),
                                                     "All_U_norm": (vertices, 1), "All_V_norm": (vertices, 1),
                                                     "All_vertices": (1, vertices)}  # fmt: skip
    assert raw["All_Faces"].min() == 1 and raw["All_vertices"].min() == 1
    back = load_uv_data(tmp_path / "UV_Processed.mat")
    for name in ("face_patch", "faces", "u", "v", "smpl_vertex"):
        np.testing.assert_array_equal(getattr(back, name), getattr(mesh, name))


def test_a_vertex_s_own_uv_maps_to_that_vertex_with_barycentric_one(mesh, locator):
    corner = np.arange(len(mesh.faces)) % 3
    uv_vertex = mesh.faces[np.arange(len(mesh.faces)), corner]  # every face, one of its corners
    corr = locator.locate(mesh.face_patch, mesh.u[uv_vertex], mesh.v[uv_vertex])
    assert corr.inside.all()
    chosen = mesh.faces[corr.face]
    hit = chosen == uv_vertex[:, None]  # (F, 3): the corner of the found face that is the vertex
    assert (hit.sum(1) == 1).all()
    np.testing.assert_array_equal(corr.bary, hit.astype(float))  # exactly (1, 0, 0) up to corner order
    np.testing.assert_array_equal(locator.nearest_vertex(corr), mesh.smpl_vertex[uv_vertex])


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """z of the cross product of 2D vectors (..., 2)."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def test_vectorised_look_up_agrees_with_brute_force(mesh, locator):
    rng = np.random.default_rng(1)
    patch, u, v = rng.integers(1, 25, 400), rng.random(400), rng.random(400)
    corr = locator.locate(patch, u, v)
    corners = np.stack([mesh.u[mesh.faces], mesh.v[mesh.faces]], -1)  # (F, 3, 2)
    assert 0.5 < corr.inside.mean() < 1.0  # the margin leaves some of each square outside every face
    for k in range(400):
        mine = np.flatnonzero(mesh.face_patch == patch[k])
        a, b, c = (corners[mine, j] for j in range(3))
        p = np.array([u[k], v[k]])
        cross = [_cross(q - p0, p - p0) for p0, q in ((a, b), (b, c), (c, a))]
        contains = mine[((cross[0] >= -1e-12) & (cross[1] >= -1e-12) & (cross[2] >= -1e-12))
                        | ((cross[0] <= 1e-12) & (cross[1] <= 1e-12) & (cross[2] <= 1e-12))]  # fmt: skip
        if corr.inside[k]:
            assert corr.face[k] in contains and mesh.face_patch[corr.face[k]] == patch[k]
            np.testing.assert_allclose(corr.bary[k] @ corners[corr.face[k]], p, atol=1e-12)
        else:
            assert len(contains) == 0
            distance = np.linalg.norm(corners[mine] - p, axis=-1).min()
            assert np.linalg.norm(corr.bary[k] @ corners[corr.face[k]] - p) == pytest.approx(distance)
            assert sorted(corr.bary[k]) == [0.0, 0.0, 1.0]


def test_template_points_and_smpl_faces(tmp_path, mesh, locator):
    template = template_for(mesh, seed=2)
    smpl_face = smpl_faces_of(mesh, template)
    matched = np.sort(template.faces[smpl_face], 1)
    np.testing.assert_array_equal(matched, np.sort(mesh.face_smpl_vertices(), 1))
    fewer = type(template)(template.vertices, template.faces[1:])
    assert (smpl_faces_of(mesh, fewer) == -1).sum() >= 1
    uv_vertex = mesh.faces[:, 1]
    corr = locator.locate(mesh.face_patch, mesh.u[uv_vertex], mesh.v[uv_vertex])
    np.testing.assert_array_equal(surface_points(mesh, template, corr), template.vertices[mesh.smpl_vertex[uv_vertex]])
    centre = locator.locate(mesh.face_patch[:1], mesh.u[mesh.faces[:1]].mean(1), mesh.v[mesh.faces[:1]].mean(1))
    assert corr.face.dtype == np.int64 and centre.face[0] == 0
    np.testing.assert_allclose(surface_points(mesh, template, centre)[0],
                               template.vertices[mesh.smpl_vertex[mesh.faces[0]]].mean(0))  # fmt: skip


def test_smpl_files_load_without_running_code(tmp_path, mesh):
    template = template_for(mesh, seed=2)
    for name in ("model.npz", "model.pkl"):
        save_smpl(tmp_path / name, template)
        loaded = load_smpl_template(tmp_path / name)
        np.testing.assert_array_equal(loaded.vertices, template.vertices)
        np.testing.assert_array_equal(loaded.faces, template.faces)

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'pwned'}",)

    fields = {"v_template": template.vertices, "f": template.faces, "J_regressor": Payload()}
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(fields, protocol=2))
    np.testing.assert_array_equal(load_smpl_template(tmp_path / "evil.pkl").faces, template.faces)
    assert not (tmp_path / "pwned").exists()


def test_bad_uv_data_and_smpl_files_name_the_problem(tmp_path, mesh):
    save_uv_data(tmp_path / "ok.mat", mesh)
    raw = {k: v for k, v in scipy.io.loadmat(tmp_path / "ok.mat").items() if k in UV_FIELDS}
    cases = {
        "missing.mat": ({k: v for k, v in raw.items() if k != "All_U_norm"}, "missing field(s) All_U_norm"),
        "faces.mat": ({**raw, "All_Faces": raw["All_Faces"][:, :2]}, "All_Faces must be"),
        "range.mat": ({**raw, "All_FaceIndices": raw["All_FaceIndices"] + 24}, "All_FaceIndices must be patch"),
    }
    for name, (fields, message) in cases.items():
        scipy.io.savemat(tmp_path / name, fields)
        with pytest.raises(ValueError, match=f"{name}: {message}".replace("(", r"\(").replace(")", r"\)")):
            load_uv_data(tmp_path / name)
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(ValueError, match="junk.mat: not a readable MATLAB file"):
        load_uv_data(tmp_path / "junk.mat")
    np.savez(tmp_path / "nof.npz", v_template=np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"nof.npz: missing array\(s\) f"):
        load_smpl_template(tmp_path / "nof.npz")
    np.savez(tmp_path / "range.npz", v_template=np.zeros((4, 3)), f=np.array([[0, 1, 4]]))
    with pytest.raises(ValueError, match="range.npz: f must index the 4 template vertices"):
        load_smpl_template(tmp_path / "range.npz")


def test_pixel_arrays_follow_the_image_in_row_major_order(mesh, locator):
    uv_vertex = mesh.faces[0]
    u8, v8 = np.round(mesh.u[uv_vertex] * 255), np.round(mesh.v[uv_vertex] * 255)
    iuv = np.zeros((3, 4, 3), np.uint8)
    inds = np.zeros((3, 4), np.uint8)
    iuv[0, 1], iuv[2, 0], iuv[2, 3] = ([mesh.face_patch[0], u8[k], v8[k]] for k in range(3))
    inds[0, 1], inds[2, 0], inds[2, 3] = 2, 1, 1
    template = template_for(mesh, seed=2)
    arrays = pixel_correspondences(locator, iuv, inds, template)
    assert arrays["y"].tolist() == [0, 2, 2] and arrays["x"].tolist() == [1, 0, 3]
    assert arrays["person"].tolist() == [2, 1, 1]
    np.testing.assert_allclose(arrays["iuv"][:, 1:], np.stack([u8, v8], 1) / 255, atol=1e-7)
    corr = locator.locate(np.full(3, mesh.face_patch[0]), u8 / 255, v8 / 255)
    np.testing.assert_array_equal(arrays["face"], corr.face)
    np.testing.assert_array_equal(arrays["vertices"], mesh.face_smpl_vertices()[corr.face])
    np.testing.assert_array_equal(arrays["nearest_vertex"], locator.nearest_vertex(corr))
    np.testing.assert_allclose(arrays["points"], surface_points(mesh, template, corr), rtol=1e-6)
    assert {k: v.shape for k, v in arrays.items()} == {
        "y": (3,), "x": (3,), "person": (3,), "iuv": (3, 3), "face": (3,), "bary": (3, 3), "vertices": (3, 3),
        "nearest_vertex": (3,), "inside": (3,), "smpl_face": (3,), "points": (3, 3)}  # fmt: skip
