"""The whole network with the tiny CPU preset: build, one training step, one inference; presets; weights."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.ops.misc import FrozenBatchNorm2d

import ktn_kg
from ktn_model.config import setup_cfg
from ktn_model.modeling import build_model
from ktn_model.modeling.backbone import build_backbone
from ktn_model.modeling.build import build_postprocess

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "ktn_tiny_cpu.yaml"
GRAPH = str(ROOT / "graphs" / "v2.pkl")
LOSSES = ["loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_densepose_U",
          "loss_densepose_V", "loss_densepose_I", "loss_densepose_S", "loss_densepose_M", "loss_keypoint"]


def _tiny(*opts: str):
    return setup_cfg(TINY, ["MODEL.ROI_DENSEPOSE_HEAD.GRAPH", GRAPH, *opts])


def _sample(seed: int, height: int = 300, width: int = 410):
    """One synthetic image and target in the dataset format of CONTRIBUTING.md."""
    g = torch.Generator().manual_seed(seed)
    boxes = torch.tensor([[30.0, 20.0, 180.5, 290.0], [200.0, 40.0, 390.0, 280.7]])
    wh = boxes[:, 2:] - boxes[:, :2]
    kp_xy = boxes[:, None, :2] + torch.rand(2, 17, 2, generator=g) * wh[:, None]
    points = [torch.cat([torch.rand(40, 2, generator=g) * 255, torch.randint(1, 25, (40, 1), generator=g).float(),
                         torch.rand(40, 2, generator=g)], dim=1) for _ in range(2)]
    target = {"boxes": boxes, "labels": torch.ones(2, dtype=torch.int64),
              "keypoints": torch.cat([kp_xy, torch.full((2, 17, 1), 2.0)], dim=2),
              "dp_valid": torch.tensor([True, True]), "dp_points": points,
              "dp_masks": torch.randint(0, 15, (2, 256, 256), generator=g, dtype=torch.uint8),
              "image_id": torch.tensor(seed)}
    return torch.rand(3, height, width, generator=g), target


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return build_model(_tiny())


def test_build_model_reads_the_crkg_graph_file(tiny_model):
    graph = ktn_kg.load_graph(GRAPH)
    a = tiny_model.roi_heads.densepose_predictor.ktm.A
    assert torch.equal(a["kpt"], torch.from_numpy(graph.matrix("kpt").T).float())
    assert torch.equal(a["loc"], torch.from_numpy(graph.matrix("person").T).float())
    assert a["part"].shape == (25, 15)


def test_one_training_step_then_inference(tiny_model):
    model = tiny_model.train()
    images, targets = zip(*(_sample(s) for s in (1, 2)), strict=True)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    losses = model(list(images), list(targets))
    assert sorted(losses) == sorted(LOSSES)
    assert all(torch.isfinite(v) for v in losses.values())
    optimizer.zero_grad()
    sum(losses.values()).backward()
    assert model.roi_heads.densepose_predictor.ktm.A["kpt"].grad.abs().sum() > 0
    optimizer.step()

    model.eval()
    model.roi_heads.score_thresh = 0.0  # one step from random weights: keep every detection
    with torch.no_grad():
        (raw,) = model([torch.rand(3, 250, 333)])
    d = len(raw["boxes"])
    assert d > 0
    assert raw["densepose"].M.shape == (d, 2, 56, 56) and raw["densepose"].K.shape == (d, 17, 56, 56)
    (result,) = build_postprocess(_tiny())([raw], [(250, 333)], [(125, 166)])
    d = len(result["boxes"])
    assert result["keypoints"].shape == (d, 17, 3) and result["keypoints_scores"].shape == (d, 17)
    assert result["scores"].shape == (d,) and result["labels"].shape == (d,)
    assert (result["boxes"][:, 2] <= 166).all() and (result["boxes"][:, 3] <= 125).all()
    assert len(result["densepose"]) == d
    for box, chart in zip(result["boxes"], result["densepose"], strict=True):
        x1, y1, x2, y2 = box.tolist()
        assert chart.labels.dtype == torch.uint8 and int(chart.labels.max()) <= 24
        assert tuple(chart.labels.shape) == (max(int(y2 - y1), 1), max(int(x2 - x1), 1))


@pytest.mark.parametrize(("opts", "extra"), [
    (["DECODER_ON", "False", "KTM", "none"], []), (["DECODER_NAME", "MIDv1", "KTM", "v1"], []),
    (["IS_LOSS_ON", "True"], ["loss_is"])])
def test_other_variants_train_and_infer(opts, extra):
    torch.manual_seed(0)
    keys = [f"MODEL.ROI_DENSEPOSE_HEAD.{k}" for k in opts[0::2]]
    model = build_model(_tiny(*[x for pair in zip(keys, opts[1::2], strict=True) for x in pair]))
    image, target = _sample(3)
    losses = model([image], [target])
    assert sorted(losses) == sorted(LOSSES + extra)
    sum(losses.values()).backward()
    with torch.no_grad():
        (result,) = model.eval()([torch.rand(3, 200, 260)])
    assert len(result["densepose"]) == len(result["boxes"])


@pytest.mark.parametrize(("name", "decoder", "ktm"), [
    ("densepose_rcnn_R_50_baseline", False, "none"), ("densepose_rcnn_R_50_MIDv2", True, "none"),
    ("densepose_rcnn_R_50_KTMv2", False, "v2"), ("ktn_R_50_v2", True, "v2")])
def test_table_one_presets(name, decoder, ktm):
    cfg = setup_cfg(ROOT / "configs" / f"{name}.yaml")
    head = cfg.MODEL.ROI_DENSEPOSE_HEAD
    assert (head.DECODER_ON, head.KTM, cfg.MODEL.BACKBONE.NAME) == (decoder, ktm, "resnet50")
    assert cfg.SOLVER.MAX_ITER == 130000


def test_backbone_freeze_at_and_norm():
    cfg = setup_cfg(TINY, ["MODEL.BACKBONE.FREEZE_AT", "2", "MODEL.BACKBONE.NORM", "FrozenBN"])
    body = build_backbone(cfg).body
    assert isinstance(body.bn1, FrozenBatchNorm2d)
    assert not any(p.requires_grad for p in [*body.conv1.parameters(), *body.layer1.parameters()])
    assert all(p.requires_grad for p in body.layer2.parameters())
    assert all(p.requires_grad for p in build_backbone(_tiny()).parameters())


def test_ktm_v1_builds_from_the_keypoints_only_v1_graph():
    v1 = ROOT / "graphs" / "v1.pkl"
    model = build_model(_tiny("MODEL.ROI_DENSEPOSE_HEAD.KTM", "v1", "MODEL.ROI_DENSEPOSE_HEAD.GRAPH", str(v1)))
    a = model.roi_heads.densepose_predictor.ktm.A
    assert list(a) == ["kpt"]
    np.testing.assert_array_equal(a["kpt"].detach().numpy(), ktn_kg.load_graph(v1).matrix("kpt").T.astype(np.float32))


def test_explicit_graphs_override_the_file():
    rng = np.random.default_rng(0)
    graphs = {"kpt": rng.random((17, 25))}
    model = build_model(_tiny("MODEL.ROI_DENSEPOSE_HEAD.KTM", "v1", "MODEL.ROI_DENSEPOSE_HEAD.GRAPH", "missing.pkl"),
                        graphs=graphs)
    assert list(model.roi_heads.densepose_predictor.ktm.A) == ["kpt"]
