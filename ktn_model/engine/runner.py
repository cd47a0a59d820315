"""What ``ktn train`` runs in each worker: build the model, resume or initialise, train, evaluate."""

from __future__ import annotations

import functools

import torch

from ktn_model.engine import distributed as comm
from ktn_model.engine.checkpoint import Checkpointer
from ktn_model.engine.evaluator import evaluate_model, print_metrics
from ktn_model.engine.loader import train_batches
from ktn_model.engine.predictor import build_trained_model
from ktn_model.engine.rng import seed_all
from ktn_model.engine.trainer import Trainer
from ktn_model.modeling import build_model, load_weights


def build_trainer(cfg) -> Trainer:
    """A trainer for ``cfg`` in this worker: seeded model, sharded train data, evaluation on DATASETS.TEST."""
    seed_all(cfg.SEED + comm.get_rank())
    model = build_model(cfg)
    evaluate_fn = functools.partial(evaluate_model, cfg) if cfg.DATASETS.TEST else None
    return Trainer(cfg, model, functools.partial(train_batches, cfg), evaluate_fn)


def train_worker(cfg, resume: bool) -> dict | None:
    """Train (continuing from the newest checkpoint with ``resume``); print and return the final metrics."""
    if comm.is_main_process() and torch.cuda.is_available() and comm.device_type(cfg.MODEL.DEVICE) == "cpu":
        print("note: MODEL.DEVICE is cpu although CUDA is available; set MODEL.DEVICE cuda (or auto) to use it")
    trainer = build_trainer(cfg)
    start = trainer.resume() if resume else None
    if start is None:
        load_weights(trainer.model, cfg.MODEL.WEIGHTS)
    elif comm.is_main_process():
        print(f"resumed from {start} at iteration {trainer.iteration}")
    metrics = trainer.train()
    if metrics and comm.is_main_process():
        print_metrics(metrics, f"{cfg.OUTPUT_DIR} after {trainer.iteration} iterations")
    return metrics


def evaluate_worker(cfg, resume: bool) -> dict:
    """Evaluate MODEL.WEIGHTS (or, with ``resume``, the newest checkpoint in OUTPUT_DIR) and print the table."""
    weights = Checkpointer(cfg.OUTPUT_DIR).latest() if resume else None
    weights = weights or cfg.MODEL.WEIGHTS
    if not weights:
        raise ValueError("--eval-only needs a checkpoint: give MODEL.WEIGHTS path/to/model.pth")
    metrics = evaluate_model(cfg, build_trained_model(cfg, weights))
    print_metrics(metrics, f"{weights}")
    return metrics
