"""Options of the commands that run a trained model (``infer``, ``texture``, ``smpl``): weights, config, score."""

from __future__ import annotations

import typer

from ktn_cli.options import ranged
from ktn_model.inference.defaults import DEFAULT_MIN_SCORE

WEIGHTS_HELP = ("Checkpoint: ours (model_*.pth), a detectron2 model-zoo .pkl or a KTN-release .pth (the format is "
                "detected from the content), a `ktn export` file: .onnx (run by onnxruntime) or TorchScript, or "
                "zoo:NAME (`ktn models`; downloaded once into KTN_CACHE, with its preset).")
CONFIG_HELP = ("Config of the model: a file or a shipped preset, e.g. "
               "configs/detectron2/densepose_rcnn_R_50_FPN_s1x.yaml (default: config.yaml beside the weights).")
INPUTS_HELP = "Image files, folders, glob patterns or video files."
MIN_SCORE = ranged(DEFAULT_MIN_SCORE, "--min-score", low=0.0, high=1.0,
                   help="Keep detections with at least this score, in [0, 1] (0 keeps every detection).")
WEIGHTS = typer.Option(..., "--weights", help=WEIGHTS_HELP)
CONFIG_FILE = typer.Option(None, "--config-file", help=CONFIG_HELP)
