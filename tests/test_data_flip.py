"""Horizontal flip with the DensePose symmetries on synthetic annotations.

See docs/densepose_format.md, "Horizontal flip".
"""

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from ktn_model.config import get_cfg, setup_cfg
from ktn_model.data import synthetic
from ktn_model.data.catalog import resolve
from ktn_model.data.dataset import DensePoseCocoDataset
from ktn_model.data.meta import KEYPOINT_FLIP, MASK_LABEL_SYMMETRIES, POINT_LABEL_SYMMETRIES
from ktn_model.data.transforms import build_uv_symmetry, flip_points, hflip, load_uv_symmetry

PRESETS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth_flip")
    synthetic.generate(out, 4, seed=11)
    dataset = DensePoseCocoDataset(resolve(f"{out}/annotations.json:{out}/images"))
    return out, dataset


def _dense_sample(dataset):
    for index in range(len(dataset)):
        image, target = dataset[index]
        if target["dp_valid"].sum() >= 2:
            return image, target
    raise AssertionError("no image with two DensePose persons")


def test_flip_maps_points_labels_masks_and_keypoints(synth):
    out, dataset = synth
    sym = load_uv_symmetry(out / "UV_symmetry_transforms.mat")
    image, target = _dense_sample(dataset)
    width = image.shape[-1]
    f_image, flipped = hflip(image, target, sym)
    assert torch.equal(f_image, image.flip(-1))
    assert torch.equal(flipped["boxes"][:, 0], width - target["boxes"][:, 2])
    assert torch.equal(flipped["boxes"][:, 1::2], target["boxes"][:, 1::2])
    for before, after in zip(target["dp_points"], flipped["dp_points"], strict=True):
        assert torch.equal(after[:, 0], 256 - before[:, 0]) and torch.equal(after[:, 1], before[:, 1])
        assert after[:, 2].tolist() == [POINT_LABEL_SYMMETRIES[int(i)] for i in before[:, 2]]
        # the synthetic body mirrors (U, V) -> (1 - U, V), quantised to table cell centres
        assert (after[:, 3] - (1 - before[:, 3])).abs().max() <= 0.5 / 255 + 1e-6
        assert (after[:, 4] - before[:, 4]).abs().max() <= 0.5 / 255 + 1e-6
    relabel = torch.tensor(MASK_LABEL_SYMMETRIES, dtype=torch.uint8)
    assert torch.equal(flipped["dp_masks"], relabel[target["dp_masks"].long()].flip(-1))
    assert torch.equal(flipped["keypoints"][:, :, 1:], target["keypoints"][:, list(KEYPOINT_FLIP), 1:])
    assert torch.equal(flipped["keypoints"][:, :, 0], width - target["keypoints"][:, list(KEYPOINT_FLIP), 0])
    assert flipped["keypoints"][0, 5, 0] == width - target["keypoints"][0, 6, 0]  # left shoulder <- right


def test_flipping_twice_is_the_identity(synth):
    out, dataset = synth
    sym = load_uv_symmetry(out / "UV_symmetry_transforms.mat")
    image, target = _dense_sample(dataset)
    twice_image, twice = hflip(*hflip(image, target, sym), sym)
    assert torch.equal(twice_image, image)
    for key in ("boxes", "keypoints", "dp_masks", "dp_valid", "labels"):
        assert torch.equal(twice[key], target[key]), key
    for before, after in zip(target["dp_points"], twice["dp_points"], strict=True):
        assert torch.equal(after[:, 1:3], before[:, 1:3])
        assert (after[:, 0] - before[:, 0]).abs().max() < 1e-4  # 256 - (256 - x) rounds in float32
        assert (after[:, 3:] - before[:, 3:]).abs().max() <= 0.5 / 255 + 1e-6  # U, V quantised once
    four = hflip(*hflip(twice_image, twice, sym), sym)[1]
    assert all(torch.equal(a, b) for a, b in zip(four["dp_points"], twice["dp_points"], strict=True))


def test_uv_lookup_uses_the_original_patch_table(tmp_path):
    rng = np.random.default_rng(0)
    tables = {key: np.empty((1, 24), dtype=object) for key in ("U_transforms", "V_transforms")}
    for key in tables:
        for p in range(24):
            tables[key][0, p] = rng.random((256, 256))
    scipy.io.savemat(tmp_path / "uv.mat", tables)
    sym = load_uv_symmetry(tmp_path / "uv.mat")
    points = torch.tensor([[10.0, 20.0, 3.0, 0.5, 0.25], [200.0, 1.0, 24.0, 1.0, 0.0]])
    out = flip_points(points, sym)
    u, v = tables["U_transforms"][0], tables["V_transforms"][0]
    assert out[:, :3].tolist() == [[246.0, 20.0, 4.0], [56.0, 1.0, 23.0]]
    assert out[0, 3] == pytest.approx(u[2][63, 127]) and out[0, 4] == pytest.approx(v[2][63, 127])
    assert out[1, 3] == pytest.approx(u[23][0, 255]) and out[1, 4] == pytest.approx(v[23][0, 255])


def test_flipping_needs_the_symmetry_file_unless_turned_off(tmp_path):
    cfg = get_cfg()
    assert cfg.INPUT.HFLIP_TRAIN
    with pytest.raises(ValueError, match=r"INPUT.UV_SYMMETRY_FILE is not set but INPUT.HFLIP_TRAIN is on") as err:
        build_uv_symmetry(cfg)
    assert "densepose_uv_data.tar.gz" in str(err.value) and "\n" not in str(err.value)
    cfg.INPUT.UV_SYMMETRY_FILE = str(tmp_path / "missing.mat")
    with pytest.raises(FileNotFoundError) as err:
        build_uv_symmetry(cfg)
    assert str(err.value) == (
        f"{tmp_path / 'missing.mat'}: UV symmetry file not found (INPUT.UV_SYMMETRY_FILE), needed for horizontal "
        "flips; it is UV_data/UV_symmetry_transforms.mat of https://dl.fbaipublicfiles.com/densepose/"
        "densepose_uv_data.tar.gz (also at https://dl.fbaipublicfiles.com/densepose/data/UV_symmetry_transforms.mat)"
        "; or set INPUT.HFLIP_TRAIN False to train without horizontal flips"
    )
    (tmp_path / "bad.mat").write_bytes(b"not a mat file")
    cfg.INPUT.UV_SYMMETRY_FILE = str(tmp_path / "bad.mat")
    with pytest.raises(ValueError, match="bad.mat"):
        build_uv_symmetry(cfg)
    cfg.INPUT.HFLIP_TRAIN = False  # explicitly off: no file needed, no flips
    assert build_uv_symmetry(cfg) is None


@pytest.mark.parametrize("preset", sorted(p.name for p in PRESETS.glob("*.yaml") if not p.name.startswith("Base")))
def test_every_preset_flips_with_the_densepose_download(preset):
    cfg = setup_cfg(PRESETS / preset)
    assert cfg.INPUT.HFLIP_TRAIN
    assert cfg.INPUT.UV_SYMMETRY_FILE == "datasets/UV_data/UV_symmetry_transforms.mat"
