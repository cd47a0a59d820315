"""CRKG arithmetic: rule matrix, count expansion, ColRowNorm, cosine, the two combination recipes, layout.

All matrices here are float64 numpy arrays. "Base" matrices are K×24 (node rows × DensePose surfaces
I = 1..24); :func:`release_layout` turns them into the released (rows, 25) layout. The formulas are
explained in docs/knowledge_graph.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .errors import KGError
from .vocabulary import Surface, TaskVocab

RECIPES = ("release", "paper")
# release recipe (docs/knowledge_graph.md, "Recipes"): overall factor per task and whether the rule term R is added
RELEASE_WEIGHTS = {"kpt": 0.3, "part": 0.3, "person": 0.5}
RELEASE_RULE_TERM = {"kpt": True, "part": True, "person": False}


@dataclass(frozen=True)
class Recipe:
    """How M_s, M_f and I are combined: ``release`` (the KTNv2 script) or ``paper`` (Eq. 3 with ω, τ)."""

    name: str = "release"
    omega: float = 0.5
    tau: float = 0.5

    def __post_init__(self) -> None:
        if self.name not in RECIPES:
            raise KGError(f"unknown recipe {self.name!r}; choose one of {', '.join(RECIPES)}")
        for key, value in (("omega", self.omega), ("tau", self.tau)):
            if not 0.0 <= value <= 1.0:
                raise KGError(f"--{key} must be in [0, 1], got {value}")

    def as_dict(self) -> dict:
        """Parameters recorded in the graph file (ω, τ only for the paper recipe)."""
        if self.name == "release":
            return {"name": "release"}
        return {"name": "paper", "omega": float(self.omega), "tau": float(self.tau)}


def rule_matrix(tv: TaskVocab) -> np.ndarray:
    """Identification rules I / R (the rule term): (K, 24), 1 where node k is composed with surface I = s.

    Built as float32 like the released script; it holds only 0/1, so the later float64 upcast is exact.
    """
    r = np.zeros((len(tv.nodes), 24), dtype=np.float32)
    for k, node in enumerate(tv.nodes):
        r[k, [s - 1 for s in node.rules]] = 1.0
    return r


def expand_counts(tv: TaskVocab, surfaces: tuple[Surface, ...], counts: Mapping[tuple[str, str], int]) -> np.ndarray:
    """Base-label counts F[a][b] → full (K, 24) matrix (side-group expansion).

    Node k receives F[base(k)][base(s)] in column s only when the side of surface s is one of the
    node's ``sides``; this reproduces the left/right-agnostic keypoint expansion and the upper/lower
    asymmetry of the released part graph.
    """
    out = np.zeros((len(tv.nodes), len(surfaces)), dtype=np.float64)
    for k, node in enumerate(tv.nodes):
        for s, surf in enumerate(surfaces):
            if surf.side in node.sides:
                out[k, s] = counts.get((node.base, surf.base), 0)
    return out


def col_row_norm(x: np.ndarray) -> np.ndarray:
    """ColRowNorm (release M_f): X_ij / sqrt(r_i · c_j) with row sums r and column sums c of X (R, C).

    The symmetric D^-1/2 A D^-1/2 normalisation. A zero row or column gives NaN (0/0), exactly as the
    released script; callers decide whether that is an error.
    """
    r = x.sum(axis=1)
    c = x.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return x / np.sqrt(np.outer(r, c))


def rescale_unit(x: np.ndarray) -> np.ndarray:
    """Paper recipe M_f (Eq. 2 "rescaled into (0,1)"): counts divided by their maximum; all-zero stays 0."""
    peak = x.max(initial=0.0)
    return x / peak if peak > 0 else np.zeros_like(x)


def cosine(e2d: np.ndarray, es: np.ndarray) -> np.ndarray:
    """M_s / Cos (Eq. 1): (E2D E_Sᵀ) / (‖E2D‖ ‖E_S‖ᵀ) for E2D (K, D), E_S (S, D) → (K, S).

    Norms are per-row L2 norms. A zero-norm phrase (possible only with ``--oov zero``) gets cosine 0.
    """
    num = np.matmul(e2d, es.T)
    den = np.outer(np.sqrt((e2d * e2d).sum(axis=1)), np.sqrt((es * es).sum(axis=1)))
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def combine(
    recipe: Recipe, task: str, m_s: np.ndarray, m_f: np.ndarray | None, rules: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Combined (K, 24) matrix and the rule term actually used (None when the recipe has none).

    release: w·((M_f + M_s) + R) with w = 0.3 (kpt, part), 0.5·(M_f + M_s) for person.
    paper (Eq. 2-3): ω·M_s + τ·(M_f ⊙ I). Without Visual Genome the M_f term is dropped.
    """
    if recipe.name == "release":
        total = m_s if m_f is None else m_f + m_s
        used = rules if RELEASE_RULE_TERM[task] else None
        if used is not None:
            total = total + used
        return total * RELEASE_WEIGHTS[task], used
    total = recipe.omega * m_s
    if m_f is not None:
        total = total + recipe.tau * (m_f * rules)
    return total, rules


def release_layout(tv: TaskVocab, base: np.ndarray) -> np.ndarray:
    """(K, 24) → release layout: zero background column, zero leading rows, repeated rows.

    kpt (17, 24) → (17, 25); part (14, 24) → (15, 25); person (1, 24) → (6, 25).
    """
    out = np.concatenate([np.zeros((base.shape[0], 1)), base], axis=1)
    if tv.leading_rows:
        out = np.concatenate([np.zeros((len(tv.leading_rows), out.shape[1])), out], axis=0)
    if tv.repeat_rows:
        out = np.repeat(out, len(tv.repeat_rows), axis=0)
    return out
