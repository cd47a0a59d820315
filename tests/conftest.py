"""Shared fixtures."""

import pytest

from ktn_model.data import synthetic

SYNTH_IMAGES = 12


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory):
    """A synthetic DensePose-COCO set (``SYNTH_IMAGES`` images, seed 3), generated once per test session."""
    out = tmp_path_factory.mktemp("synth")
    synthetic.generate(out, SYNTH_IMAGES, seed=3)
    return out
