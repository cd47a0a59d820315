"""HRNet + HRFPN (``build_hrfpn_backbone``): the released KTNv2 HRNet-W32 backbone, name for name and value for
value (tests/data/golden/HRNet_w32_KTNv2), and its structure (docs/architecture.md, "HRNet and HRFPN")."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from golden import GOLDEN, expected, make_weights, release_input, sampled
from torch import nn

from ktn_model.config import get_cfg
from ktn_model.modeling.hrfpn import HRFPNBackbone, build_hrfpn_backbone
from ktn_model.modeling.registry import BACKBONES

FIXTURE = "HRNet_w32_KTNv2"
PREFIX = "backbone."
LEVELS = ["p1", "p2", "p3", "p4", "p5"]


def hrnet_cfg(widths: list[int] | None = None, blocks: int = 4, modules: tuple[int, ...] = (1, 4, 3), **stage2):
    """The default (W32) config, or one with branch widths ``widths``, ``blocks`` blocks per branch and
    ``modules`` modules in stages 2, 3, 4; ``stage2`` overrides other STAGE2 keys."""
    cfg = get_cfg()
    for k, n in zip((2, 3, 4), modules, strict=True):
        stage = cfg.MODEL.HRNET[f"STAGE{k}"]
        stage.NUM_MODULES = n
        stage.NUM_BLOCKS = [blocks] * (k)
        if widths:
            stage.NUM_CHANNELS = widths[:k]
    for key, value in stage2.items():
        cfg.MODEL.HRNET.STAGE2[key] = value
    return cfg


def tiny() -> HRFPNBackbone:
    """A fast HRFPN: widths 8, 16, 32, 64, one block per branch, one module per stage."""
    torch.manual_seed(0)
    return build_hrfpn_backbone(hrnet_cfg([8, 16, 32, 64], blocks=1, modules=(1, 1, 1)))


@pytest.fixture(scope="module")
def w32():
    """The release's HRNet-W32 HRFPN with the fixture's backbone weights (``backbone.`` stripped), eval mode."""
    model = build_hrfpn_backbone(get_cfg())
    weights = {k.removeprefix(PREFIX): torch.from_numpy(v) for k, v in make_weights(FIXTURE, PREFIX).items()}
    report = model.load_state_dict(weights, strict=True)
    assert not report.missing_keys and not report.unexpected_keys
    return model.eval()


def test_state_dict_is_the_releases_backbone_name_for_name_in_order():
    manifest = json.loads((GOLDEN / FIXTURE / "manifest.json").read_text())
    theirs = {k.removeprefix(PREFIX): e["shape"] for k, e in manifest.items() if k.startswith(PREFIX)}
    ours = {k: list(v.shape) for k, v in build_hrfpn_backbone(get_cfg()).state_dict().items()}
    assert list(ours) == list(theirs) and ours == theirs
    assert len(ours) == 1899 and sum(k.endswith("num_batches_tracked") for k in ours) == 314


@torch.no_grad()
@pytest.mark.parametrize(("image", "p1_hw"), [("astronaut", (192, 192)), ("coffee", (192, 288))])
def test_p1_to_p5_equal_the_releases(w32, image, p1_hw):
    """800×800 and 800×1200 (no padding): the release's p1..p5 sizes and values, |diff| <= 1e-4 (1 + |value|)."""
    exp = expected(FIXTURE, image)
    out = w32(release_input(FIXTURE, image))
    assert list(out) == LEVELS
    for k, level in enumerate(LEVELS):
        assert out[level].shape == (1, 256, p1_hw[0] >> k, p1_hw[1] >> k), level
        ours, theirs = sampled(out[level], exp, level)
        np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=1e-4, err_msg=level)


def test_w32_widths_strides_and_registry():
    import ktn_model.modeling  # noqa: F401  (fills the registries)

    assert BACKBONES.get("build_hrfpn_backbone") is build_hrfpn_backbone
    model = build_hrfpn_backbone(get_cfg())
    assert model.bottom_up.out_channels == [32, 64, 128, 256]
    assert [m[0].in_channels for m in model.interp_conv] == [32, 64, 128, 256]
    assert [m[0].stride for m in model.interp_conv] == [(1, 1), (2, 2), (4, 4), (8, 8)]
    assert [(m[0].in_channels, m[0].kernel_size, m[0].stride) for m in model.reduction_pooling_conv] == [
        (480, (2 ** k, 2 ** k), (2 ** k, 2 ** k)) for k in range(5)]
    assert model.out_channels == 256 and model.size_divisibility == 0
    assert model.strides == {"p1": 4, "p2": 8, "p3": 16, "p4": 32, "p5": 64}
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase)]
    assert len(norms) == 314 and all(type(m) is nn.BatchNorm2d and m.eps == 1e-5 for m in norms)


def test_w48_widths():
    model = build_hrfpn_backbone(hrnet_cfg([48, 96, 192, 384], blocks=1, modules=(1, 1, 1)))
    assert model.bottom_up.out_channels == [48, 96, 192, 384]
    assert model.reduction_pooling_conv[4][0].weight.shape == (256, 720, 16, 16)
    assert model.bottom_up.stage4[0].fuse_layers[0][3][0].weight.shape == (48, 384, 1, 1)
    assert model.bottom_up.stage4[0].fuse_layers[3][0][2][0].weight.shape == (384, 48, 3, 3)
    assert model.bottom_up.transition3[3][0][0].weight.shape == (384, 192, 3, 3)


@torch.no_grad()
def test_crops_for_an_input_that_is_no_multiple_of_32():
    """120×200: branches 30×50, 15×25, 8×13, 4×7; up-sampled 33/32/32/28 × 53/52/52/52 -> 28×52;
    levels ⌊28/2^k⌋ × ⌊52/2^k⌋ = 28×52, 14×26, 7×13, 3×6, 1×3, cropped to 2^(4-k) × (1×3)."""
    model = tiny().eval()
    x = torch.randn(2, 3, 120, 200)
    assert [tuple(y.shape[-2:]) for y in model.bottom_up(x)] == [(30, 50), (15, 25), (8, 13), (4, 7)]
    out = model(x)
    assert {k: tuple(v.shape) for k, v in out.items()} == {"p1": (2, 256, 16, 48), "p2": (2, 256, 8, 24),
                                                         "p3": (2, 256, 4, 12), "p4": (2, 256, 2, 6),
                                                         "p5": (2, 256, 1, 3)}


def test_batchnorm_uses_running_statistics_in_eval_mode():
    model = tiny()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.9, 1.1)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        both = model.eval()(x)["p1"]
        alone = model(x[1:])["p1"]
    torch.testing.assert_close(both[1:], alone, rtol=1e-5, atol=1e-5)  # no batch statistics
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    model.train()(x)
    assert not torch.equal(model.bottom_up.bn1.running_mean, state["bottom_up.bn1.running_mean"])


def test_bottleneck_branches_widen_by_four():
    model = build_hrfpn_backbone(hrnet_cfg([8, 16, 32, 64], blocks=1, modules=(1, 1, 1), BLOCK="BOTTLENECK"))
    assert model.bottom_up.stage2[0].out_channels == [32, 64]
    assert model.bottom_up.transition2[2][0][0].in_channels == 64
    assert model.bottom_up.out_channels == [8, 16, 32, 64]


@pytest.mark.parametrize(("key", "value", "message"), [
    ("NUM_BRANCHES", 3, "STAGE2: NUM_BRANCHES 3, but 2 NUM_BLOCKS"),
    ("FUSE_METHOD", "CAT", "STAGE2.FUSE_METHOD must be SUM"),
    ("BLOCK", "BASICS", "STAGE2.BLOCK must be one of"),
])
def test_inconsistent_stage_configs_name_the_key(key, value, message):
    with pytest.raises(ValueError, match=message):
        build_hrfpn_backbone(hrnet_cfg([8, 16, 32, 64], blocks=1, modules=(1, 1, 1), **{key: value}))
