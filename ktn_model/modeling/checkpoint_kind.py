"""Which kind of DensePose model a checkpoint holds, told from the names a mismatch leaves over, so that a model-zoo
file loaded with the wrong preset is one line that says what to use (docs/pretrained.md, "Model zoo")."""

from __future__ import annotations

import re

PREDICTOR = r"roi_heads\.densepose_predictor\."
CONFIDENCE = re.compile(PREDICTOR + r"(sigma_2|kappa_u|kappa_v|fine_segm_confidence|coarse_segm_confidence)_lowres\.")
CSE = re.compile(rf"({PREDICTOR}(embed|coarse_segm)_lowres|roi_heads\.embedder)\.")
CHART = re.compile(PREDICTOR + r"(index_uv|u|v)_lowres\.")


def _names(pattern: re.Pattern, keys: list[str]) -> list[str]:
    return sorted({pattern.match(k)[0].rsplit(".", 1)[0].split(".")[-1] for k in keys if pattern.match(k)})


def variant_hint(missing: list[str], unused: list[str]) -> str:
    """A short reason for a mismatch: the model's tensors without a source (``missing``) against the checkpoint's
    left over (``unused``); "" when neither side is a known DensePose predictor variant."""
    if any(CSE.match(k) for k in unused) and any(CHART.match(k) for k in missing):
        return "a CSE checkpoint (DensePoseEmbeddingPredictor) on a chart config: use a detectron2/cse/ preset"
    if any(CHART.match(k) for k in unused) and any(CSE.match(k) for k in missing):
        return "a chart checkpoint on a CSE config (DensePoseEmbeddingPredictor): use a chart preset"
    if extra := _names(CONFIDENCE, unused):
        return (f"the checkpoint has confidence outputs ({', '.join(extra)}) this config lacks: use its WC preset "
                "(MODEL.ROI_DENSEPOSE_HEAD.UV_CONFIDENCE / SEGM_CONFIDENCE)")
    if lacking := _names(CONFIDENCE, missing):
        return (f"the config expects confidence outputs ({', '.join(lacking)}) the checkpoint lacks: use the preset "
                "of its model")
    return ""
