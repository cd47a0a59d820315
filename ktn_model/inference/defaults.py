"""Inference defaults the CLIs show in ``--help`` (torch-free, so that ``--help`` starts fast)."""

DEFAULT_MIN_SCORE = 0.8  # ``ktn infer``, ``ktn texture``, ``ktn smpl`` and the demo's pictures
DEFAULT_VIS = ("dp_contour", "dp_segm", "dp_u", "dp_v", "bbox")  # the pictures ``ktn infer`` and the demo draw
DEFAULT_CSE_VIS = ("dp_vertex", "bbox")  # ``ktn infer``'s default pictures for a CSE model (docs/cse.md)
INPAINT_GRID = 64  # ``ktn inpaint``: cells per side of each person's pseudo-label grid
INPAINT_MIN_PROBABILITY = 0.5  # ``ktn inpaint``: cells whose teacher patch probability is lower stay unlabelled
