"""Input transform (docs/architecture.md): pixel convention, detectron2's resize rule, padding.

Images come in as torchvision's convention, (3, H, W) float RGB in [0, 1]. The network sees
``(x·255 in INPUT.FORMAT channel order - PIXEL_MEAN) / PIXEL_STD``, detectron2's units (0-255).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes, resize_keypoints

from ktn_model.data.resize import shortest_edge_size

FORMATS = ("RGB", "BGR")


class KTNTransform(GeneralizedRCNNTransform):
    """Training draws the short side from ``train_sizes``; eval uses ``test_size``; pads to ``size_divisible``.

    The output size follows ``shortest_edge_size`` (detectron2's rounding); an image that already has it is
    not resampled, so an image resized beforehand (``ktn_model.data.resize``, PIL, as detectron2's predictor
    does) reaches the backbone unchanged. Otherwise the resize is bilinear with antialiasing, close to PIL's.
    Only ``boxes`` and ``keypoints`` of the targets are resized; the ``dp_*`` fields are box-relative.
    """

    def __init__(self, train_sizes: list[int], train_max: int, test_size: int, test_max: int,
                 image_mean: list[float], image_std: list[float], size_divisible: int = 32, input_format: str = "RGB"):
        if input_format not in FORMATS:
            raise ValueError(f"INPUT.FORMAT must be one of {FORMATS}, got {input_format!r}")
        # 0 = no padding (detectron2's and HRFPN's convention) is a multiple of 1 for torchvision
        super().__init__(tuple(train_sizes), train_max, image_mean, image_std, size_divisible=size_divisible or 1)
        self.sizes = {True: (tuple(train_sizes), train_max), False: ((test_size,), test_max)}
        self.bgr = input_format == "BGR"

    def train(self, mode: bool = True) -> KTNTransform:
        self.min_size, self.max_size = self.sizes[mode]
        return super().train(mode)

    def normalize(self, image: Tensor) -> Tensor:
        if not image.is_floating_point():
            raise TypeError(f"images must be float RGB in [0, 1], got {image.dtype}")
        pixels = image.flip(0) if self.bgr else image  # (3, H, W), channels in INPUT.FORMAT order
        mean = torch.as_tensor(self.image_mean, dtype=image.dtype, device=image.device)[:, None, None]
        std = torch.as_tensor(self.image_std, dtype=image.dtype, device=image.device)[:, None, None]
        return (pixels * 255 - mean) / std

    def resize(self, image: Tensor, target: dict[str, Tensor] | None = None
               ) -> tuple[Tensor, dict[str, Tensor] | None]:
        h, w = image.shape[-2:]
        short = self.torch_choice(self.min_size) if self.training else self.min_size[-1]
        size = shortest_edge_size(h, w, short, self.max_size)
        if size == (h, w):
            return image, target
        image = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
        if target is not None:
            target["boxes"] = resize_boxes(target["boxes"], (h, w), size)
            if "keypoints" in target:
                target["keypoints"] = resize_keypoints(target["keypoints"], (h, w), size)
        return image, target
