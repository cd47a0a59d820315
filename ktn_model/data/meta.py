"""DensePose-COCO label tables (docs/densepose_format.md, "Surface patches and coarse parts").

Indices are the json values: fine patch I in 1..24 (0 = background), coarse part k in 1..14
(``dp_masks`` entry k-1), COCO keypoints in the 17-point person order.
"""

from __future__ import annotations

# Fine patch I -> its mirror partner (detectron2's POINT_LABEL_SYMMETRIES).
POINT_LABEL_SYMMETRIES = (0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21, 24, 23)

# Coarse part k -> its mirror partner (MASK_LABEL_SYMMETRIES).
MASK_LABEL_SYMMETRIES = (0, 1, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 14)

# Fine patch I -> coarse part k.
COARSE_OF_FINE = (0, 1, 1, 2, 3, 4, 5, 6, 7, 6, 7, 8, 9, 8, 9, 10, 11, 10, 11, 12, 13, 12, 13, 14, 14)

NUM_PATCHES = 24
NUM_COARSE_PARTS = 14
# dp_x/dp_y and dp_masks live on a 256x256 grid over the GT box (docs/densepose_format.md, "Coordinate
# frames: 256 and 255").
DP_FRAME = 256
DP_POINT_KEYS = ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V")
DP_KEYS = (*DP_POINT_KEYS, "dp_masks")

KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
# Keypoint index -> index of its left/right partner (horizontal flip).
KEYPOINT_FLIP = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
# Added to the annotated keypoint x, y (pixel indices) for training, subtracted from predicted ones in results.
KEYPOINT_OFFSET = 0.5
# COCO person skeleton, 1-based keypoint pairs as in the official categories entry.
KEYPOINT_SKELETON = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
    (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)  # fmt: skip


def person_category() -> dict:
    """The single COCO ``categories`` entry of DensePose-COCO."""
    return {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(KEYPOINT_NAMES),
        "skeleton": [list(pair) for pair in KEYPOINT_SKELETON],
    }
