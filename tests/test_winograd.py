"""Winograd F(4×4, 3×3) (ktn_model/modeling/winograd.py): the same map as the direct convolution, used only where it
applies, marked only on the convs it computes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ktn_model.modeling import winograd
from ktn_model.modeling.heads.deeplab import DensePoseDeepLabHead
from ktn_model.modeling.heads.v1convx import DensePoseV1ConvXHead
from ktn_model.modeling.winograd import Conv2d, conv3x3, filters, use_winograd


def reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The direct convolution in float64."""
    return F.conv2d(x.double(), weight.double(), None if bias is None else bias.double(), padding=1)


@pytest.mark.parametrize("size", [(28, 28), (7, 9), (4, 4), (1, 1)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv3x3_is_the_direct_convolution(size, with_bias):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 64, *size, generator=g)
    weight = torch.randn(96, 64, 3, 3, generator=g) / 24  # unit-scale outputs
    bias = torch.randn(96, generator=g) if with_bias else None
    exact = reference(x, weight, bias)
    ours = conv3x3(x, filters(weight), bias)
    assert ours.shape == (3, 96, *size)
    direct_error = (F.conv2d(x, weight, bias, padding=1).double() - exact).abs().max().item()
    error = (ours.double() - exact).abs().max().item()
    assert error < 2e-5 * exact.abs().max().item()  # float32 rounding of the transforms, not a different map
    assert error < 40 * max(direct_error, 1e-7)


def test_no_rois_give_no_outputs():
    conv = marked_conv(64, 96)
    with torch.no_grad():
        assert conv(torch.zeros(0, 64, 28, 28)).shape == (0, 96, 28, 28)


def test_a_single_pixel_filter_reproduces_its_input_exactly():
    """Known answer: the filter with one centre tap 1 is the identity; G, B^T and A^T of F(4, 3) (points 0, ±1, ±2)
    keep small integers exact, so every output equals its input to the last bit."""
    x = torch.arange(2 * 64 * 5 * 6, dtype=torch.float32).remainder(7).sub(3).view(2, 64, 5, 6)
    weight = torch.zeros(64, 64, 3, 3)
    weight[torch.arange(64), torch.arange(64), 1, 1] = 1
    torch.testing.assert_close(conv3x3(x, filters(weight), None), x, rtol=0, atol=1e-5)


def marked_conv(c_in: int = 64, c_out: int = 64) -> Conv2d:
    conv = Conv2d(c_in, c_out, 3, padding=1)
    assert use_winograd(conv) == 1
    return conv.eval()


def test_the_conv_computes_through_winograd_only_at_cpu_float32_inference(monkeypatch):
    calls = []
    zero = torch.zeros(64, 64, 3, 3)
    monkeypatch.setattr(winograd, "conv3x3", lambda *a: calls.append(1) or F.conv2d(a[0], zero, padding=1))
    conv, x = marked_conv(), torch.randn(1, 64, 8, 8)
    conv(x)  # autograd on
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        conv(x)
    with torch.no_grad():
        traced = torch.jit.trace(conv, x, check_trace=False)
        conv.train()(x)
        assert calls == []
        conv.eval()(x)
    assert calls == [1]
    assert "aten::_convolution" in str(traced.graph)  # an exported graph keeps the direct convolution


def test_outside_inference_the_conv_is_nn_conv2d_to_the_bit():
    conv, x = marked_conv(), torch.randn(2, 64, 9, 9)
    assert torch.equal(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=1))


@pytest.mark.parametrize("tiles", [2 * 49, 3])  # two 28×28 RoIs per piece; bands of one tile row
def test_pieces_give_the_same_result(monkeypatch, tiles):
    conv, x = marked_conv(), torch.randn(5, 64, 28, 26)
    with torch.no_grad():
        whole = conv3x3(x, filters(conv.weight), conv.bias)
        monkeypatch.setattr(winograd, "TILES_PER_GROUP", tiles)
        pieces = conv(x)
    torch.testing.assert_close(pieces, whole, rtol=0, atol=1e-5)
    torch.testing.assert_close(pieces.double(), reference(x, conv.weight, conv.bias), rtol=0, atol=1e-4)


def test_new_weights_replace_the_cached_filters():
    conv, x = marked_conv(), torch.randn(1, 64, 8, 8)
    with torch.no_grad():
        before = conv(x)
        conv.load_state_dict({"weight": 2 * conv.weight, "bias": 2 * conv.bias})
        torch.testing.assert_close(conv(x), 2 * before, rtol=1e-5, atol=1e-5)


def test_only_3x3_same_convs_with_enough_channels_are_marked():
    head = DensePoseV1ConvXHead(256, channels=64, num_convs=3)
    assert use_winograd(head) == 3
    assert set(head.state_dict()) == set(DensePoseV1ConvXHead(256, channels=64, num_convs=3).state_dict())
    deeplab = DensePoseDeepLabHead(256, channels=64, num_convs=2)  # ASPP: 1×1, dilated 3×3, pooling; then 2 convs
    assert use_winograd(deeplab) == 2
    marked = [name for name, m in deeplab.named_modules() if getattr(m, "winograd", False)]
    assert len(marked) == 2 and all("ASPP" not in name for name in marked)
    assert use_winograd(Conv2d(64, 8, 3, padding=1)) == 0  # too few output channels to gain
    assert use_winograd(Conv2d(64, 64, 3, padding=1, stride=2)) == 0
