"""Steady video: identities by box overlap and optional temporal smoothing of each person's maps, frame by frame
(docs/inference.md, "Steady video")."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import torch

from ktn_model.inference.smoothing import TemporalSmoother
from ktn_model.inference.tracking import IoUTracker
from ktn_model.modeling.structures import DensePoseChartResult


@dataclass
class SteadyVideo:
    """Feed ``Predictor`` outputs of consecutive frames to ``__call__``; each comes back with ``track_ids`` (D,) and,
    with ``window`` > 1, its ``densepose`` results (and a ``render`` frame's) smoothed over ``window`` frames."""

    window: int = 1
    tracker: IoUTracker = field(default_factory=IoUTracker)
    smoothers: dict[str, TemporalSmoother] = field(default_factory=dict)  # one per frame kind ("", "render")
    records: list[dict] = field(default_factory=list)  # per detection: frame, track_id, bbox (XYWH), score

    def __call__(self, output: dict) -> dict:
        ids = self.tracker.update(output["boxes"].numpy(), output["scores"].numpy())
        for track, box, score in zip(ids.tolist(), output["boxes"].tolist(), output["scores"].tolist(), strict=True):
            x1, y1, x2, y2 = box
            self.records.append({"frame": self.tracker.frame, "track_id": track, "bbox": [x1, y1, x2 - x1, y2 - y1],
                                 "score": score})
        output = {**output, "track_ids": torch.from_numpy(ids)}
        if self.window > 1:
            output["densepose"] = self._smooth("", ids, output["densepose"])
            if "render" in output and len(output["render"]["densepose"]) == len(ids):  # (a box empty there: as is)
                output["render"] = {**output["render"], "densepose": self._smooth("render", ids,
                                                                                  output["render"]["densepose"])}
        return output

    def state(self) -> dict[str, np.ndarray]:
        """Everything ``restore`` needs to continue exactly, as arrays for ``np.savez`` (no pickle): under ``"json"``
        the window, tracker, records and smoother kinds as UTF-8 JSON bytes (N,) uint8; each smoother's maps under
        ``"<kind>:<track>/<k>/labels"`` / ``"…/uv"`` (``TemporalSmoother.state``)."""
        meta = {"window": self.window, "tracker": self.tracker.state(), "records": self.records,
                "smoothers": list(self.smoothers)}
        maps = {f"{kind}:{key}": a for kind, smoother in self.smoothers.items() for key, a in smoother.state().items()}
        return {"json": np.frombuffer(json.dumps(meta).encode(), np.uint8), **maps}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        """Continue from a ``state()``: the next frame gets what it would have got from the object that saved it."""
        meta = json.loads(arrays["json"].tobytes())
        self.window, self.records = meta["window"], meta["records"]
        self.tracker = IoUTracker.from_state(meta["tracker"])
        maps = {kind: {k.removeprefix(f"{kind}:"): a for k, a in arrays.items() if k.startswith(f"{kind}:")}
                for kind in meta["smoothers"]}
        self.smoothers = {kind: TemporalSmoother.from_state(self.window, maps[kind]) for kind in maps}

    def _smooth(self, kind: str, ids, results: list[DensePoseChartResult]) -> list[DensePoseChartResult]:
        smoother = self.smoothers.setdefault(kind, TemporalSmoother(self.window))
        smoother.keep_only(set(self.tracker.tracks))
        smoothed = []
        for track, result in zip(ids.tolist(), results, strict=True):
            labels, uv = smoother.smooth(track, result.labels.numpy(), result.uv.numpy())
            smoothed.append(DensePoseChartResult(torch.from_numpy(labels), torch.from_numpy(uv)))
        return smoothed
