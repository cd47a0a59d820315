"""SGD with per-group weight decay, and the warm-up + multi-step LR schedule (docs/method.md, "Training schedule")."""

from __future__ import annotations

import bisect

import torch
from torch import nn

# Normalisation layers whose affine parameters get SOLVER.WEIGHT_DECAY_NORM instead of WEIGHT_DECAY.
NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.LocalResponseNorm,
    nn.modules.instancenorm._InstanceNorm,
)


def build_optimizer(cfg, model: nn.Module) -> torch.optim.SGD:
    """SGD over the trainable parameters: norm-layer parameters in their own weight-decay group.

    Biases share the LR and decay of the weights (BIAS_LR_FACTOR 1 in the released config).
    """
    norm_params, other_params = _split_norm_params(model)
    groups = [
        {"params": other_params, "weight_decay": cfg.SOLVER.WEIGHT_DECAY},
        {"params": norm_params, "weight_decay": cfg.SOLVER.WEIGHT_DECAY_NORM},
    ]
    groups = [g for g in groups if g["params"]]
    return torch.optim.SGD(groups, lr=cfg.SOLVER.BASE_LR, momentum=cfg.SOLVER.MOMENTUM)


def _split_norm_params(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Trainable parameters split into (those of normalisation layers, all others), each once."""
    norm, other, seen = [], [], set()
    for module in model.modules():
        bucket = norm if isinstance(module, NORM_TYPES) else other
        for param in module.parameters(recurse=False):
            if param.requires_grad and id(param) not in seen:
                seen.add(id(param))
                bucket.append(param)
    return norm, other


class WarmupMultiStepLR(torch.optim.lr_scheduler.LRScheduler):
    """LR = base · warm-up(it) · gamma^(number of steps ≤ it), stepped once per iteration.

    The warm-up factor rises linearly from ``warmup_factor`` at iteration 0 to 1 at
    ``warmup_iters``. Stateless apart from ``last_epoch`` (the iteration), so resuming is exact.
    """

    def __init__(self, optimizer, steps, gamma=0.1, warmup_iters=1000, warmup_factor=0.1, last_epoch=-1):
        if list(steps) != sorted(steps):
            raise ValueError(f"SOLVER.STEPS must be increasing, got {list(steps)}")
        self.steps = list(steps)
        self.gamma = gamma
        self.warmup_iters = warmup_iters
        self.warmup_factor = warmup_factor
        super().__init__(optimizer, last_epoch)

    def lr_factor(self, iteration: int) -> float:
        """The multiplier applied to each group's base LR at ``iteration``."""
        decay = self.gamma ** bisect.bisect_right(self.steps, iteration)
        if iteration >= self.warmup_iters:
            return decay
        alpha = iteration / self.warmup_iters
        return decay * (self.warmup_factor * (1 - alpha) + alpha)

    def get_lr(self) -> list[float]:
        factor = self.lr_factor(self.last_epoch)
        return [base_lr * factor for base_lr in self.base_lrs]


def build_lr_scheduler(cfg, optimizer: torch.optim.Optimizer) -> WarmupMultiStepLR:
    """The schedule named by SOLVER.STEPS / GAMMA / WARMUP_ITERS / WARMUP_FACTOR."""
    return WarmupMultiStepLR(
        optimizer,
        steps=cfg.SOLVER.STEPS,
        gamma=cfg.SOLVER.GAMMA,
        warmup_iters=cfg.SOLVER.WARMUP_ITERS,
        warmup_factor=cfg.SOLVER.WARMUP_FACTOR,
    )
