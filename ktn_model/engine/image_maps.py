"""The image-sized maps ``ktn infer`` writes per image, for every kind of model (docs/densepose_format.md; confidences:
docs/confidence.md, "Results and `ktn infer`"; CSE: docs/cse.md, "`ktn infer` outputs"), and its results.json records.

Chart models: ``NAME_IUV.png`` and ``NAME_INDS.png``; with confidences also ``NAME_conf.npz``. CSE models:
``NAME_INDS.png`` and ``NAME_vertices.png`` (16-bit, vertex + 1). Every map gives a pixel the value of the detection
that owns it in INDS (``paste.owners``).
"""

from __future__ import annotations

import base64
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ktn_model.engine.paste import owners, paste_owned
from ktn_model.evaluation.results import to_coco_results
from ktn_model.modeling.structures import CONFIDENCE_FIELDS, DensePoseEmbeddingOutput
from ktn_utils.atomic import atomic_write

NPZ_DATE = (1980, 1, 1, 0, 0, 0)  # a fixed member time: the same maps give the same bytes
UV_EPSILON = 0.01  # UV_CONFIDENCE.EPSILON of every detectron2 confidence model


def model_output_type(model) -> type:
    """The output type of a PyTorch model's predictor, or of an exported graph (its ``output_type``)."""
    exported = getattr(model, "output_type", None)
    return exported if exported is not None else model.roi_heads.densepose_predictor.output_type


def is_cse(output_type: type) -> bool:
    return issubclass(output_type, DensePoseEmbeddingOutput)


def confidence_names(output_type: type) -> list[str]:
    """The confidence fields of an output type (docs/confidence.md), in ``CONFIDENCE_FIELDS`` order."""
    return [name for name in CONFIDENCE_FIELDS if name in output_type.field_names()]


def uv_uncertainty(confidences: dict[str, np.ndarray]) -> np.ndarray:
    """(H, W) U/V standard deviation along the most uncertain direction: sqrt(σ² + |r|²), σ² = softplus(sigma_2) +
    ``UV_EPSILON``, r = (kappa_u, kappa_v) (0 for "iid_iso") (docs/confidence.md, "Losses")."""
    sigma_2 = confidences["sigma_2"].astype(np.float64)
    var = np.logaddexp(0, sigma_2) + UV_EPSILON
    var += confidences.get("kappa_u", 0) ** 2 + confidences.get("kappa_v", 0) ** 2
    return np.sqrt(var).astype(np.float32)


@dataclass
class ImageMaps:
    """One image's maps: ``inds`` (H, W) owner index; ``iuv`` (H, W, 3) uint8 (zeros for a CSE model); ``confidences``
    name -> (H, W) float32; ``vertices`` (H, W) uint16 vertex + 1 (CSE only) of mesh ``mesh``."""

    inds: np.ndarray
    iuv: np.ndarray
    confidences: dict[str, np.ndarray] = field(default_factory=dict)
    vertices: np.ndarray | None = None
    mesh: str | None = None


def paste_iuv(output: dict, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-image (H, W, 3) uint8 IUV and (H, W) instance indices (uint8; uint16 past 255 detections) of a chart model.

    Detection k (0-based) owns its box's foreground pixels (I > 0) unless a detection with a higher score
    also covers them; its index value is k + 1. Boxes are placed at (int(x1), int(y1)) (``paste.owners``).
    """
    inds = owners(output, height, width)
    return paste_owned(output, inds, lambda r: r.iuv().transpose(1, 2, 0), np.uint8, (3,)), inds


def image_maps(output: dict, height: int, width: int, output_type: type) -> ImageMaps:
    """Paste one image's post-processed detections (``output``) into (H, W) maps."""
    if is_cse(output_type):
        inds = owners(output, height, width)
        vertices = paste_owned(output, inds, lambda r: r.vertex_png(), np.uint16)
        mesh = output["densepose"][0].mesh if output["densepose"] else None
        return ImageMaps(inds, np.zeros((height, width, 3), np.uint8), vertices=vertices, mesh=mesh)
    iuv, inds = paste_iuv(output, height, width)
    confidences = {name: paste_owned(output, inds, lambda r, n=name: r.confidences[n].numpy(), np.float32)
                   for name in confidence_names(output_type)}
    return ImageMaps(inds, iuv, confidences)


def save_png(path: Path, pixels: np.ndarray) -> None:
    """Write an (H, W) uint8 / uint16 or (H, W, 3) uint8 array as PNG, atomically (creating its folder)."""
    atomic_write(path, lambda f: Image.fromarray(pixels).save(f, format="PNG"))


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``numpy.load``-able compressed .npz, atomically, byte-identical for the same arrays."""

    def write(f) -> None:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=NPZ_DATE)
                archive.writestr(info, buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED)

    atomic_write(path, write)


def write_maps(out_dir: Path, stem: str, maps: ImageMaps, output_type: type) -> None:
    """``stem``_INDS.png and, by model kind, _IUV.png, _conf.npz or _vertices.png under ``out_dir``."""
    save_png(out_dir / f"{stem}_INDS.png", maps.inds)
    if is_cse(output_type):
        save_png(out_dir / f"{stem}_vertices.png", maps.vertices)
        return
    save_png(out_dir / f"{stem}_IUV.png", maps.iuv)
    if maps.confidences:
        save_npz(out_dir / f"{stem}_conf.npz", maps.confidences)


def encode_png16(values: np.ndarray) -> str:
    """(H, W) uint16 -> base64 (MIME, 76-character lines) of a 16-bit grey PNG."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(values, np.uint16)).save(buffer, format="PNG")
    return base64.encodebytes(buffer.getvalue()).decode("ascii")


def decode_png16(data: str) -> np.ndarray:
    """The inverse of ``encode_png16``: (H, W) uint16."""
    with Image.open(io.BytesIO(base64.decodebytes(data.encode("ascii"))), formats=("PNG",)) as image:
        return np.asarray(image, np.uint16)


def result_records(image_id: int, output: dict, output_type: type) -> list[dict]:
    """One image's detections as results.json records: the official chart encoding (``densepose``), or for a CSE
    model ``densepose_cse`` = {"mesh": NAME, "vertices": [h, w, base64 16-bit PNG of vertex + 1]}."""
    if not is_cse(output_type):
        return to_coco_results(image_id, {**output, "densepose": [r.iuv() for r in output["densepose"]]})
    records = to_coco_results(image_id, {k: v for k, v in output.items() if k != "densepose"})
    for record, result in zip(records, output["densepose"], strict=True):
        png = result.vertex_png()
        record["densepose_cse"] = {"mesh": result.mesh, "vertices": [*png.shape, encode_png16(png)]}
    return records
