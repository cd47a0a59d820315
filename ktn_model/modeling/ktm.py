"""KTM, the knowledge transfer machine (docs/method.md, "KTM"): the I classifier W_s generated from the
weights of the 2D parsers (keypoints, box classifier, coarse parts) mixed by the CRKG matrices.

    Wa_n = A_n · W_n                         (25 × D_n) per parser n, in the order kpt | loc | part
    W_s  = Lin2(LeakyReLU(Lin1(concat_n Wa_n)))   (25 × c_in·k·k), the paper's Eq. 4
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn

import ktn_kg
from ktn_model.resources import resolve_graph

from .layers import msra_fill

PARSERS = ("kpt", "loc", "part")
# KTM variant -> the parsers it transfers from; "v1" is KTNv1 (keypoints only).
VARIANTS = {"v2": PARSERS, "v1": ("kpt",)}
# ktn_kg graph task name of each parser's CRKG matrix.
GRAPH_TASKS = {"kpt": "kpt", "loc": "person", "part": "part"}


def deconv_rows(weight: Tensor) -> Tensor:
    """ConvTranspose2d weight (c_in, C, k, k) -> classifier rows (C, c_in·k·k), flattened (c_in, kh, kw)."""
    return weight.transpose(0, 1).flatten(1)


def rows_to_deconv(rows: Tensor, c_in: int) -> Tensor:
    """Classifier rows (C, c_in·k·k) -> ConvTranspose2d weight (c_in, C, k, k); inverse of ``deconv_rows``."""
    k = int(round((rows.shape[1] // c_in) ** 0.5))
    return rows.reshape(rows.shape[0], c_in, k, k).transpose(0, 1)


@torch.no_grad()
def location_rows(box_predictor: nn.Module) -> Tensor:
    """W_loc (6, FC_DIM), detached: [cls_score person, cls_score background, bbox_pred person dx..dh].

    See docs/method.md, "The 2D parsers' weights W_n".
    """
    cls, box = box_predictor.cls_score.weight, box_predictor.bbox_pred.weight
    return torch.cat([cls[1:2], cls[0:1], box[4:8]]).clone()


class KnowledgeTransformer(nn.Sequential):
    """Linear(d_in, hidden) -> LeakyReLU(slope) -> Linear(hidden, d_out), MSRA-filled: (25, d_in) -> (25, d_out)."""

    def __init__(self, d_in: int, d_out: int, hidden: int = 0, slope: float = 0.02):
        hidden = hidden or d_out
        super().__init__(msra_fill(nn.Linear(d_in, hidden)), nn.LeakyReLU(slope), msra_fill(nn.Linear(hidden, d_out)))


class KTM(nn.Module):
    """W_s (25, d_out) from parser rows ``{n: (|C_n|, D_n)}``; parsers are transferred in ``PARSERS`` order.

    ``graphs``: CRKG matrices in the release layout (|C_n|, 25), float64 numpy or tensors; they become the
    trainable (unless ``trainable`` is False) parameters A_n = graph.T as float32 (25, |C_n|)
    (docs/method.md, "The CRKG").
    ``dims``: D_n per parser.
    """

    def __init__(self, graphs: Mapping[str, np.ndarray | Tensor], dims: Mapping[str, int], d_out: int,
                 hidden: int = 0, slope: float = 0.02, trainable: bool = True):
        super().__init__()
        self.parsers = [n for n in PARSERS if n in graphs]
        if sorted(self.parsers) != sorted(graphs):
            raise ValueError(f"KTM parsers must be among {PARSERS}, got {sorted(graphs)}")
        self.A = nn.ParameterDict({
            n: nn.Parameter(torch.as_tensor(np.asarray(graphs[n]), dtype=torch.float32).T.contiguous(),
                            requires_grad=trainable)
            for n in self.parsers
        })
        self.transformer = KnowledgeTransformer(sum(dims[n] for n in self.parsers), d_out, hidden, slope)

    def forward(self, rows: Mapping[str, Tensor]) -> Tensor:
        for n in self.parsers:
            if rows[n].shape[0] != self.A[n].shape[1]:
                raise ValueError(f"KTM {n}: CRKG has {self.A[n].shape[1]} rows, the parser {rows[n].shape[0]}")
        return self.transformer(torch.cat([self.A[n] @ rows[n] for n in self.parsers], dim=1))


def load_crkg(cfg, parsers: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The CRKG matrices (release layout, (|C_n|, 25)) of ``parsers``, from ``MODEL.ROI_DENSEPOSE_HEAD.GRAPH``.

    Only the matrices the KTM variant uses are read, so KTM v1 works with a keypoints-only v1 graph.
    """
    graph = ktn_kg.load_graph(resolve_graph(cfg.MODEL.ROI_DENSEPOSE_HEAD.GRAPH))
    return {parser: graph.matrix(GRAPH_TASKS[parser]) for parser in parsers}


def build_ktm(cfg, graphs: Mapping[str, np.ndarray] | None) -> KTM | None:
    """KTM from ``MODEL.ROI_DENSEPOSE_HEAD.KTM`` ("v2", "v1", "none" -> None); ``graphs`` default: the graph file."""
    head = cfg.MODEL.ROI_DENSEPOSE_HEAD
    if head.KTM == "none":
        return None
    if head.KTM not in VARIANTS:
        raise ValueError(f"MODEL.ROI_DENSEPOSE_HEAD.KTM must be v2, v1 or none, got {head.KTM!r}")
    parsers = VARIANTS[head.KTM]
    graphs = load_crkg(cfg, parsers) if graphs is None else graphs
    return ktm_from_graphs(cfg, {n: graphs[n] for n in parsers})


def ktm_from_graphs(cfg, graphs: Mapping[str, np.ndarray | Tensor]) -> KTM:
    """A KTM whose A_n start at ``graphs`` (release layout), sized by ``MODEL.ROI_DENSEPOSE_HEAD``, ``ROI_BOX_HEAD``."""
    head = cfg.MODEL.ROI_DENSEPOSE_HEAD
    d_head = head.CONV_HEAD_DIM * head.DECONV_KERNEL**2
    dims = {"kpt": d_head, "part": d_head, "loc": cfg.MODEL.ROI_BOX_HEAD.FC_DIM}
    return KTM(graphs, dims, d_head, head.KT_HIDDEN_DIM, head.KT_LEAKY_SLOPE, head.GRAPH_TRAINABLE)
