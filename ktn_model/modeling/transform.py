"""Input transform: torchvision's resize + normalise + pad, with separate train and test sizes (spec §6.2, §9)."""

from __future__ import annotations

from torchvision.models.detection.transform import GeneralizedRCNNTransform


class KTNTransform(GeneralizedRCNNTransform):
    """Training draws the short side from ``train_sizes``; eval uses ``test_size``. Pads to ``size_divisible``.

    Only ``boxes`` and ``keypoints`` of the targets are resized; the ``dp_*`` fields are box-relative.
    """

    def __init__(self, train_sizes: list[int], train_max: int, test_size: int, test_max: int,
                 image_mean: list[float], image_std: list[float], size_divisible: int = 32):
        super().__init__(tuple(train_sizes), train_max, image_mean, image_std, size_divisible=size_divisible)
        self.sizes = {True: (tuple(train_sizes), train_max), False: ((test_size,), test_max)}

    def train(self, mode: bool = True) -> KTNTransform:
        self.min_size, self.max_size = self.sizes[mode]
        return super().train(mode)
