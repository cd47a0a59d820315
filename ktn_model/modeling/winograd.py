"""Winograd F(4×4, 3×3): the DensePose head's 3×3 convolutions at CPU inference with 4× fewer multiply-adds.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016), eq. (8): a 4×4 output tile is

    Y = A^T [ Σ_c (G g_c G^T) ⊙ (B^T d_c B) ] A

for the 6×6 input tile d_c and the 3×3 filter g_c of each input channel c. Summed over channels, the element-wise
products become 36 matrix products (one per tile position), (tiles × C_in) @ (C_in × C_out): 36 · C_in · C_out
multiply-adds per 16 outputs against the direct convolution's 144 · C_in · C_out. It is the same linear map as the
direct convolution; in float32 it rounds differently (about 1e-5 of the output's scale, against the direct one's
1e-6: ``tests/test_winograd.py``), which is why it is opt-out (``TEST.WINOGRAD``) and never used while training,
under autograd, tracing, autocast or on a GPU (where cuDNN chooses its own algorithm).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

OUT_TILE, IN_TILE = 4, 6  # F(4×4, 3×3): 4×4 outputs from 6×6 inputs
# Lavin & Gray's B^T, G and A^T for F(4, 3), interpolation points 0, ±1, ±2, ∞.
B_T = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
       (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
     (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
A_T = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
# Tiles per matrix product: RoIs go through in groups of about this many tiles (five 28×28 RoIs), so that one
# group's tiles stay in cache; whole batches at once ran 1.5× slower (85 RoIs, benchmarks/head_layout.py).
TILES_PER_GROUP = 256
MIN_CHANNELS = 64  # below this the tile transforms cost more than the products save


def kron(matrix: tuple) -> Tensor:
    """M ⊗ M in float32: applies M·d·M^T to a flattened tile, (rows², cols²)."""
    m = torch.tensor(matrix, dtype=torch.float64)
    return torch.kron(m, m).float()


def filters(weight: Tensor) -> Tensor:
    """G g G^T of every filter, computed in float64: (C_out, C_in, 3, 3) -> (36, C_in, C_out) float32."""
    g = torch.tensor(G, dtype=torch.float64)
    u = torch.einsum("ij,ocjk,lk->ilco", g, weight.detach().double(), g)  # (6, 6, C_in, C_out)
    return u.reshape(IN_TILE * IN_TILE, weight.shape[1], weight.shape[0]).float().contiguous()


def conv3x3(x: Tensor, u: Tensor, bias: Tensor | None) -> Tensor:
    """The same-padded 3×3 convolution of ``x`` (N, C_in, H, W) with the transformed filters ``u`` (36, C_in, C_out)
    and ``bias`` (C_out,): (N, C_out, H, W) with channels-last strides."""
    n, c, h, w = x.shape
    c_out = u.shape[2]
    th, tw = -(-h // OUT_TILE), -(-w // OUT_TILE)  # tiles down and across
    ph, pw = th * OUT_TILE + 2, tw * OUT_TILE + 2  # padded height and width: one zero row/column before, the rest after
    padded = x.new_zeros(n, ph, pw, c)  # (N, Hp, Wp, C_in)
    padded[:, 1:h + 1, 1:w + 1] = x.permute(0, 2, 3, 1)
    tiles = padded.as_strided((IN_TILE, IN_TILE, n, th, tw, c),  # overlapping 6×6 tiles every 4 pixels
                              (pw * c, c, ph * pw * c, OUT_TILE * pw * c, OUT_TILE * c, 1))
    v = kron(B_T) @ tiles.reshape(IN_TILE * IN_TILE, -1)  # B^T d B: (36, N·th·tw·C_in)
    m = torch.bmm(v.view(IN_TILE * IN_TILE, n * th * tw, c), u)  # Σ_c: (36, N·th·tw, C_out)
    y = kron(A_T) @ m.view(IN_TILE * IN_TILE, -1)  # A^T M A: (16, N·th·tw·C_out)
    out = torch.empty(n, c_out, th * OUT_TILE, tw * OUT_TILE, dtype=x.dtype, memory_format=torch.channels_last)
    out.permute(0, 2, 3, 1).view(n, th, OUT_TILE, tw, OUT_TILE, c_out).copy_(  # tiles back in place
        y.view(OUT_TILE, OUT_TILE, n, th, tw, c_out).permute(2, 3, 0, 4, 1, 5))
    out = out[:, :, :h, :w]
    return out if bias is None else out.add_(bias.view(1, -1, 1, 1))


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that computes through Winograd F(4×4, 3×3) once ``use_winograd`` marked it, where it applies.

    Same parameters and state-dict names as ``nn.Conv2d``; the transformed filters are cached (not saved) and
    recomputed whenever the weight changes.
    """

    winograd = False

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if not (self.winograd and not self.training and applies(x, weight)):
            return super()._conv_forward(x, weight, bias)
        key = (weight.data_ptr(), weight._version)
        if getattr(self, "_filters", (None,))[0] != key:
            self._filters = (key, filters(weight))
        u = self._filters[1]
        group = max(1, TILES_PER_GROUP // (-(-x.shape[2] // OUT_TILE) * -(-x.shape[3] // OUT_TILE)))
        out = torch.empty(x.shape[0], u.shape[2], *x.shape[2:], dtype=x.dtype, memory_format=torch.channels_last)
        for start in range(0, x.shape[0], group):  # written in place: no second copy of the whole output
            out[start:start + group] = conv3x3(x[start:start + group], u, bias)
        return out


def eligible(conv: nn.Module) -> bool:
    """A ``Conv2d`` that Winograd F(4×4, 3×3) computes: 3×3, stride 1, zero padding 1, no dilation or groups."""
    return (isinstance(conv, Conv2d) and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.padding == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros" and min(conv.in_channels, conv.out_channels) >= MIN_CHANNELS)


def applies(x: Tensor, weight: Tensor) -> bool:
    """Inference in float32 on the CPU, outside autograd, tracing and compilation."""
    return (x.device.type == "cpu" and x.dtype == weight.dtype == torch.float32 and not torch.is_grad_enabled()
            and not torch.jit.is_tracing() and not torch.compiler.is_compiling()
            and not torch.is_autocast_enabled("cpu"))


def use_winograd(module: nn.Module) -> int:
    """Marks every eligible conv in ``module`` to compute through Winograd at inference; returns their number."""
    convs = [m for m in module.modules() if eligible(m)]
    for conv in convs:
        conv.winograd = True
    return len(convs)
