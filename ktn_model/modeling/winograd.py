"""Winograd F(4×4, 3×3): the DensePose branch's 3×3 convolutions at CPU inference with 4× fewer multiply-adds.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016), eq. (8): a 4×4 output tile is

    Y = A^T [ Σ_c (G g_c G^T) ⊙ (B^T d_c B) ] A

for the 6×6 input tile d_c and the 3×3 filter g_c of each input channel c. Summed over channels, the element-wise
products become 36 matrix products (one per tile position), (tiles × C_in) @ (C_in × C_out): 36 · C_in · C_out
multiply-adds per 16 outputs against the direct convolution's 144 · C_in · C_out. It is the same linear map as the
direct convolution; in float32 it rounds differently (within 2e-5 of the output's scale, ``tests/test_winograd.py``;
``TEST.WINOGRAD False`` keeps the direct rounding). It is never used while training, under autograd, tracing,
autocast or on a GPU (where cuDNN chooses its own algorithm).
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
# Tiles per matrix product: RoIs go through in groups of about this many tiles (five 28×28 RoIs), a large image in
# bands of tile rows, so that one piece's tiles stay in cache; 85 RoIs at once ran 1.5× slower.
TILES_PER_GROUP = 256
MIN_CHANNELS = 64  # below this the tile transforms cost more than the products save


def kron(matrix: tuple) -> Tensor:
    """M ⊗ M in float32: applies M·d·M^T to a flattened tile, (rows², cols²)."""
    m = torch.tensor(matrix, dtype=torch.float64)
    return torch.kron(m, m).float()


B_KRON, A_KRON = kron(B_T), kron(A_T)  # (36, 36) and (16, 36), made once: every piece of every conv applies them


def filters(weight: Tensor) -> Tensor:
    """G g G^T of every filter, computed in float64: (C_out, C_in, 3, 3) -> (36, C_in, C_out) float32."""
    g = torch.tensor(G, dtype=torch.float64)
    u = torch.einsum("ij,ocjk,lk->ilco", g, weight.detach().double(), g)  # (6, 6, C_in, C_out)
    return u.reshape(IN_TILE * IN_TILE, weight.shape[1], weight.shape[0]).float().contiguous()


def conv3x3(x: Tensor, u: Tensor, bias: Tensor | None) -> Tensor:
    """The same-padded 3×3 convolution of ``x`` (N, C_in, H, W) with the transformed filters ``u`` (36, C_in, C_out)
    and ``bias`` (C_out,): (N, C_out, H, W) with channels-last strides.

    The tiles go through in pieces of about ``TILES_PER_GROUP``: groups of images (RoIs) or, for a large image,
    bands of tile rows; each piece is padded on its own (so that it stays in cache) and writes its rows of the output.
    """
    n, c, h, w = x.shape
    th, tw = -(-h // OUT_TILE), -(-w // OUT_TILE)  # tiles down and across
    out = x.new_empty(n, th * OUT_TILE, tw * OUT_TILE, u.shape[2])  # (N, H', W', C_out), H', W' multiples of 4
    images = max(1, TILES_PER_GROUP // (th * tw))  # images per piece
    rows = max(1, min(th, TILES_PER_GROUP // tw))  # tile rows per piece
    for i in range(0, n, images):
        part = x[i:i + images]
        for r in range(0, th, rows):
            first, end = r * OUT_TILE - 1, min(r + rows, th) * OUT_TILE + 1  # input rows of the piece, halo included
            piece = x.new_zeros(part.shape[0], end - first, tw * OUT_TILE + 2, c)  # (n, 4·rows + 2, Wp, C_in)
            top, bottom = max(first, 0), min(end, h)  # the rows that lie in the image
            piece[:, top - first:bottom - first, 1:w + 1] = part[:, :, top:bottom].permute(0, 2, 3, 1)
            tile_products(piece, u, out[i:i + images, first + 1:end - 1])
    out = out.permute(0, 3, 1, 2)[:, :, :h, :w]  # (N, C_out, H, W), channels-last strides
    return out if bias is None else out.add_(bias.view(1, -1, 1, 1))


def tile_products(padded: Tensor, u: Tensor, out: Tensor) -> None:
    """Eq. (8) on every tile of ``padded`` (n, 4·th + 2, 4·tw + 2, C_in), any strides, into ``out`` (n, 4·th, 4·tw,
    C_out)."""
    n, ph, pw, c = padded.shape
    th, tw, c_out = (ph - 2) // OUT_TILE, (pw - 2) // OUT_TILE, u.shape[2]
    sn, sh, sw, _ = padded.stride()
    tiles = padded.as_strided((IN_TILE, IN_TILE, n, th, tw, c),  # overlapping 6×6 tiles every 4 pixels
                              (sh, sw, sn, OUT_TILE * sh, OUT_TILE * sw, 1))
    v = B_KRON @ tiles.reshape(IN_TILE * IN_TILE, -1)  # B^T d B: (36, n·th·tw·C_in)
    m = torch.bmm(v.view(IN_TILE * IN_TILE, n * th * tw, c), u)  # Σ_c: (36, n·th·tw, C_out)
    y = A_KRON @ m.view(IN_TILE * IN_TILE, -1)  # A^T M A: (16, n·th·tw·C_out)
    out.view(n, th, OUT_TILE, tw, OUT_TILE, c_out).copy_(  # tiles back in place
        y.view(OUT_TILE, OUT_TILE, n, th, tw, c_out).permute(2, 3, 0, 4, 1, 5))


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that computes through Winograd F(4×4, 3×3) once ``use_winograd`` marked it, where it applies.

    Same parameters and state-dict names as ``nn.Conv2d``; the transformed filters are cached (not saved) and
    recomputed whenever the weight changes.
    """

    winograd = False
    _filters: tuple = (None, None)  # (the weight's (data_ptr, version), its transformed filters (36, C_in, C_out))

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if not (self.winograd and not self.training and applies(x, weight)):
            return super()._conv_forward(x, weight, bias)
        key = (weight.data_ptr(), weight._version)
        if self._filters[0] != key:
            self._filters = (key, filters(weight))
        return conv3x3(x, self._filters[1], bias)


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
