"""Shared fixtures."""

import pytest
import torch

from ktn_model.config import setup_cfg
from ktn_model.data import synthetic
from ktn_model.modeling import build_model

SYNTH_IMAGES = 12


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory):
    """A synthetic DensePose-COCO set (``SYNTH_IMAGES`` images, seed 3), generated once per test session."""
    out = tmp_path_factory.mktemp("synth")
    synthetic.generate(out, SYNTH_IMAGES, seed=3)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny-preset checkpoint (random weights, seed 0) with its config.yaml beside it: (path, model, cfg)."""
    out = tmp_path_factory.mktemp("ckpt")
    cfg = setup_cfg("configs/ktn_tiny_cpu.yaml", ["OUTPUT_DIR", str(out)])
    torch.manual_seed(0)
    model = build_model(cfg)
    torch.save({"model": model.state_dict(), "iteration": 0}, out / "model_final.pth")
    (out / "config.yaml").write_text(cfg.dump())
    return out / "model_final.pth", model, cfg
