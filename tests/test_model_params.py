"""Parameter counts per block against docs/method.md, "Parameter budget".

Built on the meta device: no memory, no init cost.
"""

import pytest
import torch

from ktn_model.modeling.heads.ktn import DensePoseKTNHead
from ktn_model.modeling.ktm import KnowledgeTransformer
from ktn_model.modeling.mid import MIDv2
from ktn_model.modeling.predictors.ktn import KTNPredictor


def _count(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


@pytest.mark.parametrize(("build", "millions"), [
    (lambda: MIDv2(256, 256, 256), 14.89),
    (lambda: DensePoseKTNHead(256, 512, 8), 18.62),
    (lambda: KnowledgeTransformer(8192 + 1024 + 8192, 8192), 209.73),
])
def test_parameter_count_matches_the_budget(build, millions):
    with torch.device("meta"):
        module = build()
    assert _count(module) == pytest.approx(millions, rel=0.01)


def test_predictor_deconvs_match_the_budget():
    with torch.device("meta"):
        predictor = KTNPredictor(512, ktm=None)
    assert _count(predictor) - _count(predictor.i_lowres) == pytest.approx(0.69, rel=0.01)
