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

``LabelRegime`` (default: off, the files above unchanged) shapes the labels as DensePose-COCO's are shaped:
a long-tailed point count per patch, noisy points (a wrong patch, jittered U/V) at set rates, and a share of
images where a second person stands inside a person's box. Its draws come from streams of their own
(``[seed, image_index, 1]`` for the noise, ``[seed, image_index, 2]`` for the overlap), so switching one on
leaves the draws of the plain image as they were; the rates actually drawn are measured and written to the
json's ``info.label_regime`` (data/README.md, "Label regime").
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_utils
import scipy.io
from PIL import Image

from ktn_model.data import surface
from ktn_model.data.meta import COARSE_OF_FINE, DP_FRAME, NUM_COARSE_PARTS, NUM_PATCHES, person_category
from ktn_model.data.scene import (
    Buffers,
    Person,
    background,
    place_inside,
    render,
    sample_crowd,
    sample_persons,
    shade_persons,
)
from ktn_utils.atomic import atomic_write

DEFAULT_IMAGE_SIZE = 320
# Sparse-point quota per fine patch: torso and head get more than limbs (at most 192 per person; real
# DensePose-COCO persons have about 100 points on average).
POINT_QUOTA = np.array([0, 24, 24, 4, 4, 4, 4] + [6] * 16 + [16, 16])
MIN_PERSON_AREA = 20  # visible pixels below which a person is not annotated
MIN_DP_AREA = 300  # visible pixels below which a person gets no DensePose annotation
CROWD_PROB = 0.25
MAT_HEADER = b"MATLAB 5.0 MAT-file, written by ktn data synth (synthetic DensePose body)".ljust(116)
# A long-tailed quota shaped like DensePose-COCO's point counts (torso and thighs common, hands and feet rare; the
# real per-patch counts are not in this repository): max / min = 40.
LONG_TAIL_QUOTA = (0, 40, 40, 1, 1, 1, 1, 16, 16, 16, 16, 8, 8, 8, 8, 6, 6, 6, 6, 3, 3, 3, 3, 10, 10)
OVERLAP_MIN_SHARE = 0.2  # a person "overlaps" when its box holds this share of another annotated person's pixels


@dataclass(frozen=True)
class LabelRegime:
    """How the labels are drawn; every default is the plain set.

    ``point_quota``: points per fine patch (25 entries, entry 0 unused; None = ``POINT_QUOTA``), e.g.
    ``LONG_TAIL_QUOTA``. ``wrong_patch_rate``: share of points whose I is replaced by another patch (uniform over
    the other 23). ``uv_noise_rate`` / ``uv_noise_std``: share of points whose U and V get Gaussian noise of that
    std (clipped to [0, 1]). ``overlap_share``: share of images with one more person standing inside the box of
    the largest one (0.7-1.0 of its height, just in front of or behind it).
    """

    point_quota: tuple[int, ...] | None = None
    wrong_patch_rate: float = 0.0
    uv_noise_rate: float = 0.0
    uv_noise_std: float = 0.0
    overlap_share: float = 0.0

    def __post_init__(self):
        if self.point_quota is not None and len(self.point_quota) != NUM_PATCHES + 1:
            raise ValueError(f"point_quota needs {NUM_PATCHES + 1} entries (entry 0 unused), got "
                             f"{len(self.point_quota)}")
        for name in ("wrong_patch_rate", "uv_noise_rate", "overlap_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    @property
    def plain(self) -> bool:
        return self == LabelRegime()

    def quota(self) -> np.ndarray:
        return POINT_QUOTA if self.point_quota is None else np.asarray(self.point_quota)


PLAIN = LabelRegime()


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


def _densepose(rng: np.random.Generator, visible: np.ndarray, buf: Buffers, box,
               quota: np.ndarray = POINT_QUOTA) -> dict:  # fmt: skip
    """dp_x/y/I/U/V (at most ``quota[I]`` pixel centres per patch) and the 14 box-frame dp_masks.

    Points are drawn only where the pixel's 8 neighbours are on the same patch, as an annotator would
    click away from part borders (and the evaluator's 255-scaled placement stays on it).
    """
    x0, y0, w, h = box
    patches = np.where(visible, buf.i, 0)
    interior = _interior(patches)
    picked = []
    for i in range(1, NUM_PATCHES + 1):
        flat = np.flatnonzero((patches == i) & interior)
        picked.append(rng.choice(flat, min(len(flat), quota[i]), replace=False) if len(flat) else flat)
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


def annotate(rng, persons: list[Person], crowd: list[Person], buf: Buffers,
             quota: np.ndarray = POINT_QUOTA) -> tuple[list[dict], list[int]]:  # fmt: skip
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
            ann.update(_densepose(rng, visible, buf, _bbox(visible), quota))
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
    measured: dict = field(default_factory=dict)  # what a non-plain ``LabelRegime`` drew (``regime_counts``)

    def iuv(self, k: int) -> np.ndarray:
        """Ground-truth (3, H, W) uint8 [I, U*255, V*255] of annotation ``k`` (zero elsewhere)."""
        buf, on = self.buffers, self.buffers.pid == self.person_ids[k]
        planes = [buf.i, np.floor(buf.u * 255), np.floor(buf.v * 255)]
        return np.stack([np.where(on, p, 0) for p in planes]).astype(np.uint8)


def synth_scene(seed: int, index: int, image_size: int = DEFAULT_IMAGE_SIZE, regime: LabelRegime = PLAIN) -> Scene:
    """Draw image ``index`` of the set with ``seed`` (its own generator, see the module docstring)."""
    rng = np.random.default_rng([seed, index])
    width, height = image_shape(rng, image_size)
    persons = sample_persons(rng, width, height)
    added = False
    if regime.overlap_share:
        placing = np.random.default_rng([seed, index, 2])
        added = bool(placing.random() < regime.overlap_share) and bool(persons)
        persons = persons + [place_inside(placing, persons[-1], width, height)] if added else persons
    crowd = sample_crowd(rng, width, height) if rng.random() < CROWD_PROB else []
    buf = render(persons + crowd, width, height)
    image = shade_persons(background(rng, width, height), buf, persons + crowd)
    image = image + rng.normal(0, 0.02, image.shape)
    pixels = np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
    anns, person_ids = annotate(rng, persons, crowd, buf, regime.quota())
    if regime.plain:
        return Scene(pixels, anns, buf, person_ids)
    noise = add_label_noise(np.random.default_rng([seed, index, 1]), anns, regime)
    return Scene(pixels, anns, buf, person_ids, {**noise, **overlap_counts(anns, person_ids, buf), "added": added})


def add_label_noise(rng: np.random.Generator, anns: list[dict], regime: LabelRegime) -> dict:
    """Replace the patch of a ``wrong_patch_rate`` share of the points and jitter U, V of a ``uv_noise_rate``
    share, in place; the counts (points, wrong patches, jittered points, summed |dU| + |dV|). The same number of
    draws per point whatever the rates."""
    counts = {"points": 0, "wrong_patch": 0, "jittered": 0, "uv_abs_change": 0.0}
    for ann in anns:
        if "dp_I" not in ann:
            continue
        n = len(ann["dp_I"])
        wrong = rng.random(n) < regime.wrong_patch_rate
        shift = rng.integers(1, NUM_PATCHES, n)  # another patch: I + shift modulo the 24 patches
        jitter = rng.random(n) < regime.uv_noise_rate
        noise = rng.normal(0.0, 1.0, (2, n)) * regime.uv_noise_std * jitter
        old_i, old_uv = np.asarray(ann["dp_I"]), np.asarray([ann["dp_U"], ann["dp_V"]])
        new_i = np.where(wrong, (old_i - 1 + shift) % NUM_PATCHES + 1, old_i)
        new_uv = np.round(np.clip(old_uv + noise, 0.0, 1.0), 6)
        ann["dp_I"] = [float(i) for i in new_i]
        ann["dp_U"], ann["dp_V"] = ([float(x) for x in row] for row in new_uv)
        counts["points"] += n
        counts["wrong_patch"] += int(wrong.sum())
        counts["jittered"] += int(jitter.sum())
        counts["uv_abs_change"] += float(np.abs(new_uv - old_uv).sum())
    return counts


def overlap_counts(anns: list[dict], person_ids: list[int], buf: Buffers) -> dict:
    """DensePose persons, and those whose box holds at least ``OVERLAP_MIN_SHARE`` of another annotated person's
    visible pixels; points per patch."""
    dense = overlapping = 0
    patches = np.zeros(NUM_PATCHES + 1, np.int64)
    others = [pid for ann, pid in zip(anns, person_ids, strict=True) if not ann["iscrowd"]]
    for ann, pid in zip(anns, person_ids, strict=True):
        if "dp_I" not in ann:
            continue
        dense += 1
        patches += np.bincount(np.asarray(ann["dp_I"], np.int64), minlength=NUM_PATCHES + 1)
        x, y, w, h = (int(v) for v in ann["bbox"])
        inside = buf.pid[y : y + h, x : x + w]
        shares = [np.count_nonzero(inside == o) / np.count_nonzero(buf.pid == o) for o in others if o != pid]
        overlapping += int(any(share >= OVERLAP_MIN_SHARE for share in shares))
    return {"dense_persons": dense, "overlapping_persons": overlapping, "patch_points": patches.tolist()}


def measured_regime(per_image: list[dict]) -> dict:
    """The rates a regime actually drew over the set (``info.label_regime.measured``)."""
    total = {k: sum(m[k] for m in per_image) for k in ("points", "wrong_patch", "jittered", "uv_abs_change",
                                                        "dense_persons", "overlapping_persons", "added")}
    patches = np.sum([m["patch_points"] for m in per_image], axis=0)[1:]
    points = max(total["points"], 1)
    return {"points": total["points"], "wrong_patch_rate": round(total["wrong_patch"] / points, 4),
            "uv_jitter_rate": round(total["jittered"] / points, 4),
            "uv_mean_abs_change": round(total["uv_abs_change"] / (2 * max(total["jittered"], 1)), 4),
            "images_with_added_person": round(total["added"] / max(len(per_image), 1), 4),
            "overlapping_person_share": round(total["overlapping_persons"] / max(total["dense_persons"], 1), 4),
            "patch_share_min_max": [round(float(patches.min() / patches.sum()), 4),
                                    round(float(patches.max() / patches.sum()), 4)] if patches.sum() else [0, 0],
            "patch_points": patches.tolist()}


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


def _write_image(job: tuple[Path, int, int, int, LabelRegime]) -> tuple[dict, list[dict], dict]:
    """Draw image ``index`` and write its PNG; return its ``images`` entry, its annotations and what its label
    regime measured."""
    out_dir, seed, index, image_size, regime = job
    scene = synth_scene(seed, index, image_size, regime)
    name = f"{index:06d}.png"
    stream = io.BytesIO()
    Image.fromarray(scene.pixels).save(stream, format="PNG", compress_level=1)
    _atomic_write(out_dir / "images" / name, stream.getvalue())
    height, width = scene.pixels.shape[:2]
    return {"id": index + 1, "file_name": name, "height": height, "width": width}, scene.annotations, scene.measured


def _draw_all(jobs: list, workers: int) -> list[tuple[dict, list[dict], dict]]:
    """``_write_image`` over ``jobs`` in order, in ``workers`` spawned processes when more than one."""
    if workers <= 1:
        return [_write_image(job) for job in jobs]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return pool.map(_write_image, jobs, chunksize=max(1, len(jobs) // (4 * workers)))


def generate(out_dir: str | Path, num_images: int, seed: int, image_size: int = DEFAULT_IMAGE_SIZE,
             workers: int | None = None, regime: LabelRegime = PLAIN) -> Path:  # fmt: skip
    """Write a synthetic DensePose-COCO set of ``num_images`` images to ``out_dir``; return the json path.

    ``workers`` processes draw the images (default: one per 500 images, at most one per CPU); the
    files do not depend on it. A non-plain ``regime`` adds ``info.label_regime``: its options and what was drawn.
    """
    if num_images < 1:
        raise ValueError(f"--images must be at least 1, got {num_images}")
    if image_size < 64:
        raise ValueError(f"--size must be at least 64 pixels, got {image_size}")
    if workers is None:
        workers = min(os.cpu_count() or 1, 1 + num_images // 500)
    out_dir = Path(out_dir)
    drawn = _draw_all([(out_dir, seed, index, image_size, regime) for index in range(num_images)], workers)
    images, annotations = [], []
    for image, anns, _ in drawn:
        images.append(image)
        for ann in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"], **ann})
    info = {"description": "synthetic DensePose-COCO (ktn data synth)", "seed": seed}
    if not regime.plain:
        info["label_regime"] = {**asdict(regime), "measured": measured_regime([m for _, _, m in drawn])}
    dataset = {"info": info, "images": images, "annotations": annotations, "categories": [person_category()]}
    json_path = out_dir / "annotations.json"
    _atomic_write(json_path, json.dumps(dataset, separators=(",", ":")).encode())
    write_eval_data(out_dir)
    write_symmetry_tables(out_dir / "UV_symmetry_transforms.mat")
    return json_path
