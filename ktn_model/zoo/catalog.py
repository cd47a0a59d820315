"""The DensePose models of detectron2's model zoo (``DENSEPOSE_IUV.md`` and the human rows of ``DENSEPOSE_CSE.md``):
name, model id, file and published metrics, as the presets' headers state them (docs/pretrained.md, "Model zoo").

A model's name is detectron2's config path without ``.yaml`` and the path of its preset under
``configs/detectron2/``; its file is ``KTN_ZOO_URL``/NAME/MODEL_ID/FILE (default: detectron2's download site).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass

DEFAULT_ZOO_URL = "https://dl.fbaipublicfiles.com/densepose"
ZOO_URL_ENV = "KTN_ZOO_URL"  # another mirror of the same layout (the tests' local server)
PREFIX = "zoo:"


@dataclass(frozen=True)
class ZooModel:
    """One model: ``box_ap``, ``gps_ap``, ``gpsm_ap`` as published (DensePose-COCO minival; DensePose Chimps for the
    evolution models); ``values`` the number of values in its checkpoint (4 bytes each)."""

    name: str
    model_id: int
    file: str
    box_ap: float
    gps_ap: float
    gpsm_ap: float
    values: int

    @property
    def preset(self) -> str:
        """The shipped preset (``ktn_model.resources.resolve_config``)."""
        return f"detectron2/{self.name}.yaml"

    @property
    def url(self) -> str:
        return f"{os.environ.get(ZOO_URL_ENV, DEFAULT_ZOO_URL).rstrip('/')}/{self.name}/{self.model_id}/{self.file}"

    @property
    def task(self) -> str:
        if self.name.startswith("cse/"):
            return "CSE"
        return "chart + confidence" if "_WC" in self.name else "chart"

    @property
    def backbone(self) -> str:
        depth = "R-101" if "R_101" in self.name else "R-50"
        return f"{depth} FPN, {'DeepLab' if '_DL_' in self.name else 'V1ConvX'} head"

    @property
    def size_mb(self) -> float:
        """The checkpoint's approximate size: its float32 values."""
        return self.values * 4 / 1e6


MODELS: tuple[ZooModel, ...] = (
    ZooModel("densepose_rcnn_R_50_FPN_s1x_legacy", 164832157, "model_final_d366fa.pkl", 58.1, 52.1, 54.9, 59837487),
    ZooModel("densepose_rcnn_R_101_FPN_s1x_legacy", 164832182, "model_final_10af0e.pkl", 59.5, 53.2, 56.0, 78881839),
    ZooModel("densepose_rcnn_R_50_FPN_s1x", 165712039, "model_final_162be9.pkl", 61.2, 63.7, 65.3, 63927330),
    ZooModel("densepose_rcnn_R_101_FPN_s1x", 165712084, "model_final_c6ab63.pkl", 62.3, 64.5, 66.2, 82971682),
    ZooModel("densepose_rcnn_R_50_FPN_DL_s1x", 165712097, "model_final_0ed407.pkl", 61.1, 65.6, 66.7, 66162210),
    ZooModel("densepose_rcnn_R_101_FPN_DL_s1x", 165712116, "model_final_844d15.pkl", 62.3, 66.3, 67.6, 85206562),
    ZooModel("densepose_rcnn_R_50_FPN_WC1_s1x", 173862049, "model_final_289019.pkl", 60.5, 64.2, 65.4, 64132155),
    ZooModel("densepose_rcnn_R_50_FPN_WC2_s1x", 173861455, "model_final_3abe14.pkl", 60.7, 64.2, 65.7, 64541805),
    ZooModel("densepose_rcnn_R_50_FPN_DL_WC1_s1x", 173067973, "model_final_b1e525.pkl", 61.1, 65.8, 67.0, 66367035),
    ZooModel("densepose_rcnn_R_50_FPN_DL_WC2_s1x", 173859335, "model_final_60fed4.pkl", 60.8, 65.6, 66.7, 66776685),
    ZooModel("densepose_rcnn_R_101_FPN_WC1_s1x", 171402969, "model_final_9e47f0.pkl", 62.5, 64.9, 66.3, 83176507),
    ZooModel("densepose_rcnn_R_101_FPN_WC2_s1x", 173860702, "model_final_5ea023.pkl", 62.3, 64.8, 66.4, 83586157),
    ZooModel("densepose_rcnn_R_101_FPN_DL_WC1_s1x", 173858525, "model_final_f359f3.pkl", 62.0, 66.2, 67.2, 85411387),
    ZooModel("densepose_rcnn_R_101_FPN_DL_WC2_s1x", 173294801, "model_final_6e1ed1.pkl", 61.7, 65.9, 67.2, 85821037),
    ZooModel("densepose_rcnn_R_50_FPN_WC1M_s1x", 217144516, "model_final_48a9d9.pkl", 60.6, 64.0, 65.4, 64148541),
    ZooModel("densepose_rcnn_R_50_FPN_WC2M_s1x", 216245640, "model_final_d79ada.pkl", 60.7, 64.2, 65.5, 64558191),
    ZooModel("densepose_rcnn_R_50_FPN_DL_WC1M_s1x", 216245703, "model_final_61971e.pkl", 60.7, 65.2, 66.7, 66383421),
    ZooModel("densepose_rcnn_R_50_FPN_DL_WC2M_s1x", 216245758, "model_final_7bfb43.pkl", 60.8, 65.0, 66.4, 66793071),
    ZooModel("densepose_rcnn_R_101_FPN_WC1M_s1x", 216453687, "model_final_0a7287.pkl", 62.0, 64.8, 66.0, 83192893),
    ZooModel("densepose_rcnn_R_101_FPN_WC2M_s1x", 216245682, "model_final_e354d9.pkl", 62.5, 64.5, 66.0, 83602543),
    ZooModel("densepose_rcnn_R_101_FPN_DL_WC1M_s1x", 216245771, "model_final_0ebeb3.pkl", 62.0, 66.4, 67.1, 85427773),
    ZooModel("densepose_rcnn_R_101_FPN_DL_WC2M_s1x", 216245790, "model_final_de6e7a.pkl", 61.9, 66.1, 67.1, 85837423),
    ZooModel("evolution/densepose_R_50_FPN_DL_WC1M_3x_Atop10P_CA", 217578784, "model_final_9fe1cc.pkl",
             61.3, 20.0, 30.2, 66383421),
    ZooModel("evolution/densepose_R_50_FPN_DL_WC1M_3x_Atop10P_CA_B_uniform", 256453729, "model_final_241ff5.pkl",
             60.9, 21.5, 31.0, 66383421),
    ZooModel("evolution/densepose_R_50_FPN_DL_WC1M_3x_Atop10P_CA_B_uv", 256452095, "model_final_d689e2.pkl",
             61.4, 22.2, 32.1, 66383421),
    ZooModel("evolution/densepose_R_50_FPN_DL_WC1M_3x_Atop10P_CA_B_finesegm", 256452819, "model_final_cb4ac6.pkl",
             60.9, 20.7, 30.7, 66383421),
    ZooModel("evolution/densepose_R_50_FPN_DL_WC1M_3x_Atop10P_CA_B_coarsesegm", 256455697, "model_final_a6a4bf.pkl",
             61.3, 21.5, 31.6, 66383421),
    ZooModel("cse/densepose_rcnn_R_50_FPN_s1x", 251155172, "model_final_c4ea5f.pkl", 61.1, 64.4, 65.7, 70501863),
    ZooModel("cse/densepose_rcnn_R_101_FPN_s1x", 251155500, "model_final_5c995f.pkl", 62.3, 64.7, 65.8, 89546215),
    ZooModel("cse/densepose_rcnn_R_50_FPN_DL_s1x", 251156349, "model_final_e96218.pkl", 60.8, 65.5, 66.4, 72736743),
    ZooModel("cse/densepose_rcnn_R_101_FPN_DL_s1x", 251156606, "model_final_b236ce.pkl", 61.5, 65.6, 66.6, 91781095),
    ZooModel("cse/densepose_rcnn_R_50_FPN_soft_s1x", 250533982, "model_final_2c4512.pkl", 61.3, 64.3, 65.4, 70501863),
    ZooModel("cse/densepose_rcnn_R_101_FPN_soft_s1x", 250712522, "model_final_4637da.pkl", 62.1, 64.5, 66.0, 89546215),
    ZooModel("cse/densepose_rcnn_R_50_FPN_DL_soft_s1x", 250713703, "model_final_9199f5.pkl",
             60.8, 66.1, 66.7, 72736743),
    ZooModel("cse/densepose_rcnn_R_101_FPN_DL_soft_s1x", 250713061, "model_final_1d3314.pkl",
             61.5, 66.2, 67.1, 91781095),
)


def find(name: str) -> ZooModel:
    """The model called ``name`` (with or without ``zoo:``); ValueError listing close names otherwise."""
    name = name.removeprefix(PREFIX)
    for model in MODELS:
        if model.name == name:
            return model
    names = [m.name for m in MODELS]
    close = difflib.get_close_matches(name, names, n=4, cutoff=0.6) or difflib.get_close_matches(
        name, [n.rsplit("/", 1)[-1] for n in names], n=4, cutoff=0.6)
    hint = f"close names: {', '.join(close)}" if close else "no close name"
    raise ValueError(f"{PREFIX}{name}: not a model of the zoo; {hint} (`ktn models` lists them)")
