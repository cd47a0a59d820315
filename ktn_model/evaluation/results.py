"""DensePose detections in the official result form (docs/densepose_format.md, "Official result dicts").

One detection is ``{"image_id", "category_id": 1, "bbox": [x, y, w, h], "score",
"densepose": [[[3, h', w'], base64_png], [x, y, w, h]], "keypoints": [51 floats]}`` where the PNG
holds the (h', w', 3) array [I, U·255, V·255] with h' = max(int(h), 1), w' = max(int(w), 1).
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ktn_model.data.iuv import iuv_size
from ktn_model.data.meta import KEYPOINT_OFFSET

PERSON_CATEGORY = 1


def encode_iuv(iuv: np.ndarray) -> str:
    """(3, H, W) uint8 [I, U·255, V·255] → base64 (MIME, 76-character lines) of an RGB PNG."""
    iuv = np.asarray(iuv)
    if iuv.ndim != 3 or iuv.shape[0] != 3 or iuv.dtype != np.uint8:
        raise ValueError(f"an IUV array must be uint8 of shape (3, H, W), got {iuv.dtype} {iuv.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.moveaxis(iuv, 0, -1))).save(buffer, format="PNG", optimize=True)
    return base64.encodebytes(buffer.getvalue()).decode("ascii")


def decode_iuv(data: str) -> np.ndarray:
    """The inverse of :func:`encode_iuv`: base64 PNG → (3, H, W) uint8; ValueError when malformed."""
    try:
        raw = base64.decodebytes(data.encode("ascii"))
        with Image.open(io.BytesIO(raw), formats=("PNG",)) as image:
            if image.mode != "RGB":
                raise ValueError(f"expected an RGB PNG, got mode {image.mode}")
            pixels = np.asarray(image)
    except (binascii.Error, UnicodeEncodeError, AttributeError) as e:
        raise ValueError(f"not valid base64 ({e})") from None
    except UnidentifiedImageError:
        raise ValueError("not a readable PNG (unknown image data)") from None
    except (OSError, Image.DecompressionBombError) as e:
        raise ValueError(f"not a readable PNG ({e})") from None
    return np.ascontiguousarray(np.moveaxis(pixels, -1, 0))


def _numpy(value: Any) -> np.ndarray:
    """A tensor (any device) or array-like as a numpy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _keypoint_indices(keypoints: np.ndarray) -> np.ndarray:
    """(D, 17, 3) predicted [x, y, score] -> the same with x, y as annotation pixel indices.

    Training adds ``KEYPOINT_OFFSET`` to the annotated indices; it is subtracted here, as detectron2's COCO
    evaluator does.
    """
    out = np.array(keypoints, dtype=np.float64)
    out[..., :2] -= KEYPOINT_OFFSET
    return out


def to_coco_results(image_id: int, output: dict) -> list[dict]:
    """The model's eval output for one image → official result dicts, in model order.

    ``output``: ``boxes`` (D, 4) XYXY, ``scores`` (D,), optional ``densepose`` (list of D uint8
    (3, H_d, W_d)) and ``keypoints`` (D, 17, 3) [x, y, score] (x, y written minus 0.5, see
    ``_keypoint_indices``). The box width and height are computed in the boxes' own dtype, as the model
    did when it sized the IUV arrays.
    """
    boxes = _numpy(output["boxes"]).reshape(-1, 4)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1).tolist()
    scores = _numpy(output["scores"]).reshape(-1).tolist()
    keypoints = None
    if "keypoints" in output:
        keypoints = [k.ravel().tolist() for k in _keypoint_indices(_numpy(output["keypoints"]))]
    densepose = output.get("densepose")
    results = []
    for i, (bbox, score) in enumerate(zip(xywh, scores, strict=True)):
        det = {"image_id": int(image_id), "category_id": PERSON_CATEGORY, "bbox": bbox, "score": float(score)}
        if densepose is not None:
            iuv = _numpy(densepose[i])
            if iuv.shape != (3, *iuv_size(bbox[2], bbox[3])):
                raise ValueError(
                    f"detection {i} (image id {image_id}): IUV shape {iuv.shape} does not fit box "
                    f"{bbox} (expected (3, {', '.join(map(str, iuv_size(bbox[2], bbox[3])))}))"
                )
            det["densepose"] = [[list(iuv.shape), encode_iuv(iuv)], bbox]
        if keypoints is not None:
            det["keypoints"] = keypoints[i]
        results.append(det)
    return results
