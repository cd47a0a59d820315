"""KTM and the predictor's I branch (docs/method.md, "Predictor", "KTM")."""

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

from ktn_model.modeling.ktm import KTM, deconv_rows, location_rows, rows_to_deconv
from ktn_model.modeling.predictors.ktn import KTNPredictor


def _graphs(seed: int = 0, zero_background: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    graphs = {"kpt": rng.random((17, 25)), "part": rng.random((15, 25)), "loc": rng.random((6, 25))}
    if zero_background:
        for g in graphs.values():
            g[:, 0] = 0.0
    return graphs


def _predictor(c_in: int = 32, fc_dim: int = 16, graphs=None, hidden: int = 64) -> KTNPredictor:
    d = c_in * 16
    ktm = KTM(_graphs() if graphs is None else graphs, {"kpt": d, "part": d, "loc": fc_dim}, d, hidden)
    return KTNPredictor(c_in, ktm=ktm)


def test_crkg_becomes_transposed_float32_parameters():
    graphs = _graphs()
    ktm = KTM(graphs, {"kpt": 8, "part": 8, "loc": 4}, 8)
    assert ktm.parsers == ["kpt", "loc", "part"]
    assert ktm.A["kpt"].shape == (25, 17) and ktm.A["kpt"].dtype == torch.float32
    assert torch.equal(ktm.A["part"], torch.from_numpy(graphs["part"].T).float())
    assert ktm.A["loc"].requires_grad
    frozen = KTM(graphs, {"kpt": 8, "part": 8, "loc": 4}, 8, trainable=False)
    assert not frozen.A["kpt"].requires_grad


def test_surface_weight_has_conv_transpose_layout_512_25_4_4():
    predictor = _predictor(c_in=512, fc_dim=1024, hidden=16)
    w_s = predictor.surface_weight(FastRCNNPredictor(1024, 2))
    assert w_s.shape == (512, 25, 4, 4)


def test_rows_layout_round_trips_and_drives_the_i_deconv():
    weight = torch.randn(8, 5, 4, 4)
    rows = deconv_rows(weight)
    assert rows.shape == (5, 128)
    assert torch.equal(rows[3].view(8, 4, 4), weight[:, 3])
    assert torch.equal(rows_to_deconv(rows, 8), weight)
    predictor, box = _predictor(c_in=32).eval(), FastRCNNPredictor(16, 2)
    x = torch.randn(2, 32, 7, 7)
    expected = F.conv_transpose2d(x, predictor.surface_weight(box), stride=2, padding=1)
    expected = F.interpolate(expected, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(predictor(x, box).I, expected)


def test_location_rows_are_person_background_and_person_box_rows_detached():
    box = FastRCNNPredictor(16, 2)
    rows = location_rows(box)
    assert not rows.requires_grad
    assert torch.equal(rows[0], box.cls_score.weight[1]) and torch.equal(rows[1], box.cls_score.weight[0])
    assert torch.equal(rows[2:], box.bbox_pred.weight[4:8])


def test_gradients_reach_crkg_and_parsers_but_not_the_box_predictor():
    predictor, box = _predictor(), FastRCNNPredictor(16, 2)
    out = predictor(torch.randn(2, 32, 7, 7), box)
    out.I.square().sum().backward()
    for name in ("kpt", "part", "loc"):
        assert predictor.ktm.A[name].grad.abs().sum() > 0
    assert predictor.k_lowres.weight.grad.abs().sum() > 0
    assert predictor.ann_index_lowres.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in box.parameters())


def test_zero_background_column_gives_zero_initial_background_logit():
    out = _predictor()(torch.randn(2, 32, 7, 7), FastRCNNPredictor(16, 2))
    assert torch.count_nonzero(out.I[:, 0]) == 0
    assert torch.count_nonzero(out.I[:, 1:]) > 0


def test_ktm_none_uses_an_ordinary_learned_deconv():
    predictor = KTNPredictor(32, ktm=None)
    assert isinstance(predictor.i_lowres, torch.nn.ConvTranspose2d) and predictor.i_lowres.bias is not None
    x = torch.randn(2, 32, 7, 7)
    expected = F.interpolate(predictor.i_lowres(x), scale_factor=2, mode="bilinear", align_corners=False)
    out = predictor(x, None)
    assert torch.equal(out.I, expected)
    maps = (out.M, out.I, out.U, out.V, out.S, out.K)
    assert [t.shape[1] for t in maps] == [2, 25, 25, 25, 15, 17]
    assert all(t.shape[-2:] == (28, 28) for t in maps)


def test_surface_weight_is_cached_in_eval_until_a_source_changes():
    predictor, box = _predictor().eval(), FastRCNNPredictor(16, 2)
    first = predictor.surface_weight(box)
    assert predictor.surface_weight(box) is first
    with torch.no_grad():
        box.cls_score.weight.add_(1.0)
    second = predictor.surface_weight(box)
    assert second is not first and not torch.equal(second, first)
    predictor.train()
    assert predictor.surface_weight(box) is not predictor.surface_weight(box)
