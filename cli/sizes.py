"""Upper bounds of the image-size options, derived from the memory available when the command runs.

Peak resident memory modelled as a fixed part plus a part per pixel of the longer image side squared, from
peaks measured on this project's 2-core AMD EPYC machine (``/usr/bin/time``): ``ktn data synth`` drawing one
image, 0.19 GB at 1280 px and 0.55 GB at 2560 px (73 bytes a pixel); ``ktn demo --iterations 2
--train-images 2 --val-images 1``, 1.21 / 1.38 / 2.73 GB at 128 / 384 / 768 px (up to 3.0 KB a pixel). Both
rounded up.
"""

from __future__ import annotations

from ktn_utils.machine import GIB, available_memory, largest_fitting

MIN_IMAGE_SIZE = 64
SYNTH_BYTES = (GIB // 8, 80)  # (fixed, per pixel)
DEMO_BYTES = (3 * GIB // 2, 4096)
RENDER_BYTES = (GIB // 2, 256)  # ``ktn infer --render-size``: float maps and RGB renders, a panorama's long side 4x
IMAGE_SIZE_HELP = f"Longer image side in pixels (>= {MIN_IMAGE_SIZE}; at most what the memory holds)."


def _largest_side(fixed: int, per_pixel: int) -> tuple[int, str]:
    memory = available_memory()
    side = largest_fitting(lambda s: fixed + s * s * per_pixel, memory)
    return side, f"the largest image that fits the {memory / GIB:.1f} GiB of memory available"


def synth_image_limit() -> tuple[int, str]:
    return _largest_side(*SYNTH_BYTES)


def demo_image_limit() -> tuple[int, str]:
    return _largest_side(*DEMO_BYTES)


def render_limit() -> tuple[int, str]:
    return _largest_side(*RENDER_BYTES)
