import random

import numpy as np
import pytest
import torch

from ktn_model.engine.checkpoint import Checkpointer
from ktn_model.modeling.weights import load_checkpoint
from ktn_model.rng import get_rng_state, preserved_rng, set_rng_state


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_keeps_the_last_k_and_points_to_the_newest(tmp_path):
    ckpt = Checkpointer(tmp_path, max_to_keep=2)
    for it in (10, 20, 30):
        ckpt.save({"iteration": it, "w": torch.tensor([float(it)])})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last_checkpoint", "model_0000020.pth", "model_0000030.pth"]
    assert ckpt.latest() == tmp_path / "model_0000030.pth"
    final = ckpt.save({"iteration": 35, "w": torch.tensor([35.0])}, final=True)
    assert final.name == "model_final.pth" and ckpt.latest() == final
    assert load_checkpoint(final)["w"].item() == 35.0


def test_no_checkpoint_and_bad_files_are_named(tmp_path):
    assert Checkpointer(tmp_path).latest() is None
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        load_checkpoint(tmp_path / "nothing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth: not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pth")
    (tmp_path / "last_checkpoint").write_text("model_0000005.pth\n")
    with pytest.raises(FileNotFoundError, match="model_0000005.pth"):
        Checkpointer(tmp_path).latest()


def test_a_failed_write_leaves_no_partial_file(tmp_path):
    with pytest.raises(AttributeError, match="pickle"):
        Checkpointer(tmp_path).save({"iteration": 1, "bad": lambda: 0})
    assert list(tmp_path.iterdir()) == []


def test_rng_state_survives_a_checkpoint_round_trip(tmp_path):
    Checkpointer(tmp_path).save({"iteration": 1, "rng": [get_rng_state()]})
    expected = _draws()
    set_rng_state(load_checkpoint(tmp_path / "model_0000001.pth")["rng"][0])
    assert _draws() == expected


def test_preserved_rng_leaves_the_streams_untouched():
    state = get_rng_state()
    expected = _draws()
    set_rng_state(state)
    with preserved_rng():
        _draws()
    assert _draws() == expected
