"""The training loop: SGD steps, AMP, gradient clipping, NaN guard, checkpoints, logging, evaluation.

Iterations are counted from 1: checkpoint ``model_0000010.pth`` holds the state after the 10th
optimizer step, and resuming from it runs step 11 next with the same data, the same random
numbers and the same learning rate as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ktn_model.config import RUN_CONFIG_FILE
from ktn_model.engine import distributed as comm
from ktn_model.engine.checkpoint import Checkpointer
from ktn_model.engine.events import MetricsWriter, flatten_metrics
from ktn_model.engine.solver import build_lr_scheduler, build_optimizer
from ktn_model.modeling.weights import load_checkpoint
from ktn_model.rng import get_rng_state, preserved_rng, seed_all, set_rng_state
from ktn_utils.atomic import atomic_write
from ktn_utils.progress import TrainProgress

# data_loader_fn(start_iter) -> an iterable of (images, targets) batches, positioned at start_iter.
DataLoaderFn = Callable[[int], Iterable]
# evaluate_fn(model) -> {"densepose_gps": {...}, ...}; called on the main process only.
EvaluateFn = Callable[[nn.Module], dict]


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; the message names the term and the iteration."""


def to_device(obj, device: torch.device):
    """Move the tensors of a nested list/tuple/dict structure to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


class Trainer:
    """Trains ``model`` (already on ``device``) for SOLVER.MAX_ITER iterations."""

    def __init__(self, cfg, model: nn.Module, data_loader_fn: DataLoaderFn, evaluate_fn: EvaluateFn | None = None):
        self.cfg = cfg
        self.model = model
        self.device = next(model.parameters()).device
        self.data_loader_fn = data_loader_fn
        self.evaluate_fn = evaluate_fn
        self.optimizer = build_optimizer(cfg, model)
        self.scheduler = build_lr_scheduler(cfg, self.optimizer)
        self.amp = bool(cfg.SOLVER.AMP) and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.checkpointer = Checkpointer(cfg.OUTPUT_DIR, cfg.SOLVER.MAX_TO_KEEP)
        self.iteration = 0
        self.last_lr = cfg.SOLVER.BASE_LR
        self.max_iter = cfg.SOLVER.MAX_ITER

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue exactly; RNG snapshots are gathered from every worker."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.amp else None,
            "iteration": self.iteration,
            "rng": comm.all_gather_object(get_rng_state()),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.amp and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.iteration = int(state["iteration"])
        rng = state.get("rng") or []
        if len(rng) == comm.get_world_size():
            set_rng_state(rng[comm.get_rank()])
        else:  # a different number of workers: the data order is kept, the random streams restart
            seed_all(self.cfg.SEED + comm.get_rank() + self.iteration)

    def resume(self) -> Path | None:
        """Load the newest checkpoint in OUTPUT_DIR, if any; return its path."""
        path = self.checkpointer.latest()
        if path is not None:
            self.load_state_dict(load_checkpoint(path))
        return path

    # -- loop -----------------------------------------------------------------------------------
    def train(self) -> dict | None:
        """Run the remaining iterations; return the final evaluation (None without an evaluator).

        OUTPUT_DIR is written only once the data loader is built (its datasets read and checked):
        stale temp files are removed, config.yaml saved and metrics.jsonl cut back to this iteration.
        """
        net = self._wrap(self.model)
        net.train()
        with preserved_rng():  # creating a loader iterator draws a seed: keep the streams aligned
            batches = iter(self.data_loader_fn(self.iteration))
        writer = None
        if comm.is_main_process():
            self.checkpointer.remove_stale_temp_files()
            self._save_config()
            writer = MetricsWriter(self.cfg.OUTPUT_DIR)
            writer.drop_after(self.iteration)
        bar = TrainProgress(self.max_iter, self.iteration) if comm.is_main_process() else None
        try:
            with bar or contextlib.nullcontext():
                self._loop(net, batches, writer, bar)
            return self._evaluate(writer)
        finally:
            if writer is not None:
                writer.close()

    def _loop(self, net: nn.Module, batches, writer: MetricsWriter | None, bar: TrainProgress | None) -> None:
        window_start, window_iter, window = time.perf_counter(), self.iteration, []
        period = max(int(self.cfg.SOLVER.LOG_PERIOD), 1)
        while self.iteration < self.max_iter:
            window.append(self.run_step(net, next(batches)))
            if self.iteration % period == 0 or self.iteration == self.max_iter:
                now = time.perf_counter()
                speed = (self.iteration - window_iter) / max(now - window_start, 1e-9)
                self._log(writer, bar, {k: sum(w[k] for w in window) / len(window) for k in window[0]}, speed)
                window_start, window_iter, window = now, self.iteration, []
            self._maybe_checkpoint()
            self._maybe_evaluate(writer)

    def run_step(self, net: nn.Module, batch) -> dict[str, float]:
        """One optimizer step on one batch; returns the loss terms averaged over workers."""
        images, targets = to_device(batch, self.device)
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp):
            loss_dict = net(list(images), list(targets))
        total = sum(loss_dict.values())
        reduced = comm.all_reduce_mean({**loss_dict, "total_loss": total})
        self._check_finite(reduced)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self._clip_gradients()
        self.last_lr = self.optimizer.param_groups[0]["lr"]
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.iteration += 1
        return reduced

    def _check_finite(self, losses: dict[str, float]) -> None:
        bad = [name for name in sorted(losses, key=lambda n: n == "total_loss") if not math.isfinite(losses[name])]
        if bad:
            name = bad[0]
            last = self.checkpointer.latest()
            kept = f"last good checkpoint: {last}" if last else "no checkpoint was written yet"
            raise NonFiniteLossError(
                f"{name} is {losses[name]} at iteration {self.iteration + 1}; training stopped ({kept})"
            )

    def _clip_gradients(self) -> None:
        """Per-parameter L2-norm clipping to CLIP_VALUE (detectron2 v0.2 "norm" type, docs/usage.md)."""
        if not self.cfg.SOLVER.CLIP_GRADIENTS.ENABLED:
            return
        self.scaler.unscale_(self.optimizer)
        for group in self.optimizer.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    torch.nn.utils.clip_grad_norm_(param, self.cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE)

    # -- side effects -----------------------------------------------------------------------------
    def _wrap(self, model: nn.Module) -> nn.Module:
        if comm.get_world_size() == 1:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)

    def _log(self, writer, bar, losses: dict[str, float], speed: float) -> None:
        """Record the loss terms averaged over the last LOG_PERIOD iterations, the LR and it/s."""
        if writer is None:
            return
        writer.write(self.iteration, {**losses, "lr": self.last_lr, "its_per_s": speed})
        bar.update(self.iteration, speed, self.last_lr, losses)

    def _maybe_checkpoint(self) -> None:
        final = self.iteration == self.max_iter
        if not final and self.iteration % self.cfg.SOLVER.CHECKPOINT_PERIOD:
            return
        state = self.state_dict()  # collective: every worker takes part
        if comm.is_main_process():
            self.checkpointer.save(state, final=final)
        comm.barrier()

    def _maybe_evaluate(self, writer) -> None:
        period = self.cfg.TEST.EVAL_PERIOD
        if period > 0 and self.iteration % period == 0 and self.iteration != self.max_iter:
            self._evaluate(writer)

    def _evaluate(self, writer) -> dict | None:
        """Evaluate on the main process without touching the training random streams."""
        results = None
        if self.evaluate_fn is not None and comm.is_main_process():
            self.model.eval()
            with preserved_rng(), torch.no_grad():
                results = self.evaluate_fn(self.model)
            self.model.train()
            writer.write(self.iteration, flatten_metrics(results))
        comm.barrier()
        return results

    def _save_config(self) -> None:
        path = Path(self.cfg.OUTPUT_DIR) / RUN_CONFIG_FILE
        atomic_write(path, lambda f: f.write(self.cfg.dump().encode()))
