"""Pixels/s of the vectorised (I, U, V) -> (face, barycentrics) look-up behind ``ktn smpl correspond``.

    .venv/bin/python benchmarks/smpl_correspond.py [--pixels 1000000] [--uv-data UV_Processed.mat] [--seed 0]

Without ``--uv-data`` the mesh is a generated stand-in of the release's size (24 x 326 = 7824 UV
vertices, about 15k faces; ``ktn_model.surface.standin``). Query pixels are random patches with U and V
on the 1/255 grid of IUV PNGs. Prints the index build time and the look-up rate (best of 3).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ktn_model.surface.correspond import SurfaceLocator
from ktn_model.surface.iuv import UV_SCALE
from ktn_model.surface.standin import random_uv_mesh
from ktn_model.surface.uv_mesh import load_uv_data

RELEASE_VERTICES_PER_PATCH = 326  # 7829 UV vertices / 24 patches in UV_Processed.mat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pixels", type=int, default=1_000_000)
    parser.add_argument("--uv-data", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    mesh = load_uv_data(args.uv_data) if args.uv_data else random_uv_mesh(args.seed, RELEASE_VERTICES_PER_PATCH)
    start = time.perf_counter()
    locator = SurfaceLocator(mesh)
    build = time.perf_counter() - start
    rng = np.random.default_rng(args.seed)
    patch = rng.integers(1, 25, args.pixels)
    u, v = (rng.integers(0, 256, args.pixels) / UV_SCALE for _ in range(2))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        corr = locator.locate(patch, u, v)
        times.append(time.perf_counter() - start)
    print(f"mesh: {len(mesh.faces)} faces, {len(mesh.u)} UV vertices ({args.uv_data or 'stand-in'})")
    print(f"index build: {build * 1000:.0f} ms; {corr.inside.mean():.1%} of pixels inside a face")
    print(f"look-up: {args.pixels} pixels in {min(times):.2f} s = {args.pixels / min(times):,.0f} pixels/s")


if __name__ == "__main__":
    main()
