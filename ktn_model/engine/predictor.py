"""``Predictor``: a trained model and its post-processing on single images, as detectron2's ``DefaultPredictor``.

The image is resized with PIL exactly as detectron2 does (``ktn_model.data.resize``), the network runs on it,
detections below ``min_score`` are dropped (before the DensePose branch for a PyTorch model), and only the kept
ones are post-processed into original pixels. The network is the PyTorch model or an exported ONNX / TorchScript
graph of it (``ktn_model.export``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ktn_model.config import setup_cfg
from ktn_model.data.resize import resize_shortest_edge
from ktn_model.engine.checkpoint import CONFIG_FILE
from ktn_model.engine.rng import seed_all
from ktn_model.export.runtime import is_exported, load_exported
from ktn_model.inference.early_filter import score_filter_before_densepose
from ktn_model.modeling import build_model, load_weights
from ktn_model.modeling.build import build_postprocess
from ktn_model.zoo import cache as zoo


def build_trained_model(cfg, weights: str | Path) -> torch.nn.Module:
    """``build_model(cfg)`` with every tensor loaded from ``weights`` (any supported format, exact fit)."""
    seed_all(cfg.SEED)
    model = build_model(cfg)
    load_weights(model, str(weights))
    return model


def load_config(weights: str | Path, config_file: str | Path | None = None, opts: list[str] | None = None):
    """The config of a trained model: ``config_file``, or the ``config.yaml`` beside the weights, then ``opts``."""
    weights = Path(weights)
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: checkpoint not found")
    config_file = Path(config_file) if config_file else weights.parent / CONFIG_FILE
    if not config_file.is_file():
        raise FileNotFoundError(f"{config_file}: config not found (pass --config-file)")
    return setup_cfg(config_file, ["MODEL.DEVICE", "auto", *(opts or [])])


class Predictor:
    """(H, W, 3) uint8 RGB image -> detections on CPU in its pixels: ``boxes``, ``scores``, ``labels``,
    [``keypoints``, ``keypoints_scores``] and ``densepose`` (one ``DensePoseChartResult`` each)."""

    def __init__(self, cfg, model: torch.nn.Module, min_score: float = 0.0):
        self.model = model.eval()
        self.postprocess = build_postprocess(cfg).bind(model)
        self.device = next(model.parameters(), torch.empty(0)).device  # an exported graph has none: CPU
        self.sizes = (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)
        self.min_score = min_score

    @classmethod
    def from_checkpoint(cls, weights: str | Path, config_file: str | Path | None = None,
                        opts: list[str] | None = None, min_score: float = 0.0) -> Predictor:
        """A checkpoint with its config (``load_config``), an exported file with the config it carries, or a zoo model
        ``zoo:NAME`` (downloaded once, with its preset unless ``config_file``)."""
        weights, config_file = zoo.resolve(weights, config_file)
        if Path(weights).is_file() and is_exported(weights):
            cfg, model = load_exported(weights, opts)
            return cls(load_config(weights, config_file, opts) if config_file else cfg, model, min_score)
        cfg = load_config(weights, config_file, opts)
        return cls(cfg, build_trained_model(cfg, weights), min_score)

    def __call__(self, image: np.ndarray) -> dict:
        return self.predict([image])[0]

    @torch.no_grad()
    def predict(self, images: list[np.ndarray], render_sizes: list[tuple[int, int]] | None = None) -> list[dict]:
        """One network call on all ``images`` (the PyTorch model pads them to a common size, so a batch of
        several can differ slightly from one image at a time; an exported graph runs them one by one).

        With ``render_sizes`` ((H, W) per image), each output also holds ``"render"``: the same detections
        post-processed into a frame of that size (boxes scaled, maps resampled at the scaled boxes)."""
        resized = [resize_shortest_edge(image, *self.sizes) for image in images]
        tensors = [torch.tensor(r).permute(2, 0, 1).to(self.device).float().div(255) for r in resized]  # (3, h, w)
        with score_filter_before_densepose(self.model, self.min_score):  # the DensePose branch sees kept boxes only
            detections = self.model(tensors)
        outputs = []
        for index, (image, small, det) in enumerate(zip(images, resized, detections, strict=True)):
            keep = det["scores"] >= self.min_score
            det = {k: v[keep] for k, v in det.items()}
            out = self._finish(det, small.shape[:2], image.shape[:2])
            if render_sizes is not None:
                out["render"] = self._finish(det, small.shape[:2], render_sizes[index])
            outputs.append(out)
        return outputs

    def _finish(self, det: dict, input_size: tuple[int, int], size: tuple[int, int]) -> dict:
        """Post-process one image's detections into a (H, W) = ``size`` frame, on CPU."""
        (out,) = self.postprocess([det], [input_size], [size])
        out["densepose"] = [r.to("cpu") for r in out["densepose"]]
        return {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in out.items()}
