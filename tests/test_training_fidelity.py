"""Training follows the release (docs/training.md): L1 box losses (detectron2's SMOOTH_L1_BETA 0), c2_xavier_fill
box-head fc layers, and a run that needs flip tables stops at start, naming them, when they are missing."""

from pathlib import Path

import pytest
import torch
from torchvision.models.detection import roi_heads as tv_roi_heads
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler
from torchvision.models.detection.rpn import RegionProposalNetwork as TorchvisionRPN
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.config import setup_cfg
from ktn_model.data.catalog import resolve
from ktn_model.data.dataset import DensePoseCocoDataset
from ktn_model.modeling import build_model
from ktn_model.modeling.box_losses import fastrcnn_loss, rpn_loss

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "ktn_tiny_cpu.yaml"
GRAPH = str(ROOT / "graphs" / "v2.pkl")


def _tiny(*opts: str):
    return setup_cfg(TINY, ["MODEL.ROI_DENSEPOSE_HEAD.GRAPH", GRAPH, *opts])


def _box_head_inputs():
    """3 RoIs over 2 images, 2 classes (+ background): class 1 and 2 foreground, one background."""
    logits = torch.tensor([[0.2, 1.0, -0.5], [1.5, 0.0, 0.3], [0.1, 0.2, 2.0]])
    regression = torch.arange(36, dtype=torch.float32).reshape(3, 12) / 10  # (3, 4 * 3)
    labels = [torch.tensor([1, 0]), torch.tensor([2])]
    targets = [torch.tensor([[0.5, 0.45, 0.0, 0.9], [9.0, 9.0, 9.0, 9.0]]), torch.tensor([[3.0, 3.05, 3.0, 2.0]])]
    return logits, regression, labels, targets


def test_box_head_loss_is_l1_at_beta_0_and_torchvisions_at_one_ninth():
    logits, regression, labels, targets = _box_head_inputs()
    cls, box = fastrcnn_loss(logits, regression, labels, targets, beta=0.0)
    # RoI 0, class 1: deltas (0.4, 0.5, 0.6, 0.7) vs (0.5, 0.45, 0, 0.9); RoI 2, class 2: (3.2..3.5) vs (3, 3.05, 3, 2)
    l1 = (0.1 + 0.05 + 0.6 + 0.2) + (0.2 + 0.25 + 0.4 + 1.5)
    assert box.item() == pytest.approx(l1 / 3, rel=1e-6)
    tv_cls, tv_box = tv_roi_heads.fastrcnn_loss(logits, regression, labels, targets)
    ninth = fastrcnn_loss(logits, regression, labels, targets, beta=1 / 9)
    assert torch.equal(cls, tv_cls) and torch.equal(ninth[0], tv_cls) and torch.equal(ninth[1], tv_box)
    assert tv_box < box  # smooth-L1 is below L1 wherever the error is non-zero


def test_rpn_loss_is_l1_at_beta_0_and_torchvisions_at_one_ninth():
    g = torch.Generator().manual_seed(0)
    objectness = torch.randn(12, 1, generator=g)
    deltas = torch.randn(12, 4, generator=g)
    labels = [torch.tensor([1.0, 0, 0, -1, 1, 0]), torch.tensor([0.0, 0, 1, 0, -1, 0])]
    targets = [torch.randn(6, 4, generator=g) for _ in range(2)]
    sampler = BalancedPositiveNegativeSampler(4, 0.5)  # 4 per image: both positives and 2 of the negatives
    model = build_model(_tiny())
    model.rpn.fg_bg_sampler = sampler

    def seeded(fn, *args):
        torch.manual_seed(1)  # the sampler draws with torch.randperm
        return fn(*args)

    obj, box = seeded(model.rpn.compute_loss, objectness, deltas, labels, targets)  # the preset: beta 0
    pos = torch.tensor([0, 4, 8])
    assert box.item() == pytest.approx((deltas[pos] - torch.cat(targets)[pos]).abs().sum().item() / 8, rel=1e-6)
    ninth = seeded(rpn_loss, objectness, deltas, labels, targets, sampler, 1 / 9)
    tv = seeded(TorchvisionRPN.compute_loss, model.rpn, objectness, deltas, labels, targets)  # beta 1/9
    assert torch.equal(ninth[0], tv[0]) and torch.equal(ninth[1], tv[1]) and torch.equal(obj, tv[0])
    assert tv[1] < box


def test_presets_use_l1_and_the_keys_set_beta():
    model = build_model(_tiny())
    assert (model.rpn.smooth_l1_beta, model.roi_heads.box_smooth_l1_beta) == (0.0, 0.0)
    model = build_model(_tiny("MODEL.RPN.SMOOTH_L1_BETA", "0.25", "MODEL.ROI_BOX_HEAD.SMOOTH_L1_BETA", "0.5"))
    assert (model.rpn.smooth_l1_beta, model.roi_heads.box_smooth_l1_beta) == (0.25, 0.5)


def test_box_head_fc_layers_get_c2_xavier_fill():
    head = build_model(_tiny()).roi_heads.box_head
    for fc in (head.fc6, head.fc7):
        bound = (3 / fc.in_features) ** 0.5  # kaiming_uniform(a=1): U(-sqrt(3 / fan_in), sqrt(3 / fan_in))
        assert torch.count_nonzero(fc.bias) == 0
        assert 0.99 * bound < fc.weight.abs().max().item() <= bound  # torchvision's Linear: 1 / sqrt(fan_in)


def test_a_training_step_uses_the_configured_betas(synth_dir):
    dataset = DensePoseCocoDataset(resolve(f"{synth_dir}/annotations.json:{synth_dir}/images"), train=True)
    images, targets = zip(*(dataset[i] for i in range(2)), strict=True)
    torch.manual_seed(0)
    model = build_model(_tiny()).train()

    def losses():
        torch.manual_seed(1)
        return model(list(images), list(targets))

    l1 = losses()
    model.rpn.smooth_l1_beta = model.roi_heads.box_smooth_l1_beta = 1 / 9
    smooth = losses()
    assert smooth["loss_rpn_box_reg"] < l1["loss_rpn_box_reg"] and smooth["loss_box_reg"] < l1["loss_box_reg"]
    assert torch.equal(smooth["loss_classifier"], l1["loss_classifier"])


def test_training_without_the_flip_tables_stops_at_start_naming_them(synth_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the preset's relative datasets/UV_data/... does not exist here
    out = tmp_path / "run"
    args = ["train", "--config-file", str(TINY), "--graph", GRAPH, "OUTPUT_DIR", str(out),
            "DATASETS.TRAIN", f"['{synth_dir}/annotations.json:{synth_dir}/images']", "DATASETS.TEST", "[]",
            "SOLVER.MAX_ITER", "1"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: datasets/UV_data/UV_symmetry_transforms.mat: UV symmetry file not found")
    assert "densepose_uv_data.tar.gz" in lines[0] and "INPUT.HFLIP_TRAIN False" in lines[0]
    assert not out.exists() or not any(out.iterdir())  # nothing written, not even config.yaml
