"""Inference defaults the CLIs show in ``--help`` (torch-free, so that ``--help`` starts fast)."""

DEFAULT_MIN_SCORE = 0.8  # ``ktn infer``, ``ktn texture``, ``ktn smpl`` and the demo's pictures
DEFAULT_VIS = ("dp_contour", "dp_segm", "dp_u", "dp_v", "bbox")  # the pictures ``ktn infer`` and the demo draw
