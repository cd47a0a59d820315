"""The U/V negative log-likelihoods of the confidence models (docs/confidence.md, "Losses"; Neverova et al.,
NeurIPS 2019), summed over the points. Residuals δ = (u − u*, v − v*), σ² = softplus(sigma_2) + ε. The constant
is detectron2's, ½ log 2π per point (the bivariate density's is log 2π): the values match detectron2's losses and
no gradient depends on it."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def iid_isotropic_nll(du: Tensor, dv: Tensor, sigma_2: Tensor, epsilon: float) -> Tensor:
    """Σ ½ (log 2π + 2 log σ² + |δ|² / σ²) for Σ = σ² I ("iid_iso"); every argument (P,)."""
    var = F.softplus(sigma_2) + epsilon
    return (0.5 * (LOG_2PI + 2 * torch.log(var) + (du**2 + dv**2) / var)).sum()


def indep_anisotropic_nll(du: Tensor, dv: Tensor, sigma_2: Tensor, kappa_u: Tensor, kappa_v: Tensor,
                          epsilon: float) -> Tensor:
    """Σ ½ (log 2π + log σ²(σ² + |r|²) + |δ|² / σ² − ⟨δ, r⟩² / (σ²(σ² + |r|²))) for Σ = σ² I + r rᵀ,
    r = (kappa_u, kappa_v) ("indep_aniso"); every argument (P,)."""
    var = F.softplus(sigma_2) + epsilon
    det = var * (var + kappa_u**2 + kappa_v**2)
    dot = du * kappa_u + dv * kappa_v
    return (0.5 * (LOG_2PI + torch.log(det) + (du**2 + dv**2) / var - dot**2 / det)).sum()
