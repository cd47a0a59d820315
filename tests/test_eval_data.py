"""Evaluation-data loading: layouts, the geodesic index, safe pickles, errors.

See docs/densepose_format.md, "Evaluation data files".
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import scipy.io

from ktn_model.evaluation.eval_data import (
    PDIST_FILE,
    SUBDIV_FILE,
    TRANSFORM_FILE,
    condensed_index,
    load_eval_data,
    save_eval_data,
)


def random_mesh(m: int, n: int, seed: int = 0):
    """n subdiv vertices over m mesh vertices with a random symmetric distance matrix."""
    rng = np.random.default_rng(seed)
    square = rng.uniform(0.1, 2.0, (m, m))
    square = np.triu(square, 1) + np.triu(square, 1).T
    part = rng.integers(1, 25, n)
    mesh_id = np.concatenate([np.arange(1, m + 1), rng.integers(1, m + 1, n - m)])
    return part, rng.random(n), rng.random(n), mesh_id, square


def column_major_upper(square: np.ndarray) -> np.ndarray:
    """MATLAB's D(triu(true(m), 1)): pairs (lo, hi) ordered by hi, then lo."""
    m = len(square)
    return np.array([square[lo, hi] for hi in range(m) for lo in range(hi)])


@pytest.mark.parametrize("m", [2, 3, 7, 40])
def test_geodesic_index_matches_square_matrix(tmp_path, m):
    part, u, v, mesh_id, square = random_mesh(m, m + 5, seed=m)
    save_eval_data(tmp_path, part, u, v, mesh_id, column_major_upper(square))
    data = load_eval_data(tmp_path)
    assert data.num_mesh == m
    a, b = np.meshgrid(np.arange(1, m + 1), np.arange(1, m + 1), indexing="ij")
    expected = np.where(a == b, 0.0, square[a - 1, b - 1])
    np.testing.assert_array_equal(data.geodesic(a, b), expected)
    assert np.all(np.isinf(data.geodesic(np.arange(1, m + 1), 0)))
    lo, hi = np.tril_indices(m, -1)[::-1]
    np.testing.assert_array_equal(condensed_index(lo, hi), np.arange(m * (m - 1) // 2))


@pytest.mark.parametrize("column", [False, True])
@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.float64])
def test_layouts_and_index_dtypes_are_accepted(tmp_path, column, dtype):
    part, u, v, mesh_id, square = random_mesh(5, 9)
    shape = (-1, 1) if column else (1, -1)
    scipy.io.savemat(
        tmp_path / SUBDIV_FILE,
        {
            "U_subdiv": u.reshape(shape),
            "V_subdiv": v.reshape(shape),
            "Part_ID_subdiv": part.astype(dtype).reshape(shape),
        },
    )
    scipy.io.savemat(tmp_path / TRANSFORM_FILE, {"index": mesh_id.astype(dtype).reshape(shape)})
    with open(tmp_path / PDIST_FILE, "wb") as f:
        pickle.dump({"Pdist_matrix": column_major_upper(square).astype(np.float32)}, f, protocol=2)
    data = load_eval_data(tmp_path)
    np.testing.assert_array_equal(data.part_id, part)
    np.testing.assert_array_equal(data.mesh_id, mesh_id)
    assert data.part_id.dtype == np.int64


def test_closest_vertex_ties_go_to_the_first_in_file_order(tmp_path):
    # Part 3 has vertices at U = 0.25 (twice, ids 2 and 3) and U = 0.5 (id 4); part 5 has id 1.
    # 0.375 is exactly halfway (binary fractions): the tie goes to id 2.
    part = np.array([5, 3, 3, 3])
    u = np.array([0.4, 0.25, 0.25, 0.5])
    save_eval_data(tmp_path, part, u, np.zeros(4), np.arange(1, 5), np.ones(6))
    data = load_eval_data(tmp_path)
    found = data.closest_vertices(
        np.array([3, 3, 3, 5, 0, 7]), np.array([0.3, 0.375, 0.45, 0.9, 0.2, 0.2]), np.zeros(6)
    )
    np.testing.assert_array_equal(found, [2, 2, 4, 1, 0, 0])


def python2_pickle(values: np.ndarray) -> bytes:
    """What Python 2 + numpy 1.x wrote for ``{"Pdist_matrix": float32 (K, 1)}`` (protocol 2, str data)."""

    def short(b: bytes) -> bytes:
        return b"U" + bytes([len(b)]) + b

    dtype_state = b"(K\x03" + short(b"<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    dtype = b"cnumpy\ndtype\n" + short(b"f4") + b"K\x00K\x01\x87R" + dtype_state
    array_state = b"(K\x01" + b"K" + bytes([len(values)]) + b"K\x01\x86" + dtype + b"I00\n"
    array_state += short(values.astype("<f4").tobytes()) + b"tb"
    array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + short(b"b") + b"\x87R" + array_state
    return b"\x80\x02}" + short(b"Pdist_matrix") + array + b"s."


def test_python2_pickle_of_the_official_layout_loads(tmp_path):
    part, u, v, mesh_id, _ = random_mesh(3, 4)
    save_eval_data(tmp_path, part, u, v, mesh_id, np.ones(3))
    (tmp_path / PDIST_FILE).write_bytes(python2_pickle(np.array([0.5, 1.25, 2.0])))
    data = load_eval_data(tmp_path)
    np.testing.assert_array_equal(data.geodesic(np.array([1, 1, 2]), np.array([2, 3, 3])), [0.5, 1.25, 2.0])


def test_pickle_that_would_run_code_is_refused(tmp_path):
    part, u, v, mesh_id, square = random_mesh(3, 4)
    save_eval_data(tmp_path, part, u, v, mesh_id, column_major_upper(square))

    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    (tmp_path / PDIST_FILE).write_bytes(pickle.dumps({"Pdist_matrix": Exploit()}))
    refused = r"Pdist_matrix.pkl: not a valid distance pickle \(refused: the pickle references"
    with pytest.raises(ValueError, match=refused):
        load_eval_data(tmp_path)


def test_condensed_length_must_be_triangular(tmp_path):
    part, u, v, mesh_id, _ = random_mesh(3, 4)
    save_eval_data(tmp_path, part, u, v, mesh_id, np.ones(4))
    with pytest.raises(ValueError, match="Pdist_matrix.pkl: Pdist_matrix has 4 entries"):
        load_eval_data(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: (d / TRANSFORM_FILE).unlink(), "SMPL_SUBDIV_TRANSFORM.mat: evaluation-data file not found"),
        (lambda d: scipy.io.savemat(d / TRANSFORM_FILE, {"index": np.array([[1, 2, 9, 3]])}), r"index values"),
        (lambda d: scipy.io.savemat(d / TRANSFORM_FILE, {"index": np.array([[1.5, 2, 3, 3]])}), "whole numbers"),
        (lambda d: scipy.io.savemat(d / TRANSFORM_FILE, {"index": np.array([[1, 2, 3]])}), "maps 3 vertices"),
        (lambda d: scipy.io.savemat(d / SUBDIV_FILE, {"U_subdiv": np.zeros(4)}), "missing variable"),
        (lambda d: (d / SUBDIV_FILE).write_bytes(b"garbage"), "SMPL_subdiv.mat: not a readable MATLAB file"),
    ],
)
def test_bad_files_give_one_line_errors_naming_the_file(tmp_path, change, message):
    part, u, v, _, square = random_mesh(3, 4)
    save_eval_data(tmp_path, part, u, v, np.array([1, 2, 3, 3]), column_major_upper(square))
    change(tmp_path)
    with pytest.raises((ValueError, FileNotFoundError), match=message) as err:
        load_eval_data(tmp_path)
    assert "\n" not in str(err.value)


def test_synthetic_generator_eval_data_loads(tmp_path):
    from ktn_model.data.synthetic import write_eval_data

    write_eval_data(tmp_path, grid=3)
    data = load_eval_data(tmp_path / "eval_data")
    assert len(data.part_id) == 24 * 9 and data.num_mesh <= len(data.part_id)
    assert data.pdist.size == data.num_mesh * (data.num_mesh - 1) // 2
