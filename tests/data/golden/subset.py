"""Write the small subset of a golden fixture that the tests use (see README.md here).

    python tests/data/golden/subset.py FIXTURE_DIR OUT_DIR [ARRAY ...]

FIXTURE_DIR holds ``manifest.json``, ``expected_<image>.npz`` (and, for the KTN release, the three CRKG
pickles); OUT_DIR gets the manifest, the pickles and ``expected_<image>.npz`` with the full-size raw maps
replaced by ``SAMPLES`` sampled positions (``<key>_pos`` / ``<key>_val``). Naming ARRAYs (e.g. ``p1``
``input_resized_bgr``) keeps only those arrays (``p1`` stands for ``p1_pos`` and ``p1_val``).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np

SAMPLES = 4096
SAMPLED = ("dp_coarse_segm", "dp_fine_segm", "dp_u", "dp_v", "raw_coarse_segm_M", "raw_fine_segm_I", "raw_u", "raw_v",
           "raw_parts_S", "raw_keypoint_K", "W_s", "dp_pooled_top1", "dp_head_top1", "dp_sigma_2", "dp_kappa_u",
           "dp_kappa_v", "dp_fine_segm_confidence", "dp_coarse_segm_confidence", "dp_embedding",
           "mesh_vertex_embeddings")
DROPPED = ("input_resized_bgr",)


def subset(npz: Path, keep: list[str] | None = None) -> dict[str, np.ndarray]:
    g = np.load(npz)
    out: dict[str, np.ndarray] = {}
    for key in g.files:
        if keep and key.removesuffix("_pos").removesuffix("_val") not in keep:
            continue
        value = g[key]
        if key in DROPPED:
            out[f"{key}_sha256"] = np.array(hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest())
        elif key in SAMPLED:
            rng = np.random.default_rng(0)
            pos = np.stack([rng.integers(0, n, SAMPLES) for n in value.shape], 1).astype(np.int32)
            out[f"{key}_pos"], out[f"{key}_val"] = pos, value[tuple(pos.T)]
        else:
            out[key] = value
    return out


def main(src: Path, dst: Path, keep: list[str] | None = None) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for path in [src / "manifest.json", *sorted(src.glob("*_crkg.pkl"))]:
        shutil.copy(path, dst / path.name)
    for npz in sorted(src.glob("expected_*.npz")):
        np.savez_compressed(dst / npz.name, **subset(npz, keep))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:])
