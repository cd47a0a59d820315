"""Every zoo model has a preset (configs/detectron2/NAME.yaml) whose header states the catalog's model id, file and
published AP; every preset builds (shapes only, on the meta device) with as many values as the catalog says, and its
state-dict names map one to one to detectron2's by rule, exactly its keys where a golden manifest has them."""

import json
import re

import pytest
import torch
from golden import GOLDEN

from ktn_model.config import setup_cfg
from ktn_model.modeling import build_model
from ktn_model.modeling.detectron2_layout import Detectron2Names
from ktn_model.resources import presets, resolve_config
from ktn_model.zoo.catalog import MODELS

# detectron2 presets that are not zoo models: its HRNet configs publish no DensePose weights
NOT_IN_ZOO = {"densepose_rcnn_HRFPN_HRNet_w32_s1x", "densepose_rcnn_HRFPN_HRNet_w40_s1x",
              "densepose_rcnn_HRFPN_HRNet_w48_s1x"}
MANIFESTS = {"densepose_rcnn_R_50_FPN_s1x": "R_50_FPN_s1x", "densepose_rcnn_R_101_FPN_DL_s1x": "R_101_FPN_DL_s1x",
             "densepose_rcnn_R_50_FPN_WC2M_s1x": "R_50_FPN_WC2M_s1x",
             "cse/densepose_rcnn_R_50_FPN_soft_s1x": "R_50_FPN_soft_s1x_cse"}
BACKGROUND_ROWS = 4 * 1024 + 4  # bbox_pred rows of ours that detectron2's checkpoints do not have


def test_the_zoo_is_every_detectron2_preset_and_the_counts_are_detectron2s():
    shipped = {p.removeprefix("detectron2/").removesuffix(".yaml") for p in presets() if p.startswith("detectron2/")}
    assert {m.name for m in MODELS} == shipped - NOT_IN_ZOO
    kinds = [m.task for m in MODELS]
    assert (len(MODELS), kinds.count("chart"), kinds.count("chart + confidence"), kinds.count("CSE")) == (35, 6, 21, 8)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_a_preset_states_its_zoo_model_builds_and_maps_by_rule(model):
    path = resolve_config(model.preset)
    header = path.read_text()
    assert f"model id {model.model_id}, file {model.file}." in header
    assert f"GPS AP {model.gps_ap}, GPSm AP {model.gpsm_ap}" in header and f"(box AP {model.box_ap})" in header
    cfg = setup_cfg(path, ["MODEL.DEVICE", "meta"])
    with torch.device("meta"):
        built = build_model(cfg)
    state = built.state_dict()
    assert sum(v.numel() for v in state.values()) - BACKGROUND_ROWS == model.values
    names = Detectron2Names(built)
    theirs = [names(k) for k in state]
    assert None not in theirs and len(set(theirs)) == len(theirs)
    if model.name in MANIFESTS:  # the exact key list of detectron2's state dict
        manifest = json.loads((GOLDEN / MANIFESTS[model.name] / "manifest.json").read_text())
        assert sorted(theirs) == sorted(manifest)
    predictor = built.roi_heads.densepose_predictor
    if "legacy" in model.name:
        assert predictor.ann_index_lowres.out_channels == 15 and not any(".decoder." in k for k in theirs)
    if model.task == "chart + confidence":
        uv = "kappa_u" if re.search(r"WC2M?_", model.name) else "sigma_2"
        assert uv in predictor.output_type.field_names()
        assert ("coarse_segm_confidence" in predictor.output_type.field_names()) == bool(re.search("WC.M", model.name))
    if model.name.startswith("evolution/"):
        assert built.roi_heads.box_roi_pool.aligned and built.roi_heads.box_roi_pool.sampling_ratio == 0
