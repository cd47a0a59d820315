"""Pixels/s of the vectorised (I, U, V) -> (face, barycentrics) look-up behind ``ktn smpl correspond``.

    .venv/bin/python benchmarks/smpl_correspond.py [--pixels 1000000] [--uv-data UV_Processed.mat] [--seed 0]

Without ``--uv-data`` the mesh is a generated stand-in of the release's size (24 x 326 = 7824 UV
vertices, about 15k faces; ``ktn_model.surface.standin``). Query pixels are random patches with U and V
on the 1/255 grid of IUV PNGs. Prints the index build time and the look-up rate (best of 3).
"""

from __future__ import annotations

import time

import numpy as np
import typer

from ktn_model.surface.correspond import SurfaceLocator
from ktn_model.surface.iuv_image import UV_SCALE
from ktn_model.surface.standin import random_uv_mesh
from ktn_model.surface.uv_mesh import load_uv_data

RELEASE_VERTICES_PER_PATCH = 326  # 7829 UV vertices / 24 patches in UV_Processed.mat


def main(pixels: int = typer.Option(1_000_000, help="Pixels to look up."),
         uv_data: str | None = typer.Option(None, help="The real UV_Processed.mat (default: a stand-in mesh)."),
         seed: int = typer.Option(0, help="Seed of the stand-in mesh and the pixels.")) -> None:
    """Pixels/s of the vectorised (I, U, V) -> SMPL face + barycentric look-up."""
    mesh = load_uv_data(uv_data) if uv_data else random_uv_mesh(seed, RELEASE_VERTICES_PER_PATCH)
    start = time.perf_counter()
    locator = SurfaceLocator(mesh)
    build = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    patch = rng.integers(1, 25, pixels)
    u, v = (rng.integers(0, 256, pixels) / UV_SCALE for _ in range(2))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        corr = locator.locate(patch, u, v)
        times.append(time.perf_counter() - start)
    print(f"mesh: {len(mesh.faces)} faces, {len(mesh.u)} UV vertices ({uv_data or 'stand-in'})")
    print(f"index build: {build * 1000:.0f} ms; {corr.inside.mean():.1%} of pixels inside a face")
    print(f"look-up: {pixels} pixels in {min(times):.2f} s = {pixels / min(times):,.0f} pixels/s")


if __name__ == "__main__":
    typer.run(main)
