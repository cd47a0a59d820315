"""Post-processing (docs/densepose_format.md), built beside the model as DETR builds its ``PostProcess``.

The network returns detections in the pixels of the image it was given; ``DensePosePostProcess`` maps them
to the original image (detectron2's ``detector_postprocess``: scale, clip, drop empty boxes) and turns each
detection's raw maps into a result at its integer box size: ``RESULT_CONVERTERS`` maps a predictor's output type
to its converter (detectron2's ``ToChartResultConverter`` registry); a subclass of an output type without a
converter of its own uses its parent's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ktn_model.data.iuv import iuv_size

from .structures import DensePoseChartResult, DensePoseOutput


def box_size(box: Tensor) -> tuple[int, int]:
    """(H, W) of the result grid of an XYXY box; w, h are subtracted in the box's dtype, as in the results."""
    w, h = (box[2:] - box[:2]).tolist()
    return iuv_size(w, h)


def chart_result(out: DensePoseOutput, size: tuple[int, int], fg_threshold: float = 0.3) -> DensePoseChartResult:
    """One detection's maps (length-1 ``out``, each (1, C, S, S)) -> labels and U, V at ``size`` = (H, W).

    Each map is resized bilinearly (align_corners=False). fg = softmax(M)[1] > threshold; at 0.5 it is
    argmax(M) = 1, detectron2's rule. label = argmax(I) · fg; U, V are read at the label's channel.
    """
    m, i, u, v = (F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0]
                  for t in (out.M, out.I, out.U, out.V))  # (C, H, W) each
    fg = m.argmax(0) == 1 if fg_threshold == 0.5 else m.softmax(0)[1] > fg_threshold  # (H, W)
    labels = i.argmax(0) * fg  # (H, W), ties -> lowest index
    index = labels[None, None].expand(2, 1, *size)  # (2, 1, H, W)
    uv = torch.stack([u, v]).gather(1, index)[:, 0] * (labels > 0)  # (2, H, W), 0 off the body
    return DensePoseChartResult(labels.to(torch.uint8), uv)


# output type -> (one detection's length-1 output, (H, W), fg threshold) -> its result
RESULT_CONVERTERS: dict[type, Callable] = {DensePoseOutput: chart_result}


def result_converter(output_type: type) -> Callable:
    """The converter registered for ``output_type`` or its nearest base class."""
    for cls in output_type.__mro__:
        if cls in RESULT_CONVERTERS:
            return RESULT_CONVERTERS[cls]
    raise TypeError(f"no result converter for {output_type.__name__} (register one in RESULT_CONVERTERS)")


def rescale_detections(det: dict, input_size: tuple[int, int], target_size: tuple[int, int]) -> dict:
    """Boxes and keypoints from ``input_size`` (h, w) pixels to ``target_size``; clip; drop empty boxes."""
    (h_in, w_in), (h, w) = input_size, target_size
    scale = det["boxes"].new_tensor([w / w_in, h / h_in])  # float32 (x, y) factors, as detectron2 casts them
    boxes = det["boxes"] * scale.repeat(2)
    boxes = torch.stack([boxes[:, 0].clamp(0, w), boxes[:, 1].clamp(0, h),
                         boxes[:, 2].clamp(0, w), boxes[:, 3].clamp(0, h)], dim=1)  # (D, 4)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    out = {k: v[keep] if isinstance(v, (Tensor, DensePoseOutput)) else v for k, v in det.items()}
    out["boxes"] = boxes[keep]
    if "keypoints" in out:
        out["keypoints"] = torch.cat([out["keypoints"][..., :2] * scale, out["keypoints"][..., 2:]], dim=-1)
    return out


class DensePosePostProcess(nn.Module):
    """Model detections (input pixels) -> per image ``boxes``, ``scores``, ``labels``, [``keypoints``,
    ``keypoints_scores``] in original pixels and ``densepose``: one result per detection (a
    ``DensePoseChartResult`` for chart outputs)."""

    def __init__(self, fg_threshold: float = 0.3):
        super().__init__()
        self.fg_threshold = fg_threshold

    @torch.no_grad()
    def forward(self, detections: list[dict], input_sizes: list[tuple[int, int]],
                target_sizes: list[tuple[int, int]]) -> list[dict]:
        results = []
        for det, input_size, target_size in zip(detections, input_sizes, target_sizes, strict=True):
            det = rescale_detections(det, input_size, target_size)
            raw = det.pop("densepose")
            convert = result_converter(type(raw))
            det["densepose"] = [convert(raw[d], box_size(box), self.fg_threshold)
                                for d, box in enumerate(det["boxes"])]
            results.append(det)
        return results
