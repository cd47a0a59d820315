"""The DensePose texture atlas: 24 square tiles of ``tile`` texels, one per surface patch.

Layout (DensePose's ``texture_from_SURREAL.png``, detectron2's ``dp_iuv_texture``; docs/texture_and_smpl.md):
the atlas is ``4 * tile`` wide and ``6 * tile`` tall; patch p (1..24) is the tile in column (p-1) // 6 and
row (p-1) % 6. Inside a tile, (U, V) lies at texel x = U * (tile-1), y = (1-V) * (tile-1), texel centres
at integer coordinates, so U = 0 and U = 1 are the centres of the first and last texel columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ktn_model.data.meta import NUM_PATCHES

ATLAS_COLUMNS = 4
ATLAS_ROWS = 6
DEFAULT_TILE = 200
TEXEL_DECIMALS = 9  # texel coordinates are rounded so that a point at a texel centre is exactly on it


def coverage_path_of(atlas: str | Path) -> Path:
    """Where the coverage mask of an atlas file goes: ``atlas.png`` -> ``atlas_coverage.png``."""
    atlas = Path(atlas)
    return atlas.with_name(f"{atlas.stem}_coverage.png")


def atlas_shape(tile: int) -> tuple[int, int]:
    """(height, width) in texels of the atlas with ``tile``-texel tiles."""
    return ATLAS_ROWS * tile, ATLAS_COLUMNS * tile


def tile_origin(patch: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Atlas (x0, y0) of the top-left texel of each patch's tile; ``patch`` 1..24."""
    p = np.asarray(patch) - 1
    return (p // ATLAS_ROWS) * tile, (p % ATLAS_ROWS) * tile


def _local(u: np.ndarray, v: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Tile-local continuous (x, y) in [0, tile - 1] of (U, V), clipped to [0, 1]."""
    u, v = np.clip(np.asarray(u, np.float64), 0.0, 1.0), np.clip(np.asarray(v, np.float64), 0.0, 1.0)
    return np.round(u * (tile - 1), TEXEL_DECIMALS), np.round((1.0 - v) * (tile - 1), TEXEL_DECIMALS)


def uv_to_texel(patch: np.ndarray, u: np.ndarray, v: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Continuous atlas (x, y) of surface points (patch 1..24, U and V in [0, 1], any equal shapes)."""
    x0, y0 = tile_origin(patch, tile)
    lx, ly = _local(u, v, tile)
    return x0 + lx, y0 + ly


def texel_to_uv(x: np.ndarray, y: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(patch, U, V) at the centre of integer atlas texels (x, y): the inverse of ``uv_to_texel``."""
    x, y = np.asarray(x), np.asarray(y)
    patch = (x // tile) * ATLAS_ROWS + y // tile + 1
    return patch, (x % tile) / (tile - 1), 1.0 - (y % tile) / (tile - 1)


def bilinear_texels(patch: np.ndarray, u: np.ndarray, v: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """The 4 texels around each of n surface points, all inside the point's own tile, and their weights.

    Returns flat atlas indices (n, 4) (row-major over ``atlas_shape(tile)``) and bilinear weights
    (n, 4) summing to 1. A point on a tile's last column or row takes weight 1 from it, 0 from the
    column or row before it, so no weight ever crosses into a neighbouring tile.
    """
    lx, ly = _local(u, v, tile)
    ix = np.minimum(np.floor(lx), tile - 2).astype(np.int64)
    iy = np.minimum(np.floor(ly), tile - 2).astype(np.int64)
    fx, fy = lx - ix, ly - iy
    x0, y0 = tile_origin(patch, tile)
    width = ATLAS_COLUMNS * tile
    top = (y0 + iy) * width + x0 + ix  # (n,) flat index of the top-left texel
    index = np.stack([top, top + 1, top + width, top + width + 1], axis=1)  # (n, 4)
    weight = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], axis=1)  # (n, 4)
    return index, weight


def tile_size_of(shape: tuple[int, ...], source: str | Path) -> int:
    """The tile size of an atlas of array ``shape`` (H, W, ...); a ValueError naming ``source`` otherwise."""
    height, width = shape[:2]
    tile = width // ATLAS_COLUMNS
    if tile < 2 or atlas_shape(tile) != (height, width):
        raise ValueError(
            f"{source}: a texture atlas is {ATLAS_COLUMNS}N x {ATLAS_ROWS}N pixels (width x height, N >= 2), "
            f"got {width} x {height}"
        )
    return tile


def tiles(atlas: np.ndarray) -> np.ndarray:
    """(24, N, N, ...) copy of the tiles of a (6N, 4N, ...) atlas, in patch order."""
    tile = atlas.shape[1] // ATLAS_COLUMNS
    return np.stack([atlas[y : y + tile, x : x + tile]
                     for x, y in zip(*tile_origin(np.arange(1, NUM_PATCHES + 1), tile), strict=True)])  # fmt: skip


def load_atlas(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(6N, 4N, 3) uint8 RGB atlas and, for an RGBA file, its (6N, 4N) alpha in [0, 1] (else None)."""
    try:
        with Image.open(path) as image:
            pixels = np.array(image.convert("RGBA" if "A" in image.getbands() else "RGB"))
    except OSError as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None
    tile_size_of(pixels.shape, path)
    alpha = pixels[..., 3] / 255.0 if pixels.shape[2] == 4 else None
    return pixels[..., :3], alpha


def load_coverage(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) opacity in [0, 1] from a grey coverage PNG (``ktn texture extract``) of the atlas ``shape``."""
    try:
        with Image.open(path) as image:
            mask = np.array(image.convert("L"))
    except OSError as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None
    if mask.shape != shape:
        raise ValueError(f"{path}: coverage is {mask.shape[1]} x {mask.shape[0]}, the atlas {shape[1]} x {shape[0]}")
    return mask / 255.0
