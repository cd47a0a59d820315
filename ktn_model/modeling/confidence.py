"""Which confidences a model estimates (docs/confidence.md), from ``MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE`` and
``SEGM_CONFIDENCE`` (detectron2's ``DensePoseConfidenceModelConfig``); the predictor and the loss both read it."""

from __future__ import annotations

# UV_CONFIDENCE.TYPE -> the per-part U/V confidence maps it predicts
UV_CONFIDENCE_MAPS = {"iid_iso": ("sigma_2",), "indep_aniso": ("sigma_2", "kappa_u", "kappa_v")}
SEGM_CONFIDENCE_MAPS = ("fine_segm_confidence", "coarse_segm_confidence")


def uv_confidence_type(cfg) -> str:
    """``UV_CONFIDENCE.TYPE`` when ``UV_CONFIDENCE.ENABLED``, else "" (ValueError for an unknown type)."""
    uv = cfg.MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE
    if uv.ENABLED and uv.TYPE not in UV_CONFIDENCE_MAPS:
        raise ValueError(f"MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE.TYPE {uv.TYPE!r}: one of "
                         f"{', '.join(UV_CONFIDENCE_MAPS)}")
    return uv.TYPE if uv.ENABLED else ""


def confidence_names(uv_type: str, segm: bool) -> tuple[str, ...]:
    """The confidence fields of a predictor with U/V confidence ``uv_type`` ("" = none) and segmentation confidence."""
    return UV_CONFIDENCE_MAPS.get(uv_type, ()) + (SEGM_CONFIDENCE_MAPS if segm else ())
