"""``ktn infer``: run a trained model on image files, folders, globs and videos (data/eval spec §4.5-4.6).

Per image ``NAME``: ``NAME_IUV.png`` (full image, 3 channels [I, U·255, V·255]), ``NAME_INDS.png``
(0 = background, k = the k-th kept detection of that image, in results order) and one PNG per
requested visualisation ``NAME_<vis>.png``. One ``results.json`` lists every kept detection in the
official encoding (the evaluator reads it). Where detections overlap, the higher score wins.
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ktn_kg.atomic import atomic_write
from ktn_model.config import setup_cfg
from ktn_model.engine.rng import seed_all
from ktn_model.engine.visualize import render
from ktn_model.evaluation.results import to_coco_results
from ktn_model.modeling import build_model, load_weights

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
RESULTS_FILE = "results.json"


def collect_inputs(inputs: list[str]) -> list[Path]:
    """Image and video files named by paths, folders (their images, sorted) or glob patterns, in order."""
    if not inputs:
        raise ValueError("no inputs given")
    found: list[Path] = []
    for item in inputs:
        matches = _expand(item)
        if not matches:
            raise FileNotFoundError(f"{item}: no image or video found")
        found.extend(m for m in matches if m not in found)
    return found


def _expand(item: str) -> list[Path]:
    path = Path(item)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            raise ValueError(f"{item}: not an image or video file (suffix {path.suffix or 'none'})")
        return [path]
    return sorted(Path(p) for p in glob.glob(item) if Path(p).suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)


def load_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; a ValueError naming the file when it cannot be read."""
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))
    except OSError as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None


def keep_confident(output: dict, min_score: float) -> dict:
    """The detections of one image's output with score ≥ ``min_score`` (all fields, same order)."""
    keep = (output["scores"] >= min_score).nonzero().flatten().tolist()
    kept = {k: v[keep] for k, v in output.items() if isinstance(v, torch.Tensor)}
    kept["densepose"] = [output["densepose"][i] for i in keep]
    return kept


def paste_iuv(output: dict, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-image (H, W, 3) uint8 IUV and (H, W) instance indices (uint8; uint16 past 255 detections).

    Detection k (0-based) owns its box's foreground pixels (I > 0) unless a detection with a
    higher score also covers them; its index value is k + 1. Boxes are placed at (int(x1), int(y1)).
    """
    iuv = np.zeros((height, width, 3), np.uint8)
    inds = np.zeros((height, width), np.uint8 if len(output["scores"]) < 256 else np.uint16)
    order = np.argsort(-output["scores"].numpy(), kind="stable")[::-1]  # lowest score first
    for k in order:
        box = np.asarray(output["densepose"][k].cpu().numpy().transpose(1, 2, 0))
        x0, y0 = (max(int(c), 0) for c in output["boxes"][k, :2].tolist())
        region = box[: height - y0, : width - x0]
        fg = region[..., 0] > 0
        h, w = fg.shape
        iuv[y0 : y0 + h, x0 : x0 + w][fg] = region[fg]
        inds[y0 : y0 + h, x0 : x0 + w][fg] = k + 1
    return iuv, inds


def save_png(path: Path, pixels: np.ndarray) -> None:
    """Write an (H, W) or (H, W, 3) uint8 array as PNG, atomically."""
    atomic_write(path, lambda f: Image.fromarray(pixels).save(f, format="PNG"))


def build_trained_model(cfg, weights: str | Path) -> torch.nn.Module:
    """``build_model(cfg)`` with every tensor loaded from ``weights``; a ValueError if the two do not fit."""
    seed_all(cfg.SEED)
    model = build_model(cfg)
    report = load_weights(model, str(weights))
    if report.missing or report.mismatched:
        raise ValueError(f"{weights}: does not fit this config ({report.summary().splitlines()[0]})")
    return model


def load_model(weights: str | Path, config_file: str | Path | None = None) -> torch.nn.Module:
    """The trained model of a checkpoint, on CUDA when available; the config defaults to the one beside it."""
    weights = Path(weights)
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: checkpoint not found")
    config_file = Path(config_file) if config_file else weights.parent / "config.yaml"
    if not config_file.is_file():
        raise FileNotFoundError(f"{config_file}: config not found (pass --config-file)")
    return build_trained_model(setup_cfg(config_file, ["MODEL.DEVICE", "auto"]), weights)


class Predictor:
    """A model in eval mode on its device: (H, W, 3) uint8 RGB image -> per-image output on CPU."""

    def __init__(self, model: torch.nn.Module):
        self.model = model.eval()
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> dict:
        tensor = torch.as_tensor(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(255).to(self.device)
        output = self.model([tensor])[0]
        cpu = {k: v.cpu() for k, v in output.items() if isinstance(v, torch.Tensor)}
        cpu["densepose"] = [d.cpu() for d in output["densepose"]]
        return cpu


@dataclass
class InferenceRun:
    """Writes the outputs of one ``ktn infer`` run into ``out_dir``."""

    predictor: Predictor
    out_dir: Path
    min_score: float = 0.8
    vis: list[str] = field(default_factory=list)
    image_ids: dict[str, int] = field(default_factory=dict)  # file name -> id (e.g. from a GT json)
    results: list[dict] = field(default_factory=list)

    def image(self, path: Path, index: int) -> dict:
        """Predict one image file and write its PNGs; returns the kept output."""
        pixels = load_image(path)
        output = keep_confident(self.predictor(pixels), self.min_score)
        self.write(path.stem, pixels, output)
        image_id = self.image_ids.get(path.name, index)
        self.results.extend({**r, "file_name": path.name} for r in to_coco_results(image_id, output))
        return output

    def write(self, name: str, pixels: np.ndarray, output: dict) -> None:
        iuv, inds = paste_iuv(output, *pixels.shape[:2])
        save_png(self.out_dir / f"{name}_IUV.png", iuv)
        save_png(self.out_dir / f"{name}_INDS.png", inds)
        for vis in self.vis:
            save_png(self.out_dir / f"{name}_{vis}.png", render(vis, pixels, iuv, output))

    def video(self, path: Path) -> int:
        """Annotate every frame of a video with the first visualisation; returns the frame count."""
        from ktn_model.engine.video import annotate_video  # needs OpenCV, imported only for videos

        return annotate_video(path, self.out_dir, self.vis[0] if self.vis else "dp_segm", self._annotate_frame)

    def _annotate_frame(self, frame: np.ndarray, vis: str) -> np.ndarray:
        output = keep_confident(self.predictor(frame), self.min_score)
        iuv, _ = paste_iuv(output, *frame.shape[:2])
        return render(vis, frame, iuv, output)

    def save_results(self) -> Path:
        path = self.out_dir / RESULTS_FILE
        atomic_write(path, lambda f: f.write(json.dumps(self.results).encode()))
        return path


def image_ids_from(annotations_json: str | Path | None) -> dict[str, int]:
    """``{file_name: id}`` from a COCO json's ``images`` (so results.json matches its ground truth)."""
    if not annotations_json:
        return {}
    with open(annotations_json) as f:
        images = json.load(f).get("images", [])
    return {Path(img["file_name"]).name: int(img["id"]) for img in images}


def run(run: InferenceRun, paths: list[Path]) -> Path:
    """Process every input (images numbered from 1 in order, videos frame by frame); write results.json."""
    run.out_dir.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(paths, start=1):
        if path.suffix.lower() in VIDEO_SUFFIXES:
            run.video(path)
        else:
            run.image(path, index)
    return run.save_results()
