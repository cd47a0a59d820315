"""Synthetic DensePose-COCO: images, the exact annotation json and matching eval-data files.

Layout written by ``generate`` (CONTRIBUTING.md, "Synthetic DensePose-COCO")::

    DIR/images/000000.png ...        RGB images with 1-4 persons of the body in ``body.py``
    DIR/annotations.json             DensePose-COCO json
    DIR/eval_data/SMPL_subdiv.mat, SMPL_SUBDIV_TRANSFORM.mat, Pdist_matrix.pkl
    DIR/UV_symmetry_transforms.mat

The formats are described in docs/densepose_format.md ("Annotations", "Evaluation data files",
"Horizontal flip").

Every image is drawn from ``numpy.random.default_rng([seed, image_index])``, so the output is
byte-identical for a seed. See data/README.md for the body model and the appearance.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_utils
import scipy.io
from PIL import Image

from ktn_model.data import surface
from ktn_model.data.meta import COARSE_OF_FINE, DP_FRAME, NUM_COARSE_PARTS, NUM_PATCHES, person_category
from ktn_model.data.scene import Buffers, Person, background, render, sample_crowd, sample_persons, shade_persons
from ktn_utils.atomic import atomic_write

DEFAULT_IMAGE_SIZE = 320
# Sparse-point quota per fine patch: torso and head get more than limbs (at most 192 per person; real
# DensePose-COCO persons have about 100 points on average).
POINT_QUOTA = np.array([0, 24, 24, 4, 4, 4, 4] + [6] * 16 + [16, 16])
MIN_PERSON_AREA = 20  # visible pixels below which a person is not annotated
MIN_DP_AREA = 300  # visible pixels below which a person gets no DensePose annotation
CROWD_PROB = 0.25
MAT_HEADER = b"MATLAB 5.0 MAT-file, written by ktn data synth (synthetic DensePose body)".ljust(116)


def _rle(mask: np.ndarray) -> dict:
    """Compressed COCO RLE of a (H, W) bool mask with ``counts`` as str (json-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Tight integer box (x0, y0, w, h) of a non-empty mask."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max() + 1 - xs.min()), int(ys.max() + 1 - ys.min())


def _keypoints(person: Person, pid: int, buf: Buffers) -> list[int]:
    """51 numbers [x, y, v] x 17 as integer pixel indices: v = 2 visible, 1 occluded, 0 outside."""
    height, width = buf.pid.shape
    pts = person.body.keypoints
    px = np.floor(person.tx + pts[:, 0] * person.scale).astype(int)
    py = np.floor(person.ty - pts[:, 1] * person.scale).astype(int)
    depth = person.depth + pts[:, 2]
    out = []
    for k in range(len(pts)):
        if not (0 <= px[k] < width and 0 <= py[k] < height):
            out += [0, 0, 0]
            continue
        win = (slice(max(py[k] - 1, 0), py[k] + 2), slice(max(px[k] - 1, 0), px[k] + 2))
        mine = buf.pid[win] == pid
        front = depth[k] >= buf.depth[py[k], px[k]] - 0.03 if k < 5 else True  # face points: own head
        out += [int(px[k]), int(py[k]), 2 if mine.any() and front else 1]
    return out


def _interior(labels: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixel and its 8 neighbours carry the same label (image border excluded)."""
    inside = np.zeros(labels.shape, bool)
    centre = labels[1:-1, 1:-1]
    inside[1:-1, 1:-1] = np.logical_and.reduce(
        [labels[1 + dy : labels.shape[0] - 1 + dy, 1 + dx : labels.shape[1] - 1 + dx] == centre
         for dy in (-1, 0, 1) for dx in (-1, 0, 1)]  # fmt: skip
    )
    return inside


def _densepose(rng: np.random.Generator, visible: np.ndarray, buf: Buffers, box) -> dict:
    """dp_x/y/I/U/V (at most POINT_QUOTA[I] pixel centres per patch) and the 14 box-frame dp_masks.

    Points are drawn only where the pixel's 8 neighbours are on the same patch, as an annotator would
    click away from part borders (and the evaluator's 255-scaled placement stays on it).
    """
    x0, y0, w, h = box
    patches = np.where(visible, buf.i, 0)
    interior = _interior(patches)
    picked = []
    for i in range(1, NUM_PATCHES + 1):
        flat = np.flatnonzero((patches == i) & interior)
        picked.append(rng.choice(flat, min(len(flat), POINT_QUOTA[i]), replace=False) if len(flat) else flat)
    ys, xs = np.unravel_index(np.concatenate(picked).astype(np.int64), visible.shape)
    cols = np.floor(x0 + (np.arange(DP_FRAME) + 0.5) * w / DP_FRAME).astype(int)
    rows = np.floor(y0 + (np.arange(DP_FRAME) + 0.5) * h / DP_FRAME).astype(int)
    coarse = np.asarray(COARSE_OF_FINE)[patches[np.ix_(rows, cols)]]
    masks = [_rle(coarse == k) if (coarse == k).any() else [] for k in range(1, NUM_COARSE_PARTS + 1)]
    return {
        "dp_x": [round(float(x), 4) for x in (xs + 0.5 - x0) * DP_FRAME / w],
        "dp_y": [round(float(y), 4) for y in (ys + 0.5 - y0) * DP_FRAME / h],
        "dp_I": [float(i) for i in patches[ys, xs]],
        "dp_U": [round(float(u), 6) for u in buf.u[ys, xs]],
        "dp_V": [round(float(v), 6) for v in buf.v[ys, xs]],
        "dp_masks": masks,
    }


def _region(mask: np.ndarray, iscrowd: int) -> dict:
    box = _bbox(mask)
    return {"category_id": 1, "iscrowd": iscrowd, "area": float(mask.sum()), "bbox": [float(b) for b in box],
            "segmentation": _rle(mask)}  # fmt: skip


def annotate(rng, persons: list[Person], crowd: list[Person], buf: Buffers) -> tuple[list[dict], list[int]]:
    """Annotations (without ids) of the visible persons, then one crowd region if any; and the
    rendered person id of each annotation (-1 for the crowd)."""
    anns, person_ids = [], []
    for pid, person in enumerate(persons):
        visible = buf.pid == pid
        if visible.sum() < MIN_PERSON_AREA:
            continue
        ann = _region(visible, 0)
        ann["keypoints"] = _keypoints(person, pid, buf)
        ann["num_keypoints"] = sum(v > 0 for v in ann["keypoints"][2::3])
        if person.has_dp and ann["area"] >= MIN_DP_AREA:
            ann.update(_densepose(rng, visible, buf, _bbox(visible)))
        anns.append(ann)
        person_ids.append(pid)
    crowd_mask = buf.pid >= len(persons)
    if crowd and crowd_mask.sum() >= MIN_PERSON_AREA:
        anns.append({**_region(crowd_mask, 1), "keypoints": [0] * 51, "num_keypoints": 0})
        person_ids.append(-1)
    return anns, person_ids


def image_shape(rng: np.random.Generator, image_size: int) -> tuple[int, int]:
    """(width, height) with the longer side ``image_size``: landscape, square-ish or portrait."""
    ratio = float(rng.choice([0.75, 1.0, 4 / 3]))
    if ratio <= 1.0:
        return image_size, round(image_size * ratio)
    return round(image_size / ratio), image_size


@dataclass(frozen=True)
class Scene:
    """One synthetic image: ``pixels`` (H, W, 3) uint8, ``annotations`` (no ``id``/``image_id`` yet),
    the render ``buffers`` and, per annotation, the rendered person id (-1 for the crowd region)."""

    pixels: np.ndarray
    annotations: list[dict]
    buffers: Buffers
    person_ids: list[int]

    def iuv(self, k: int) -> np.ndarray:
        """Ground-truth (3, H, W) uint8 [I, U*255, V*255] of annotation ``k`` (zero elsewhere)."""
        buf, on = self.buffers, self.buffers.pid == self.person_ids[k]
        planes = [buf.i, np.floor(buf.u * 255), np.floor(buf.v * 255)]
        return np.stack([np.where(on, p, 0) for p in planes]).astype(np.uint8)


def synth_scene(seed: int, index: int, image_size: int = DEFAULT_IMAGE_SIZE) -> Scene:
    """Draw image ``index`` of the set with ``seed`` (its own generator, see the module docstring)."""
    rng = np.random.default_rng([seed, index])
    width, height = image_shape(rng, image_size)
    persons = sample_persons(rng, width, height)
    crowd = sample_crowd(rng, width, height) if rng.random() < CROWD_PROB else []
    buf = render(persons + crowd, width, height)
    image = shade_persons(background(rng, width, height), buf, persons + crowd)
    image = image + rng.normal(0, 0.02, image.shape)
    pixels = np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
    anns, person_ids = annotate(rng, persons, crowd, buf)
    return Scene(pixels, anns, buf, person_ids)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, then rename)."""
    atomic_write(path, lambda f: f.write(data))


def _mat_bytes(variables: dict) -> bytes:
    """A compressed MATLAB v5 file with a fixed header text (scipy writes the date there)."""
    stream = io.BytesIO()
    scipy.io.savemat(stream, variables, do_compression=True, oned_as="row")
    data = stream.getvalue()
    return MAT_HEADER + data[len(MAT_HEADER):]


def write_eval_data(out_dir: Path, grid: int = surface.DEFAULT_GRID) -> None:
    """``eval_data/{SMPL_subdiv.mat, SMPL_SUBDIV_TRANSFORM.mat, Pdist_matrix.pkl}``."""
    mesh = surface.build_mesh(grid)
    subdiv = {"U_subdiv": mesh.u[None], "V_subdiv": mesh.v[None], "Part_ID_subdiv": mesh.part[None].astype(np.int32),
              "vertex": mesh.vertex.T, "faces": (mesh.faces.T + 1).astype(np.int32)}  # fmt: skip
    _atomic_write(out_dir / "eval_data" / "SMPL_subdiv.mat", _mat_bytes(subdiv))
    transform = {"index": (mesh.index[None] + 1).astype(np.int32)}
    _atomic_write(out_dir / "eval_data" / "SMPL_SUBDIV_TRANSFORM.mat", _mat_bytes(transform))
    pdist = pickle.dumps({"Pdist_matrix": mesh.pdist[:, None]}, protocol=4)
    _atomic_write(out_dir / "eval_data" / "Pdist_matrix.pkl", pdist)


def write_symmetry_tables(path: Path) -> None:
    """``UV_symmetry_transforms.mat``: 1x24 cells of 256x256 ``U_transforms``/``V_transforms``."""
    u_tab, v_tab = surface.uv_symmetry_tables()
    cells = {}
    for key, tables in (("U_transforms", u_tab), ("V_transforms", v_tab)):
        cell = np.empty((1, NUM_PATCHES), dtype=object)
        for p in range(NUM_PATCHES):
            cell[0, p] = tables[p]
        cells[key] = cell
    _atomic_write(path, _mat_bytes(cells))


def _write_image(job: tuple[Path, int, int, int]) -> tuple[dict, list[dict]]:
    """Draw image ``index`` and write its PNG; return its ``images`` entry and its annotations."""
    out_dir, seed, index, image_size = job
    scene = synth_scene(seed, index, image_size)
    name = f"{index:06d}.png"
    stream = io.BytesIO()
    Image.fromarray(scene.pixels).save(stream, format="PNG", compress_level=1)
    _atomic_write(out_dir / "images" / name, stream.getvalue())
    height, width = scene.pixels.shape[:2]
    return {"id": index + 1, "file_name": name, "height": height, "width": width}, scene.annotations


def _draw_all(jobs: list, workers: int) -> list[tuple[dict, list[dict]]]:
    """``_write_image`` over ``jobs`` in order, in ``workers`` spawned processes when more than one."""
    if workers <= 1:
        return [_write_image(job) for job in jobs]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return pool.map(_write_image, jobs, chunksize=max(1, len(jobs) // (4 * workers)))


def generate(out_dir: str | Path, num_images: int, seed: int, image_size: int = DEFAULT_IMAGE_SIZE,
             workers: int | None = None) -> Path:  # fmt: skip
    """Write a synthetic DensePose-COCO set of ``num_images`` images to ``out_dir``; return the json path.

    ``workers`` processes draw the images (default: one per 500 images, at most one per CPU); the
    files do not depend on it.
    """
    if num_images < 1:
        raise ValueError(f"--images must be at least 1, got {num_images}")
    if image_size < 64:
        raise ValueError(f"--size must be at least 64 pixels, got {image_size}")
    if workers is None:
        workers = min(os.cpu_count() or 1, 1 + num_images // 500)
    out_dir = Path(out_dir)
    drawn = _draw_all([(out_dir, seed, index, image_size) for index in range(num_images)], workers)
    images, annotations = [], []
    for image, anns in drawn:
        images.append(image)
        for ann in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"], **ann})
    dataset = {"info": {"description": "synthetic DensePose-COCO (ktn data synth)", "seed": seed},
               "images": images, "annotations": annotations, "categories": [person_category()]}  # fmt: skip
    json_path = out_dir / "annotations.json"
    _atomic_write(json_path, json.dumps(dataset, separators=(",", ":")).encode())
    write_eval_data(out_dir)
    write_symmetry_tables(out_dir / "UV_symmetry_transforms.mat")
    return json_path
