"""detectron2's DensePose RoI heads: checkpoint key names/shapes, forward against plain functional code, init."""

import pytest
import torch
import torch.nn.functional as F

from ktn_model.modeling.heads.deeplab import ASPP, DensePoseDeepLabHead, NONLocalBlock2D
from ktn_model.modeling.heads.ktn import DensePoseKTNHead
from ktn_model.modeling.heads.pid import DensePosePIDHead
from ktn_model.modeling.heads.v1convx import DensePoseV1ConvXHead
from ktn_model.modeling.registry import DENSEPOSE_HEADS

PREFIX = "roi_heads.densepose_head."
R = 28  # RoI resolution of the DensePose branch


def _body_keys(norm: bool) -> list[tuple[str, tuple[int, ...]]]:
    """``body_conv_fcn1..8`` of a (c_in 256, channels 512) head, as detectron2's checkpoints list them."""
    keys = []
    for k in range(1, 9):
        keys.append((f"body_conv_fcn{k}.weight", (512, 256 if k == 1 else 512, 3, 3)))
        keys += [(f"body_conv_fcn{k}.norm.weight", (512,)), (f"body_conv_fcn{k}.norm.bias", (512,))] if norm else [
            (f"body_conv_fcn{k}.bias", (512,))]
    return keys


def _aspp_keys() -> list[tuple[str, tuple[int, ...]]]:
    """``ASPP.*`` of detectron2's R_101_FPN_DL_s1x checkpoint: branch K = Sequential(conv, GN, ReLU), K=4 pooled."""
    keys = []
    for k, (conv, norm, kernel) in enumerate([(0, 1, 1), (0, 1, 3), (0, 1, 3), (0, 1, 3), (1, 2, 1)]):
        keys += [(f"ASPP.convs.{k}.{conv}.weight", (256, 256, kernel, kernel)),
                 (f"ASPP.convs.{k}.{norm}.weight", (256,)), (f"ASPP.convs.{k}.{norm}.bias", (256,))]
    return keys + [("ASPP.project.0.weight", (256, 1280, 1, 1))]


NL_KEYS = [("NLBlock.g.0.weight", (128, 256, 1, 1)), ("NLBlock.g.0.bias", (128,)),
           ("NLBlock.W.0.weight", (256, 128, 1, 1)), ("NLBlock.W.0.bias", (256,)),
           ("NLBlock.W.1.weight", (256,)), ("NLBlock.W.1.bias", (256,)),
           ("NLBlock.theta.weight", (128, 256, 1, 1)), ("NLBlock.theta.bias", (128,)),
           ("NLBlock.phi.0.weight", (128, 256, 1, 1)), ("NLBlock.phi.0.bias", (128,))]

EXPECTED = {
    "v1convx": (lambda: DensePoseV1ConvXHead(256, 512, 8), _body_keys(norm=False)),
    "deeplab": (lambda: DensePoseDeepLabHead(256, 512, 8), _aspp_keys() + _body_keys(norm=True)),
    "deeplab_nl": (lambda: DensePoseDeepLabHead(256, 512, 8, nonlocal_on=True),
                   _aspp_keys() + NL_KEYS + _body_keys(norm=True)),
}


def _shapes(module: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_state_dict_keys_and_shapes_are_detectron2s_in_its_order(name):
    build, expected = EXPECTED[name]
    with torch.device("meta"):
        head = build()
    assert _shapes(head) == expected


def test_expected_key_lists_have_the_checkpoint_sizes():
    # R_50_FPN_s1x: 8 convs × (weight, bias); R_101_FPN_DL_s1x: 16 ASPP entries + 8 × (weight, norm.weight, norm.bias)
    assert [len(EXPECTED[name][1]) for name in EXPECTED] == [16, 40, 50]


@pytest.mark.parametrize("name", ["v1convx", "deeplab"])
def test_a_detectron2_named_state_dict_loads_strictly(name):
    build, expected = EXPECTED[name]
    gen = torch.Generator().manual_seed(0)
    checkpoint = {PREFIX + key: torch.randn(shape, generator=gen) for key, shape in expected}
    head = build()
    head.load_state_dict({k.removeprefix(PREFIX): v for k, v in checkpoint.items()}, strict=True)
    for key, value in head.state_dict().items():
        assert torch.equal(value, checkpoint[PREFIX + key])


def test_heads_registry_names_detectron2s_classes():
    assert {name: DENSEPOSE_HEADS.get(name) for name in DENSEPOSE_HEADS} == {
        "DensePoseV1ConvXHead": DensePoseV1ConvXHead, "DensePoseDeepLabHead": DensePoseDeepLabHead,
        "DensePoseKTNHead": DensePoseKTNHead, "DensePosePIDHead": DensePosePIDHead}


@pytest.mark.parametrize(("build", "count"), [
    # 256·512·9 + 512 + 7 · (512·512·9 + 512)
    (lambda: DensePoseV1ConvXHead(256, 512, 8), 1_180_160 + 7 * 2_359_808),
    # ASPP: 2 · (256·256 + 2·256) + 3 · (256·256·9 + 2·256) + 256·1280
    # body: 256·512·9 + 2·512 + 7 · (512·512·9 + 2·512)
    (lambda: DensePoseDeepLabHead(256, 512, 8), 2 * 66_048 + 3 * 590_336 + 327_680 + 1_180_672 + 7 * 2_360_320),
    # 3 · (256·128 + 128) + 128·256 + 256 + 2·256
    (lambda: NONLocalBlock2D(256), 3 * 32_896 + 33_024 + 512),
])
def test_parameter_counts(build, count):
    with torch.device("meta"):
        module = build()
    assert sum(p.numel() for p in module.parameters()) == count


def test_out_channels_and_norm_choices():
    assert DensePoseV1ConvXHead(16, 64, 2).out_channels == 64
    assert DensePoseV1ConvXHead(16, 64, 0).out_channels == 16
    assert DensePoseDeepLabHead(32, 64, 1).out_channels == 64
    plain = DensePoseDeepLabHead(32, 64, 2, norm="")
    assert [k for k in plain.state_dict() if k.startswith("body")] == [
        "body_conv_fcn1.weight", "body_conv_fcn1.bias", "body_conv_fcn2.weight", "body_conv_fcn2.bias"]
    with pytest.raises(ValueError, match="'BN'"):
        DensePoseDeepLabHead(32, 64, 1, norm="BN")


def test_body_convs_are_msra_filled():
    torch.manual_seed(0)
    head = DensePoseV1ConvXHead(256, 512, 2)
    conv = head.body_conv_fcn2
    assert torch.count_nonzero(conv.bias) == 0
    # kaiming normal, fan_out = 512·3·3: std = sqrt(2 / 4608)
    assert conv.weight.std().item() == pytest.approx((2 / 4608) ** 0.5, rel=0.01)


# ---- forward against torch.nn.functional code written from the state dict (float64) ----

def _randomize_norms(module: torch.nn.Module, seed: int) -> None:
    """GroupNorm affine parameters away from (1, 0), so the checks see them."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.GroupNorm):
            m.weight.data = 1 + 0.3 * torch.randn(m.weight.shape, generator=gen, dtype=m.weight.dtype)
            m.bias.data = 0.3 * torch.randn(m.bias.shape, generator=gen, dtype=m.bias.dtype)


def _gn_relu(x, sd, norm):
    return F.relu(F.group_norm(x, 32, sd[f"{norm}.weight"], sd[f"{norm}.bias"], eps=1e-5))


def _reference_aspp(x, sd):
    """Branches 0..3: conv (pad = dilation) + GN + ReLU; branch 4: mean -> 1×1 conv + GN + ReLU, broadcast to H×W."""
    branches = [_gn_relu(F.conv2d(x, sd["ASPP.convs.0.0.weight"]), sd, "ASPP.convs.0.1")]
    for k, d in zip((1, 2, 3), (6, 12, 56), strict=True):
        branches.append(_gn_relu(F.conv2d(x, sd[f"ASPP.convs.{k}.0.weight"], padding=d, dilation=d), sd,
                                 f"ASPP.convs.{k}.1"))
    pooled = F.conv2d(x.mean(dim=(2, 3), keepdim=True), sd["ASPP.convs.4.1.weight"])
    branches.append(_gn_relu(pooled, sd, "ASPP.convs.4.2").expand(-1, -1, *x.shape[2:]))
    return F.relu(F.conv2d(torch.cat(branches, dim=1), sd["ASPP.project.0.weight"]))


def _reference_body(x, sd, num_convs, norm):
    for k in range(1, num_convs + 1):
        name = f"body_conv_fcn{k}"
        x = F.conv2d(x, sd[f"{name}.weight"], sd.get(f"{name}.bias"), padding=1)
        x = _gn_relu(x, sd, f"{name}.norm") if norm else F.relu(x)
    return x


def _reference_nonlocal(x, sd):
    """Embedded Gaussian: softmax over the 2×2-max-pooled positions of θ(x)ᵀφ(x), times g(x), W, GN, residual."""
    def conv(name, inp):
        return F.conv2d(inp, sd[f"NLBlock.{name}.weight"], sd[f"NLBlock.{name}.bias"])

    theta = conv("theta", x)
    phi = F.max_pool2d(conv("phi.0", x), 2)
    g = F.max_pool2d(conv("g.0", x), 2)
    weights = torch.einsum("ncij,ncpq->nijpq", theta, phi).flatten(3).softmax(dim=-1)
    y = torch.einsum("nijm,ncm->ncij", weights, g.flatten(2))
    w = conv("W.0", y)
    return x + F.group_norm(w, 32, sd["NLBlock.W.1.weight"], sd["NLBlock.W.1.bias"], eps=1e-5)


def _input(c: int, seed: int = 1, size: int = R) -> torch.Tensor:
    return torch.randn(2, c, size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_v1convx_forward_matches_functional_reference():
    torch.manual_seed(0)
    head = DensePoseV1ConvXHead(32, 64, 3).double().eval()
    x = _input(32)
    out = head(x)
    assert out.shape == (2, 64, R, R)
    assert (out - _reference_body(x, head.state_dict(), 3, norm=False)).abs().max().item() <= 1e-10


def test_deeplab_forward_matches_functional_reference():
    torch.manual_seed(0)
    head = DensePoseDeepLabHead(64, 96, 2).double().eval()
    _randomize_norms(head, seed=2)
    x = _input(64)
    sd = head.state_dict()
    assert (head.ASPP(x) - _reference_aspp(x, sd)).abs().max().item() <= 1e-10
    out = head(x)
    assert out.shape == (2, 96, R, R)
    assert (out - _reference_body(_reference_aspp(x, sd), sd, 2, norm=True)).abs().max().item() <= 1e-10


def test_aspp_matches_functional_reference_where_dilation_56_reaches_off_centre():
    torch.manual_seed(0)
    aspp = ASPP(32, 32).double()
    _randomize_norms(aspp, seed=6)
    x = _input(32, size=64)
    sd = {f"ASPP.{k}": v for k, v in aspp.state_dict().items()}
    assert (aspp(x) - _reference_aspp(x, sd)).abs().max().item() <= 1e-10


def test_aspp_pooling_branch_is_constant_over_the_roi():
    torch.manual_seed(0)
    aspp = ASPP(32, 32).double()
    _randomize_norms(aspp, seed=3)
    out = aspp.convs[4](_input(32))
    assert out.shape == (2, 32, R, R)
    assert (out - out[:, :, :1, :1]).abs().max().item() <= 1e-15  # bilinear blends of one value, up to rounding


def test_dilation_56_branch_sees_only_its_centre_tap_on_28x28():
    torch.manual_seed(0)
    aspp = ASPP(32, 32).double()
    _randomize_norms(aspp, seed=4)
    x = _input(32)
    sd = aspp.state_dict()

    def centre_only(k):
        return _gn_relu(F.conv2d(x, sd[f"convs.{k}.0.weight"][:, :, 1:2, 1:2]), sd, f"convs.{k}.1")

    d56 = aspp.convs[3](x)
    assert (d56 - centre_only(3)).abs().max().item() <= 1e-12
    assert (aspp.convs[2](x) - centre_only(2)).abs().max().item() > 0.1  # dilation 12 does reach the RoI
    with torch.no_grad():
        aspp.convs[3][0].weight[:, :, 0] = 7.0  # off-centre taps multiply the zero padding only
    assert (aspp.convs[3](x) - d56).abs().max().item() <= 1e-12


def test_nonlocal_block_starts_as_identity():
    torch.manual_seed(0)
    block = NONLocalBlock2D(64)
    assert block.inter_channels == 32
    assert torch.count_nonzero(block.W[1].weight) == 0 and torch.count_nonzero(block.W[1].bias) == 0
    x = torch.randn(2, 64, R, R)
    assert torch.equal(block(x), x)


def test_nonlocal_block_matches_functional_reference():
    torch.manual_seed(0)
    block = NONLocalBlock2D(64).double()
    _randomize_norms(block, seed=5)
    x = _input(64)
    sd = {f"NLBlock.{k}": v for k, v in block.state_dict().items()}
    out = block(x)
    assert out.shape == x.shape
    assert (out - x).abs().max().item() > 0.1
    assert (out - _reference_nonlocal(x, sd)).abs().max().item() <= 1e-10


def test_deeplab_with_fresh_nonlocal_equals_deeplab_without():
    torch.manual_seed(0)
    with_nl = DensePoseDeepLabHead(64, 64, 2, nonlocal_on=True).eval()
    without = DensePoseDeepLabHead(64, 64, 2).eval()
    without.load_state_dict({k: v for k, v in with_nl.state_dict().items() if not k.startswith("NLBlock.")})
    x = _input(64).float()
    assert torch.equal(with_nl(x), without(x))
