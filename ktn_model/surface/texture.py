"""Texture transfer through the atlas of ``atlas.py``: image -> atlas (accumulate, fill) and atlas -> image.

Inputs are numpy arrays only: an image (H, W, 3) uint8 RGB, the full-image IUV (H, W, 3) uint8
[I, U*255, V*255] and the instance map (H, W) (0 = background, k = k-th person), as ``ktn infer``
writes them. Extraction splats every chosen person pixel bilinearly onto the 4 texels around its
(I, U, V) (the transpose of the bilinear look-up that painting uses); a texel's confidence is the sum
of the weights it received, its colour the confidence-weighted mean.
"""

from __future__ import annotations

import functools

import numpy as np
from matplotlib import colormaps
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve

from ktn_model.data.meta import NUM_PATCHES
from ktn_model.surface.atlas import atlas_shape, bilinear_texels, tile_origin, tile_size_of, tiles
from ktn_model.surface.iuv_image import person_pixels, surface_coords
from ktn_utils.machine import largest_fitting

REFERENCE_GRID = 10  # UV grid lines per tile side in the reference atlas
REFERENCE_TILE = 64
# Peak bytes per atlas texel of extract + fill: the accumulator (4 float64), the float atlas (3 float64), the
# coverage and uint8 copies, and a tile's sparse fill system; rounded up.
BYTES_PER_TEXEL = 128


def atlas_bytes(tile: int) -> int:
    """Peak memory of extracting (and filling) an atlas of ``tile``-texel tiles (24 tiles)."""
    return NUM_PATCHES * tile * tile * BYTES_PER_TEXEL


def max_tile_size(memory: int | None = None) -> int:
    """The largest tile size whose atlas fits ``memory`` bytes (default: the memory available now)."""
    return largest_fitting(atlas_bytes, memory)


def person_mask(inds: np.ndarray, person: int | None = None) -> np.ndarray:
    """(H, W) bool pixels of instance ``person`` (1-based), or of the largest instance when None."""
    if person is None:
        counts = np.bincount(inds.ravel().astype(np.int64))
        counts[0] = 0
        person = int(np.argmax(counts)) if counts.any() else 0
    return (inds == person) & (person > 0)


class TextureAccumulator:
    """Confidence-weighted sums of pixel colours per atlas texel, over any number of images."""

    def __init__(self, tile: int):
        if not 2 <= tile <= (limit := max_tile_size()):
            raise ValueError(f"tile size {tile}: must be in 2..{limit} (the atlas must fit the memory available)")
        self.tile = tile
        self.shape = atlas_shape(tile)
        self.colour = np.zeros((self.shape[0] * self.shape[1], 3))  # (H*W, 3) weighted colour sums
        self.confidence = np.zeros(self.shape[0] * self.shape[1])  # (H*W,) summed splat weights

    def add(self, image: np.ndarray, iuv: np.ndarray, mask: np.ndarray) -> int:
        """Splat the masked person pixels of one image; returns how many pixels were added."""
        on = person_pixels(iuv, mask)
        patch, u, v = surface_coords(iuv, on)
        index, weight = bilinear_texels(patch, u, v, self.tile)
        colours = image[on].astype(np.float64)  # (n, 3), same order as the coords
        size = len(self.confidence)
        self.confidence += np.bincount(index.ravel(), weight.ravel(), minlength=size)
        for c in range(3):
            self.colour[:, c] += np.bincount(index.ravel(), (weight * colours[:, c : c + 1]).ravel(), minlength=size)
        return len(patch)

    def coverage(self) -> np.ndarray:
        """(6N, 4N) bool: texels that received any weight."""
        return (self.confidence > 0).reshape(self.shape)

    def atlas(self) -> np.ndarray:
        """(6N, 4N, 3) float RGB mean colour (0..255), 0 where nothing was seen."""
        mean = self.colour / np.maximum(self.confidence, np.finfo(float).tiny)[:, None]
        return mean.reshape(*self.shape, 3)


def _tile_laplacian(tile: int) -> coo_matrix:
    """(N*N, N*N) graph Laplacian of the 4-neighbour texel grid of one tile (no edges leave the tile)."""
    ids = np.arange(tile * tile).reshape(tile, tile)
    a = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    b = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    adjacency = coo_matrix((np.ones(2 * len(a)), (np.r_[a, b], np.r_[b, a])), shape=(tile * tile,) * 2).tocsr()
    degree = coo_matrix((np.asarray(adjacency.sum(1)).ravel(), (ids.ravel(), ids.ravel())), shape=adjacency.shape)
    return (degree - adjacency).tocsr()


def fill_holes(atlas: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Harmonic (steady-state diffusion) fill of the uncovered texels of each tile from its covered ones.

    ``atlas`` (6N, 4N, 3) float, ``coverage`` (6N, 4N) bool. Diffusion never crosses a tile border;
    a tile with no covered texel stays as it is. Returns a new (6N, 4N, 3) float atlas.
    """
    tile = tile_size_of(atlas.shape, "atlas")
    laplacian = _tile_laplacian(tile)
    filled = atlas.astype(np.float64).copy()
    colour_tiles, known_tiles = tiles(filled), tiles(coverage)
    for patch in range(1, NUM_PATCHES + 1):
        known = known_tiles[patch - 1].ravel()
        if known.all() or not known.any():
            continue
        values = colour_tiles[patch - 1].reshape(-1, 3)
        unknown = ~known
        rhs = -(laplacian[unknown][:, known] @ values[known])  # (u, 3): known neighbours move to the right side
        values[unknown] = spsolve(laplacian[unknown][:, unknown].tocsc(), rhs).reshape(-1, 3)
        x0, y0 = tile_origin(patch, tile)
        filled[y0 : y0 + tile, x0 : x0 + tile] = values.reshape(tile, tile, 3)
    return filled


def to_uint8(atlas: np.ndarray) -> np.ndarray:
    """Round a float 0..255 image to uint8."""
    return np.clip(np.round(atlas), 0, 255).astype(np.uint8)


def lookup(atlas: np.ndarray, patch: np.ndarray, u: np.ndarray, v: np.ndarray,
           opacity: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Bilinear colour (n, 3) float and opacity (n,) of n surface points in a (6N, 4N, 3) atlas.

    With an ``opacity`` (6N, 4N) in [0, 1], colours are interpolated premultiplied by it (transparent
    texels do not darken their neighbours); without, every texel is opaque.
    """
    tile = tile_size_of(atlas.shape, "atlas")
    index, weight = bilinear_texels(patch, u, v, tile)
    flat = atlas.reshape(-1, 3).astype(np.float64)
    alpha = np.ones(len(flat)) if opacity is None else opacity.ravel()
    w = weight * alpha[index]  # (n, 4) bilinear weight times texel opacity
    total = w.sum(1)
    colour = np.einsum("nk,nkc->nc", w, flat[index]) / np.maximum(total, np.finfo(float).tiny)[:, None]
    return colour, total


def paint(image: np.ndarray, iuv: np.ndarray, atlas: np.ndarray, mask: np.ndarray | None = None,
          opacity: np.ndarray | None = None, alpha: float = 1.0) -> np.ndarray:  # fmt: skip
    """The image with the atlas painted on its person pixels (``mask``, default every I > 0 pixel).

    Each pixel becomes ``(1 - a) * image + a * texture`` with ``a = alpha * texel opacity``; returns
    (H, W, 3) uint8.
    """
    on = person_pixels(iuv, mask)
    colour, a = lookup(atlas, *surface_coords(iuv, on), opacity)
    a = (alpha * a)[:, None]  # (n, 1)
    out = image.astype(np.float64)
    out[on] = (1.0 - a) * out[on] + a * colour
    return to_uint8(out)


@functools.lru_cache(maxsize=2)
def reference_atlas(tile: int = REFERENCE_TILE) -> np.ndarray:
    """(6N, 4N, 3) uint8: one colour per patch with a dark UV grid, to show the surface parameterisation."""
    hues = (np.arange(NUM_PATCHES) * 7 % NUM_PATCHES) / NUM_PATCHES  # stride 7: neighbouring patches differ
    colours = colormaps["hsv"](hues)[:, :3] * 255  # (24, 3)
    t = np.arange(tile) / (tile - 1)
    line = np.abs(t * REFERENCE_GRID - np.round(t * REFERENCE_GRID)) < 0.5 * REFERENCE_GRID / tile
    grid = line[:, None] | line[None, :]  # (N, N)
    atlas = np.zeros((*atlas_shape(tile), 3))
    for patch in range(1, NUM_PATCHES + 1):
        x0, y0 = tile_origin(patch, tile)
        atlas[y0 : y0 + tile, x0 : x0 + tile] = np.where(grid[..., None], 0.35, 1.0) * colours[patch - 1]
    return to_uint8(atlas)
