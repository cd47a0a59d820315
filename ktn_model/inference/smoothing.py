"""Temporal smoothing of one tracked person's DensePose maps (docs/inference.md, "Steady video").

A person's maps live in its box frame, so earlier frames are first brought into the current box: the point at
relative position ((x + 0.5) / w, (y + 0.5) / h) of the current box takes the nearest pixel of each earlier box at
the same relative position (the box follows the person, so this follows the body). Then, per pixel, over the
current frame and the ``window - 1`` frames before it:

- the part label I is the most frequent one (ties go to the most recent frame): a vote, never a blend, so every
  output label is one a frame had there and part boundaries stay as sharp as in one frame;
- U and V are the means over the frames whose label there equals the voted one: values of different parts are
  never averaged together; off the body they are 0.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


def to_box_grid(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """(..., h, w) maps resampled (nearest, relative position) to (..., height, width)."""
    h, w = values.shape[-2:]
    rows = ((np.arange(height) + 0.5) * h / height).astype(np.int64)
    cols = ((np.arange(width) + 0.5) * w / width).astype(np.int64)
    return values[..., rows[:, None], cols[None, :]]


def vote(labels: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels (K, H, W) and uv (K, 2, H, W), most recent frame first -> the voted (H, W) labels and (2, H, W) uv."""
    counts = (labels[:, None] == labels[None, :]).sum(1)  # (K, H, W): how many frames agree with frame k
    best = counts.argmax(0)  # first maximum: the most recent frame wins ties
    voted = np.take_along_axis(labels, best[None], 0)[0]  # (H, W)
    same = (labels == voted[None]) & (voted[None] > 0)  # (K, H, W)
    total = (uv * same[:, None]).sum(0)  # (2, H, W)
    return voted, (total / np.maximum(same.sum(0), 1)[None]).astype(np.float32)


@dataclass
class TemporalSmoother:
    """Per track id, the last ``window - 1`` unsmoothed (labels, uv) maps; ``smooth`` adds the current one."""

    window: int = 3
    history: dict[int, deque] = field(default_factory=dict)

    def smooth(self, track: int, labels: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """This frame's (h, w) uint8 labels and (2, h, w) float32 uv of ``track`` -> the smoothed pair."""
        past = self.history.setdefault(track, self._past())
        h, w = labels.shape
        stack_l = np.stack([labels, *(to_box_grid(p[0], h, w) for p in reversed(past))])
        stack_uv = np.stack([uv, *(to_box_grid(p[1], h, w) for p in reversed(past))])
        if past.maxlen:
            past.append((labels, uv))
        return vote(stack_l, stack_uv)

    def keep_only(self, tracks: set[int]) -> None:
        """Forget the tracks that ended."""
        self.history = {t: h for t, h in self.history.items() if t in tracks}

    def _past(self) -> deque:
        return deque(maxlen=max(self.window - 1, 0))

    def state(self) -> dict[str, np.ndarray]:
        """The history as arrays for ``np.savez``: ``"<track>/<k>/labels"`` (h, w) and ``"<track>/<k>/uv"``
        (2, h, w), k = 0 the oldest frame kept."""
        return {f"{t}/{k}/{name}": maps for t, past in self.history.items() for k, pair in enumerate(past)
                for name, maps in zip(("labels", "uv"), pair, strict=True)}

    @classmethod
    def from_state(cls, window: int, arrays: dict[str, np.ndarray]) -> TemporalSmoother:
        smoother = cls(window)
        for t, k in sorted({tuple(map(int, key.split("/")[:2])) for key in arrays}):
            smoother.history.setdefault(t, smoother._past()).append((arrays[f"{t}/{k}/labels"], arrays[f"{t}/{k}/uv"]))
        return smoother
