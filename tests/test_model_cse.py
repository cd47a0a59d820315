"""CSE (docs/cse.md): closest vertices by squared Euclidean distance, the vertex embedders, detectron2's names; a
checkpoint of another kind (CSE / chart, with / without confidences) is one line naming the preset it needs."""

import numpy as np
import pytest
import torch
from golden import GOLDEN, make_weights, write_detectron2_pkl
from PIL import Image
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.modeling.closest_vertex import closest_vertices, squared_distances
from ktn_model.modeling.embedder import MeshEmbedder, VertexDirectEmbedder, VertexFeatureEmbedder
from ktn_model.modeling.postprocess import embedding_result
from ktn_model.modeling.structures import DensePoseEmbeddingOutput

ROOT = GOLDEN.parents[2]
D2 = ROOT / "configs" / "detectron2"


def test_closest_vertices_take_the_least_squared_distance_and_the_lowest_index_on_ties():
    vertices = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [1.0, 0.0]])  # vertex 3 duplicates vertex 1
    embedding = torch.tensor([[[0.1, 0.9], [0.2, 5.0]], [[0.1, 0.0], [1.6, 0.0]]])  # (D=2, H=2, W=2)
    mask = torch.tensor([[True, True], [True, False]])
    # pixels (e_x, e_y): (0.1, 0.1) -> 0, (0.9, 0.0) -> 1 (not 3), (0.2, 1.6) -> 2; the masked-out one -> -1
    assert closest_vertices(embedding, mask, vertices).tolist() == [[0, 1], [2, -1]]
    a, b = torch.randn(5, 3, dtype=torch.float64), torch.randn(7, 3, dtype=torch.float64)
    torch.testing.assert_close(squared_distances(a, b), torch.cdist(a, b) ** 2)


def test_vertex_embedders_normalise_their_rows():
    feature = VertexFeatureEmbedder(4, 3, 2)
    with torch.no_grad():
        feature.features.copy_(torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]))
        feature.embeddings.copy_(torch.tensor([[3.0, 4.0], [0.0, 2.0], [1.0, 1.0]]))
    expected = torch.tensor([[0.6, 0.8], [0.0, 1.0], [0.5**0.5, 0.5**0.5], [0.0, 0.0]])  # a zero row stays 0
    torch.testing.assert_close(feature(), expected)
    assert "features" in dict(feature.named_buffers()) and "features" not in dict(feature.named_parameters())
    direct = VertexDirectEmbedder(2, 2)
    with torch.no_grad():
        direct.embeddings.copy_(torch.tensor([[0.0, -2.0], [5.0, 0.0]]))
    torch.testing.assert_close(direct(), torch.tensor([[0.0, -1.0], [1.0, 0.0]]))
    embedder = MeshEmbedder({"smpl_27554": direct})
    torch.testing.assert_close(embedder("smpl_27554"), direct())


def test_the_converter_maps_a_detection_to_vertices_at_its_box_size():
    e = torch.zeros(1, 2, 4, 4)
    e[0, 0, :, 2:] = 1.0  # right half near vertex 1
    m = torch.zeros(1, 2, 4, 4)
    m[0, 1, 1:, :] = 1.0  # the top row is background
    mesh = ("smpl_27554", torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
    result = embedding_result(DensePoseEmbeddingOutput(M=m, E=e), (4, 4), 0.5, mesh=mesh)
    assert result.mesh == "smpl_27554"
    assert result.vertices.tolist() == [[-1] * 4] + [[0, 0, 1, 1]] * 3
    assert result.vertex_png().dtype == np.uint16 and result.vertex_png()[1].tolist() == [1, 1, 2, 2]
    with pytest.raises(ValueError, match="needs the mesh vertex embeddings"):
        embedding_result(DensePoseEmbeddingOutput(M=m, E=e), (4, 4), 0.5)


@pytest.fixture(scope="module")
def zoo_files(tmp_path_factory):
    """The golden fixtures' checkpoints: a chart, a WC2M and a CSE model-zoo file."""
    folder = tmp_path_factory.mktemp("zoo")
    return {name: write_detectron2_pkl(make_weights(name), folder / f"{name}.pkl")
            for name in ("R_50_FPN_s1x", "R_50_FPN_WC2M_s1x", "R_50_FPN_soft_s1x_cse")}


@pytest.mark.parametrize(("fixture", "preset", "message"), [
    ("R_50_FPN_soft_s1x_cse", "densepose_rcnn_R_50_FPN_s1x.yaml",
     "a CSE checkpoint (DensePoseEmbeddingPredictor) on a chart config: use a detectron2/cse/ preset"),
    ("R_50_FPN_s1x", "cse/densepose_rcnn_R_50_FPN_soft_s1x.yaml",
     "a chart checkpoint on a CSE config (DensePoseEmbeddingPredictor): use a chart preset"),
    ("R_50_FPN_WC2M_s1x", "densepose_rcnn_R_50_FPN_s1x.yaml",
     "the checkpoint has confidence outputs (coarse_segm_confidence_lowres, fine_segm_confidence_lowres, "
     "kappa_u_lowres, kappa_v_lowres, sigma_2_lowres) this config lacks: use its WC preset"),
    ("R_50_FPN_s1x", "densepose_rcnn_R_50_FPN_WC2M_s1x.yaml",
     "the config expects confidence outputs (coarse_segm_confidence_lowres, fine_segm_confidence_lowres, "
     "kappa_u_lowres, kappa_v_lowres, sigma_2_lowres) the checkpoint lacks"),
])
def test_a_checkpoint_of_another_kind_is_one_line_naming_the_preset(tmp_path, zoo_files, fixture, preset, message):
    Image.new("RGB", (32, 32)).save(tmp_path / "x.png")
    res = CliRunner().invoke(app, ["infer", str(tmp_path / "x.png"), "--weights", str(zoo_files[fixture]),
                                   "--config-file", str(D2 / preset), "--out", str(tmp_path / "out"),
                                   "MODEL.DEVICE", "cpu"])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), res.output
    assert message in lines[0] and "does not fit this config" in lines[0]
    assert not (tmp_path / "out").exists()


def test_cse_training_stops_with_one_line():
    from ktn_model.modeling.losses.cse import DensePoseCseLoss

    with pytest.raises(ValueError, match=r"^CSE models \(DensePoseEmbeddingPredictor\) run inference only here"):
        DensePoseCseLoss.from_config(None)(None, [], [])
