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

from .closest_vertex import closest_vertices
from .structures import (
    CONFIDENCE_FIELDS,
    DensePoseChartResult,
    DensePoseChartResultWithConfidences,
    DensePoseConfidenceOutput,
    DensePoseEmbeddingOutput,
    DensePoseEmbeddingResult,
    DensePoseOutput,
    PredictorOutput,
)


def box_size(box: Tensor) -> tuple[int, int]:
    """(H, W) of the result grid of an XYXY box; w, h are subtracted in the box's dtype, as in the results."""
    w, h = (box[2:] - box[:2]).tolist()
    return iuv_size(w, h)


def resized(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """(1, C, S, S) -> (C, H, W) at ``size`` = (H, W), bilinear (align_corners=False), as detectron2 resizes."""
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)[0]


def foreground(m: Tensor, fg_threshold: float) -> Tensor:
    """M (C, H, W) -> (H, W) bool. At 0.5 it is argmax(M) > 0, detectron2's rule; otherwise P(not background) >
    threshold, i.e. softmax(M)[1] for the 2-channel M."""
    if fg_threshold == 0.5:
        return m.argmax(0) > 0
    probs = m.softmax(0)
    return (probs[1] if m.shape[0] == 2 else 1 - probs[0]) > fg_threshold


def at_labels(maps: Tensor, labels: Tensor) -> Tensor:
    """maps (25, H, W), labels (H, W) int64 -> (H, W): each pixel's value in its label's channel, 0 off the body."""
    return maps.gather(0, labels[None])[0] * (labels > 0)


def chart_result(out: DensePoseOutput, size: tuple[int, int], fg_threshold: float = 0.3) -> DensePoseChartResult:
    """One detection's maps (length-1 ``out``, each (1, C, S, S)) -> labels and U, V at ``size`` = (H, W).

    Each map is resized bilinearly (align_corners=False). label = argmax(I) · ``foreground(M)`` (ties -> lowest
    index); U, V are read at the label's channel.
    """
    m, i, u, v = (resized(t, size) for t in (out.M, out.I, out.U, out.V))  # (C, H, W) each
    labels = i.argmax(0) * foreground(m, fg_threshold)  # (H, W)
    uv = torch.stack([at_labels(u, labels), at_labels(v, labels)])  # (2, H, W), 0 off the body
    return DensePoseChartResult(labels.to(torch.uint8), uv)


def chart_result_with_confidences(out: DensePoseConfidenceOutput, size: tuple[int, int],
                                  fg_threshold: float = 0.3) -> DensePoseChartResultWithConfidences:
    """``chart_result`` plus each confidence of ``out`` at ``size``, raw as the predictor gives it (detectron2's
    ``densepose_chart_predictor_output_to_result_with_confidences``): a per-part map (25 channels) read at each
    pixel's label (0 off the body), a one-channel map (segmentation confidences) everywhere."""
    chart = chart_result(out, size, fg_threshold)
    labels = chart.labels.long()
    confidences = {}
    for name in (n for n in CONFIDENCE_FIELDS if n in out.field_names()):
        maps = resized(getattr(out, name), size)  # (C, H, W)
        confidences[name] = maps[0] if maps.shape[0] == 1 else at_labels(maps, labels)
    return DensePoseChartResultWithConfidences(chart.labels, chart.uv, confidences)


def embedding_result(out: DensePoseEmbeddingOutput, size: tuple[int, int], fg_threshold: float = 0.5,
                     mesh: tuple[str, Tensor] | None = None) -> DensePoseEmbeddingResult:
    """One CSE detection (length-1 ``out``) -> the closest vertex of ``mesh`` = (name, (V, D) vertex embeddings) per
    pixel at ``size``, -1 off the body (detectron2's ``get_closest_vertices_mask_from_ES``: E and M resized
    bilinearly, fg = ``foreground(M)``). ``mesh`` comes from the model (``DensePosePostProcess.bind``)."""
    if mesh is None:
        raise ValueError("a CSE model's post-processing needs the mesh vertex embeddings of its checkpoint "
                         "(DensePosePostProcess.bind(model)); an exported graph does not carry them")
    name, vertex_embeddings = mesh
    m, e = resized(out.M, size), resized(out.E, size)  # (2, H, W), (D, H, W)
    return DensePoseEmbeddingResult(closest_vertices(e, foreground(m, fg_threshold), vertex_embeddings), name)


# output type -> (one detection's length-1 output, (H, W), fg threshold, **the model's context) -> its result
RESULT_CONVERTERS: dict[type, Callable] = {DensePoseOutput: chart_result,
                                           DensePoseConfidenceOutput: chart_result_with_confidences,
                                           DensePoseEmbeddingOutput: embedding_result}


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
    out = {k: v[keep] if isinstance(v, (Tensor, PredictorOutput)) else v for k, v in det.items()}
    out["boxes"] = boxes[keep]
    if "keypoints" in out:
        out["keypoints"] = torch.cat([out["keypoints"][..., :2] * scale, out["keypoints"][..., 2:]], dim=-1)
    return out


class DensePosePostProcess(nn.Module):
    """Model detections (input pixels) -> per image ``boxes``, ``scores``, ``labels``, [``keypoints``,
    ``keypoints_scores``] in original pixels and ``densepose``: one result per detection (a
    ``DensePoseChartResult`` for chart outputs, ``...WithConfidences`` with confidences, a
    ``DensePoseEmbeddingResult`` for CSE outputs, which needs ``bind(model)``)."""

    def __init__(self, fg_threshold: float = 0.3):
        super().__init__()
        self.fg_threshold = fg_threshold
        self.context = None  # () -> the converters' keyword arguments from the model (``bind``)

    def bind(self, model: nn.Module) -> DensePosePostProcess:
        """Read what the converters need besides the maps from ``model``'s predictor (``result_context()``, e.g. a
        CSE model's vertex embeddings), at every call, so that weights loaded later count."""
        predictor = getattr(getattr(model, "roi_heads", None), "densepose_predictor", None)
        self.context = getattr(predictor, "result_context", None)
        return self

    @torch.no_grad()
    def forward(self, detections: list[dict], input_sizes: list[tuple[int, int]],
                target_sizes: list[tuple[int, int]]) -> list[dict]:
        results = []
        context = self.context() if self.context is not None else {}
        for det, input_size, target_size in zip(detections, input_sizes, target_sizes, strict=True):
            det = rescale_detections(det, input_size, target_size)
            raw = det.pop("densepose")
            convert = result_converter(type(raw))
            det["densepose"] = [convert(raw[d], box_size(box), self.fg_threshold, **context)
                                for d, box in enumerate(det["boxes"])]
            results.append(det)
        return results
