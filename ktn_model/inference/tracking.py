"""Person identities across video frames by box overlap (docs/inference.md, "Steady video").

The rule, deterministic for the same detections:

1. Every track remembers its last box and the frame it was last seen in; a track unseen for more than
   ``max_gap`` frames ends.
2. For a new frame, every (track, detection) pair with IoU >= ``min_iou`` is a candidate. Candidates are taken in
   descending IoU, ties by ascending track id then ascending detection index; a pair is matched when neither its
   track nor its detection is matched yet (greedy matching).
3. Unmatched detections start new tracks in descending score order (ties by detection index); ids count up from 1
   and are never reused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torchvision.ops import box_iou

DEFAULT_MIN_IOU = 0.3
DEFAULT_MAX_GAP = 5


@dataclass
class IoUTracker:
    """Call ``update(boxes, scores)`` once per frame, in frame order; it returns the track id of each detection."""

    min_iou: float = DEFAULT_MIN_IOU
    max_gap: int = DEFAULT_MAX_GAP
    frame: int = -1
    next_id: int = 1
    tracks: dict[int, tuple[np.ndarray, int]] = field(default_factory=dict)  # id -> (last box (4,), last frame)

    def update(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Track ids (D,) int64 for this frame's detections ``boxes`` (D, 4) XYXY with ``scores`` (D,)."""
        self.frame += 1
        self.tracks = {t: v for t, v in self.tracks.items() if self.frame - v[1] <= self.max_gap + 1}  # step 1
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        ids = np.zeros(len(boxes), np.int64)
        track_ids = sorted(self.tracks)
        if track_ids and len(boxes):  # step 2
            last = np.stack([self.tracks[t][0] for t in track_ids])
            iou = box_iou(torch.from_numpy(last), torch.from_numpy(boxes)).numpy()  # (T, D) float64
            rows, cols = np.nonzero(iou >= self.min_iou)
            for r, c in sorted(zip(rows.tolist(), cols.tolist(), strict=True), key=lambda rc: (-iou[rc], rc)):
                if ids[c] == 0 and track_ids[r] not in ids:
                    ids[c] = track_ids[r]
        for d in np.argsort(-np.asarray(scores, np.float64).reshape(-1), kind="stable"):  # step 3
            if ids[d] == 0:
                ids[d], self.next_id = self.next_id, self.next_id + 1
        for d, t in enumerate(ids.tolist()):
            self.tracks[t] = (boxes[d], self.frame)
        return ids

    def state(self) -> dict:
        """Everything ``from_state`` needs to continue exactly, as JSON-ready values (floats round-trip exactly)."""
        tracks = [[t, box.tolist(), last] for t, (box, last) in self.tracks.items()]
        return {"min_iou": self.min_iou, "max_gap": self.max_gap, "frame": self.frame, "next_id": self.next_id,
                "tracks": tracks}

    @classmethod
    def from_state(cls, state: dict) -> IoUTracker:
        tracks = {t: (np.array(box, np.float64), last) for t, box, last in state["tracks"]}
        return cls(state["min_iou"], state["max_gap"], state["frame"], state["next_id"], tracks)
