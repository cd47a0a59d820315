"""Known answers of the CSE vertex colouring (docs/cse.md, "`ktn infer` outputs"): by 3D position (each axis scaled
to [0, 1] over the mesh), by vertex index (the ``hsv`` map at frac(index × golden ratio)); ``load_mesh_vertices`` on
pickles written here (a good one, one without 'vertices', one that would run code, wrong shapes); ``--mesh`` with a
bad file is one line with exit code 2."""

import pickle

import numpy as np
import pytest
from matplotlib import colormaps
from PIL import Image
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.vis.vertex_colours import INDEX_COLOUR_MAP, load_mesh_vertices, vertex_colours

XYZ = np.array([[0.0, 0.0, 0.0], [2.0, 1.0, -1.0], [1.0, 3.0, 1.0]], np.float32)  # x 0..2, y 0..3, z -1..1
THIRD = np.float32(1 / 3)  # y = 1 on 0..3, in the float32 of a mesh from load_mesh_vertices


def test_colours_by_position_scale_each_axis_to_the_unit_interval():
    colours = vertex_colours(np.array([[0, 1], [2, 0]]), XYZ)
    assert colours.shape == (2, 2, 3) and colours.dtype == np.float32
    np.testing.assert_array_equal(colours[0, 0], [0.0, 0.0, 0.5])
    np.testing.assert_array_equal(colours[0, 1], [1.0, THIRD, 0.0])
    np.testing.assert_array_equal(colours[1, 0], [0.5, 1.0, 1.0])
    np.testing.assert_array_equal(colours[1, 1], colours[0, 0])


def test_an_axis_without_extent_colours_as_zero_and_a_vertex_the_mesh_lacks_is_refused():
    flat = XYZ.copy()
    flat[:, 2] = 5.0  # every vertex at z = 5
    np.testing.assert_array_equal(vertex_colours(np.array([1, 2]), flat), [[1.0, THIRD, 0.0], [0.5, 1.0, 0.0]])
    with pytest.raises(ValueError, match=r"vertex 3 is not in the mesh \(3 vertices\)"):
        vertex_colours(np.array([0, 3]), XYZ)


def test_colours_by_index_step_the_hsv_map_by_the_golden_ratio():
    colours = vertex_colours(np.array([0, 1, 2]))
    assert colours.shape == (3, 3)
    np.testing.assert_array_equal(colours[0], [1.0, 0.0, 0.0])  # hsv at 0: red
    # frac(1 × 0.618034) and frac(2 × 0.618034) = 0.236068, written out
    positions = [0.0, 0.6180339887498949, 0.2360679774997898]
    np.testing.assert_array_equal(colours, colormaps[INDEX_COLOUR_MAP](positions)[:, :3])
    assert INDEX_COLOUR_MAP == "hsv" and not np.array_equal(colours[1], colours[2])


def _pickle(path, data):
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return path


def test_a_mesh_pickle_gives_float32_vertices(tmp_path):
    path = _pickle(tmp_path / "mesh.pkl", {"vertices": XYZ.astype(np.float64), "faces": np.zeros((1, 3), np.int64)})
    vertices = load_mesh_vertices(path)
    assert vertices.dtype == np.float32
    np.testing.assert_array_equal(vertices, XYZ)


class RunsCode:
    """Unpickled by a plain ``pickle.load``, this creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.mark.parametrize(("data", "message"), [
    ({"faces": np.zeros((1, 3), np.int64)}, "expected a mesh pickle with 'vertices' of shape (V, 3)"),
    ([XYZ], "expected a mesh pickle with 'vertices' of shape (V, 3)"),
    ({"vertices": XYZ[:, :2]}, "expected a mesh pickle with 'vertices' of shape (V, 3)"),
    ({"vertices": XYZ.ravel()}, "expected a mesh pickle with 'vertices' of shape (V, 3)"),
    ({"vertices": [["a", "b", "c"]]}, "expected a mesh pickle with 'vertices' of shape (V, 3)"),
    ("runs code", "refused: the pickle references io.open"),
])  # fmt: skip
def test_a_bad_mesh_pickle_is_a_value_error_naming_the_file(tmp_path, data, message):
    marker = tmp_path / "ran"
    path = _pickle(tmp_path / "mesh.pkl", {"vertices": RunsCode(marker)} if data == "runs code" else data)
    with pytest.raises(ValueError) as error:
        load_mesh_vertices(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert not marker.exists()  # the hostile pickle ran nothing


def test_ktn_infer_with_a_bad_mesh_is_one_line_with_exit_code_2(tmp_path):
    Image.new("RGB", (32, 32)).save(tmp_path / "x.png")
    mesh = _pickle(tmp_path / "mesh.pkl", {"vertices": XYZ[:, :2]})
    res = CliRunner().invoke(app, ["infer", str(tmp_path / "x.png"), "--weights", str(tmp_path / "model.pth"),
                                   "--out", str(tmp_path / "out"), "--mesh", str(mesh)])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert lines[0] == f"error: {mesh}: expected a mesh pickle with 'vertices' of shape (V, 3)"
    assert not (tmp_path / "out").exists()
