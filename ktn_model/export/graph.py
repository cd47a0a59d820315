"""The traceable form of KTN (docs/export.md): one resized image in, the raw detections out as a flat tuple.

The graph holds normalisation and padding, the backbone/FPN, the RPN (anchors, top-k, NMS), the box head with
detectron2's inference (NMS) and the DensePose branch (MID, head, predictor with KTM's W_s as a constant). The
PIL resize before it and, after it, the keypoint decoding (torchvision's per-detection bicubic resize, which
onnxruntime runs several times slower than PyTorch) and the post-processing stay in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList

from ktn_model.modeling.ktn import KTN
from ktn_model.modeling.roi_heads import decode_keypoints

DETECTION_FIELDS = ("boxes", "scores", "labels")
DENSEPOSE = "densepose"


def output_names(output_type: type) -> list[str]:
    """Names of the outputs of a traced model whose predictor returns ``output_type``: boxes, scores, labels,
    then ``densepose.<field>`` for each of the output type's fields (M, I, U, V, ...)."""
    return [*DETECTION_FIELDS, *(f"{DENSEPOSE}.{m}" for m in output_type.field_names())]


def to_detection(names: Sequence[str], values: Sequence[Tensor], output_type: type) -> dict:
    """Flat outputs back to one image's detection dict, as ``KTN`` returns it (``densepose`` an ``output_type``,
    keypoints decoded from K where the output has one)."""
    det = dict(zip(names, values, strict=True))
    maps = {m: det.pop(f"{DENSEPOSE}.{m}") for m in output_type.field_names()}
    return decode_keypoints({**det, DENSEPOSE: output_type(**maps)})


class TracedKTN(nn.Module):
    """image (3, H, W) float RGB in [0, 1], already at the test size -> ``output_names(model)`` tensors, each with
    one row per detection (D): boxes (D, 4) in the image's pixels, maps (D, C, S, S).

    In eager mode the outputs equal ``model([image])[0]`` before its keypoint decoding (``to_detection`` adds it):
    an image at the test size is not resampled and the rescale back to it is by exactly 1. One image per call (the
    per-image loops are unrolled when traced).
    """

    def __init__(self, model: KTN):
        super().__init__()
        if model.roi_heads.densepose_dtype != torch.float32:
            raise ValueError("exported graphs run in float32: export with TEST.DENSEPOSE_PRECISION float32")
        self.model = model
        self.output_type = model.roi_heads.densepose_predictor.output_type
        self.names = output_names(self.output_type)
        self.eval()
        heads = model.roi_heads
        if hasattr(heads.densepose_predictor, "prepare_export"):
            with torch.no_grad():  # e.g. KTM's W_s into the eval cache now, so that the trace holds it as a constant
                heads.densepose_predictor.prepare_export(heads.box_predictor)

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        transform = self.model.transform
        size = image.shape[-2:]
        tensors = transform.batch_images([transform.normalize(image)], transform.size_divisible)  # (1, 3, H', W')
        images = ImageList(tensors, [size])
        features = self.model.backbone(tensors)
        proposals, _ = self.model.rpn(images, features)
        (det,) = self.model.roi_heads.detect(features, proposals, images.image_sizes)
        dense = det[DENSEPOSE]
        flat = {**det, **{f"{DENSEPOSE}.{m}": getattr(dense, m) for m in self.output_type.field_names()}}
        return tuple(flat[name] for name in self.names)


def example_image(height: int, width: int, seed: int = 0) -> Tensor:
    """A (3, height, width) uniform random image in [0, 1], the tracing and verification input."""
    return torch.rand(3, height, width, generator=torch.Generator().manual_seed(seed))
