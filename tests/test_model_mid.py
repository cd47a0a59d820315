"""MID: FA / IFA rearrangements, output shapes and the size check.

See docs/method.md, "MID, the multi-instance decoder".
"""

import pytest
import torch

from ktn_model.modeling.mid import FA, IFA, MIDv1, MIDv2, space_to_depth


def _indexed(channels: int, side: int) -> torch.Tensor:
    """(1, C, side, side) with value 100·c + 10·h + w."""
    c, h, w = torch.meshgrid(torch.arange(channels), torch.arange(side), torch.arange(side), indexing="ij")
    return (100 * c + 10 * h + w).float()[None]


def test_space_to_depth_stacks_parity_blocks_blockwise():
    out = space_to_depth(_indexed(2, 4))
    assert out.shape == (1, 8, 2, 2)
    # block k occupies channels [2k, 2k+2): (even,even), (even,odd), (odd,even), (odd,odd)
    assert out[0, 0].tolist() == [[0, 2], [20, 22]]
    assert out[0, 1].tolist() == [[100, 102], [120, 122]]
    assert out[0, 2].tolist() == [[1, 3], [21, 23]]
    assert out[0, 4].tolist() == [[10, 12], [30, 32]]
    assert out[0, 7].tolist() == [[111, 113], [131, 133]]


def test_fa_convolves_the_rearranged_blocks():
    fa = FA(2)
    conv = fa.conv[0]
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        conv.weight[0, 6, 1, 1] = 1.0  # output 0 <- block 3 (odd, odd) of channel 0
        conv.weight[1, 3, 1, 1] = -1.0  # output 1 <- -(block 1 of channel 1): negative, so ReLU gives 0
    out = fa(_indexed(2, 4))
    assert out[0, 0].tolist() == [[11, 13], [31, 33]]
    assert out[0, 1].tolist() == [[0, 0], [0, 0]]


def test_ifa_places_the_four_predicted_maps_at_odd_even_positions():
    ifa = IFA(1)
    conv = ifa[0][0]
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]).view(4, 1, 1, 1))
        conv.bias.zero_()
    x = torch.tensor([[[[1.0, 10.0]]]])  # (1, 1, 1, 2)
    out = ifa(x)
    assert out.shape == (1, 1, 2, 4)
    # channel 2i + j lands at (2h + i, 2w + j)
    assert out[0, 0].tolist() == [[1, 2, 10, 20], [3, 4, 30, 40]]


def _pyramid(side: int, channels: int = 32, batch: int = 2) -> list[torch.Tensor]:
    return [torch.randn(batch, channels, side >> i, (side + 8) >> i) for i in range(4)]


@pytest.mark.parametrize("mid", [MIDv2(32, 32, 64), MIDv2(32, 32, 64, multi_scale=False), MIDv1(32, 32, 64)])
def test_mid_outputs_stride4_map(mid):
    out = mid(_pyramid(16))  # image 64 × 96
    assert out.shape == (2, 64, 16, 24)


def test_mid_rejects_sizes_not_multiple_of_32():
    mid = MIDv2(32, 32, 32)
    bad = [torch.randn(1, 32, 10, 10), torch.randn(1, 32, 5, 5), torch.randn(1, 32, 3, 3), torch.randn(1, 32, 2, 2)]
    with pytest.raises(ValueError, match="multiple of 32"):
        mid(bad)
