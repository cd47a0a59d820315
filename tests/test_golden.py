"""Same weights, same predictions: detectron2 0.6 DensePose and the released KTNv2 code (tests/data/golden).

Each fixture's checkpoint is regenerated in the original format, loaded through ``load_weights`` (the
``--weights`` path) and compared with the original code's outputs stage by stage: FPN features, proposals
(as a set), box-head outputs on the original proposals, final detections, raw DensePose maps and per-detection
results. Tolerances are the fixtures' suggested ones (10-100× the original code's own 1-vs-2-thread noise).
The default run checks one image per fixture and the DensePose branch on the top 20 detections; the
``slow`` tests run the whole ``Predictor`` on both images.
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np
import pytest
import torch
from golden import GOLDEN, expected, load_image, make_weights, sampled, write_detectron2_pkl, write_release_pth
from torchvision.models.detection.roi_heads import keypointrcnn_inference

from ktn_model.config import setup_cfg
from ktn_model.data.resize import resize_shortest_edge
from ktn_model.engine.predictor import Predictor, build_trained_model
from ktn_model.modeling.postprocess import DensePosePostProcess, box_size, rescale_detections, result_converter
from ktn_model.modeling.structures import CONFIDENCE_FIELDS

ROOT = GOLDEN.parents[2]
FIXTURES = {  # fixture -> (preset, checkpoint writer, keys of the expected arrays)
    "R_50_FPN_s1x": ("configs/detectron2/densepose_rcnn_R_50_FPN_s1x.yaml", write_detectron2_pkl, "d2"),
    "R_101_FPN_DL_s1x": ("configs/detectron2/densepose_rcnn_R_101_FPN_DL_s1x.yaml", write_detectron2_pkl, "d2"),
    "R_50_KTNv2": ("configs/release/ktnv2_R_50.yaml", write_release_pth, "ktn"),
    "HRNet_w32_KTNv2": ("configs/release/ktnv2_HRNet_w32.yaml", write_release_pth, "ktn"),
    "R_50_FPN_WC2M_s1x": ("configs/detectron2/densepose_rcnn_R_50_FPN_WC2M_s1x.yaml", write_detectron2_pkl, "d2"),
    "R_50_FPN_soft_s1x_cse": ("configs/detectron2/cse/densepose_rcnn_R_50_FPN_soft_s1x.yaml", write_detectron2_pkl,
                              "d2"),
}
KEYS = {
    "d2": dict(boxes="pred_boxes", scores="scores", logits="rpn_logits", M="dp_coarse_segm", I="dp_fine_segm",
               U="dp_u", V="dp_v", sigma_2="dp_sigma_2", kappa_u="dp_kappa_u", kappa_v="dp_kappa_v",
               fine_segm_confidence="dp_fine_segm_confidence", coarse_segm_confidence="dp_coarse_segm_confidence",
               E="dp_embedding"),
    "ktn": dict(boxes="det_boxes_xyxy", scores="det_scores", logits="rpn_objectness_logits", M="raw_coarse_segm_M",
                I="raw_fine_segm_I", U="raw_u", V="raw_v", S="raw_parts_S", K="raw_keypoint_K"),
}
TOP = 20  # detections whose DensePose results the fixtures hold
# max |ours - theirs| of the raw DensePose maps of the top 3: logits (M, I, S, K; the "M" confidence models' M and I
# are logits times a confidence; E, the CSE embeddings, reach 68 here) and regressed values (U, V, the confidences)
RAW_TOLERANCES = {"M": 1e-3, "I": 1e-3, "U": 1e-4, "V": 1e-4, "S": 1e-3, "K": 1e-3, "sigma_2": 1e-4, "kappa_u": 1e-4,
                  "kappa_v": 1e-4, "fine_segm_confidence": 1e-4, "coarse_segm_confidence": 1e-4, "E": 1e-3}
# box-sized confidences where the labels agree: |diff| <= 1e-4 + 1e-3 |value|, float16 storage (half a float16 step
# is 4.9e-4 |value|; the raw maps agree to 2.5e-5)
CONFIDENCE_ATOL, CONFIDENCE_RTOL = 1e-4, 1e-3


@pytest.fixture(scope="module", params=list(FIXTURES))
def golden_model(request, tmp_path_factory):
    """(fixture name, cfg, model) with the fixture's checkpoint loaded through ``load_weights``."""
    name = request.param
    preset, write, _ = FIXTURES[name]
    suffix = ".pth" if write is write_release_pth else ".pkl"
    path = write(make_weights(name), tmp_path_factory.mktemp(name) / f"golden{suffix}")
    graph = str(ROOT / "graphs" / "v2.pkl")
    cfg = setup_cfg(ROOT / preset, ["MODEL.DEVICE", "cpu", "MODEL.ROI_DENSEPOSE_HEAD.GRAPH", graph])
    model = build_trained_model(cfg, path).eval()
    path.unlink()
    yield name, cfg, model


@pytest.mark.parametrize("name", ["R_50_FPN_s1x", "R_101_FPN_DL_s1x"])
def test_weight_rule_reproduces_the_fixture_checksum(name):
    digest = hashlib.sha256()
    for array in make_weights(name).values():
        digest.update(np.ascontiguousarray(array, "<f4").tobytes())
    assert digest.hexdigest() == (GOLDEN / name / "weights_sha256.txt").read_text().strip()


def test_release_manifest_seeds_are_the_crc32_of_the_keys():
    import json

    manifest = json.loads((GOLDEN / "R_50_KTNv2" / "manifest.json").read_text())
    seeds = {k: e["seed"] for k, e in manifest.items() if "seed" in e}
    assert len(seeds) == 390 and all(s == zlib.crc32(k.encode()) for k, s in seeds.items())


@pytest.mark.parametrize("image", ["astronaut", "coffee"])
def test_pil_resize_is_detectron2s_resize(image):
    resized = resize_shortest_edge(load_image(image), 800, 1333)
    bgr = np.ascontiguousarray(resized[..., ::-1])
    assert hashlib.sha256(bgr.tobytes()).hexdigest() == str(expected("R_50_KTNv2", image)["input_resized_bgr_sha256"])


def stages(model, image: np.ndarray):
    """Features, proposals and the box head on the original code's proposals, for one resized image."""
    x = torch.tensor(resize_shortest_edge(image, 800, 1333)).permute(2, 0, 1).float().div(255)
    images, _ = model.transform([x])
    features = model.backbone(images.tensors)
    proposals, _ = model.rpn(images, features)
    return images, features, proposals[0]


@torch.no_grad()
def test_stage_by_stage_on_astronaut(golden_model):
    name, cfg, model = golden_model
    keys = KEYS[FIXTURES[name][2]]
    exp = expected(name, "astronaut")
    pixels = load_image("astronaut")
    images, features, proposals = stages(model, pixels)
    assert images.tensors.shape[-2:] == (800, 800)

    # FPN P2..P6 (HRFPN p1..p5), finest first: |diff| <= 1e-4 + 1e-4 |value|
    levels = sorted({k.split("_")[0] for k in exp if k[0] == "p" and k[1:].split("_")[0].isdigit()})
    for level, key in zip(levels, model.backbone.strides, strict=True):
        f = features[key][0] if exp[f"{level}_pos"].shape[1] == 3 else features[key]
        ours, theirs = sampled(f, exp, level)
        assert (np.abs(ours - theirs) <= 1e-4 + 1e-4 * np.abs(theirs)).all(), level

    # proposals as a set: each of theirs has one of ours within 0.01 px
    theirs = exp["rpn_boxes"]
    distance = np.abs(proposals.numpy()[:, None] - theirs[None]).max(-1)  # (ours, theirs)
    assert len(proposals) == len(theirs) and (distance.min(0) < 0.01).sum() >= 995

    # box head on their proposals, row by row (columns: theirs [person, background], ours [background, person])
    heads = model.roi_heads
    x = heads.box_head(heads.box_roi_pool(features, [torch.from_numpy(theirs)], images.image_sizes))
    logits, deltas = heads.box_predictor(x)
    np.testing.assert_allclose(logits.numpy()[:, [1, 0]], exp["box_cls_logits"], atol=1e-3, rtol=0)
    np.testing.assert_allclose(deltas.numpy()[:, 4:], exp["box_deltas"], atol=1e-4, rtol=0)

    # final detections from our own proposals: same count and order
    boxes, scores, _ = heads.postprocess_detections(*heads.box_predictor(
        heads.box_head(heads.box_roi_pool(features, [proposals], images.image_sizes))), [proposals], images.image_sizes)
    det = {"boxes": boxes[0], "scores": scores[0]}
    det = rescale_detections(det, images.image_sizes[0], pixels.shape[:2])
    assert len(det["boxes"]) == len(exp[keys["boxes"]])
    np.testing.assert_allclose(det["boxes"].numpy(), exp[keys["boxes"]], atol=1e-3, rtol=0)
    np.testing.assert_allclose(det["scores"].numpy(), exp[keys["scores"]], atol=1e-4, rtol=0)

    # DensePose branch on the top detections (their boxes in the resized frame)
    top = boxes[0][:TOP]
    raw, p_c = heads.densepose(features, [top], images.image_sizes)
    if "mid_Pc_pos" in exp:  # the MIDv2 map
        ours, theirs = sampled(p_c, exp, "mid_Pc")
        np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=1e-4)
    for field, atol in RAW_TOLERANCES.items():
        if f"{keys.get(field)}_pos" in exp:  # the maps the fixture holds; each must be one of ours
            ours, theirs = sampled(getattr(raw, field)[:3], exp, keys[field])
            np.testing.assert_allclose(ours, theirs, atol=atol, rtol=0, err_msg=field)
    if "mesh_vertex_embeddings_pos" in exp:  # normalize(features @ embeddings) of the CSE embedder
        ours, theirs = sampled(heads.densepose_predictor.embedder("smpl_27554"), exp, "mesh_vertex_embeddings")
        np.testing.assert_allclose(ours, theirs, atol=1e-6, rtol=0)
    if "W_s_pos" in exp:
        ours, theirs = sampled(heads.densepose_predictor.surface_weight(heads.box_predictor), exp, "W_s")
        np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
    if "K" in keys:  # keypoints from the K maps, in original pixels
        (kp,), _ = keypointrcnn_inference(raw.K, [top])
        kp = rescale_detections({"boxes": top, "keypoints": kp}, images.image_sizes[0], pixels.shape[:2])["keypoints"]
        np.testing.assert_allclose(kp[..., :2].numpy(), exp["det_keypoints"][:TOP, :, :2], atol=1e-3, rtol=0)
    convert, context = result_converter(type(raw)), DensePosePostProcess().bind(model).context
    results = [convert(raw[d], box_size(box), cfg.MODEL.ROI_DENSEPOSE_HEAD.FG_MASK_THRESHOLD,
                       **(context() if context else {})) for d, box in enumerate(det["boxes"][:TOP])]
    check_results(exp, results)


def check_results(exp: dict[str, np.ndarray], results: list) -> None:
    """Labels equal on >= 99.9 % of the pixels; U, V (and confidences) within the fixture's tolerance where the labels
    agree. CSE: the closest vertex equal on >= 99.9 % of the foreground pixels (ours or theirs)."""
    if "cse_vertices_00" in exp:
        return check_vertices(exp, results)
    pixels = differ = 0
    for d, result in enumerate(results):
        if f"chart_labels_{d:02d}" in exp:  # detectron2: labels and float16 U, V
            labels, uv = exp[f"chart_labels_{d:02d}"], exp[f"chart_uv_{d:02d}"].astype(np.float32)
            ours_labels, ours_uv, tol = result.labels.numpy(), result.uv.numpy(), 2e-3
        else:  # the release: [I, U·255, V·255] uint8, truncated
            iuv = exp[f"dp_result_{d:02d}"]
            labels, uv = iuv[0], iuv[1:].astype(np.int32)
            ours = result.iuv()
            ours_labels, ours_uv, tol = ours[0], ours[1:].astype(np.int32), 1
        assert ours_labels.shape == labels.shape, d
        same = ours_labels == labels
        pixels, differ = pixels + same.size, differ + int((~same).sum())
        assert np.abs(ours_uv - uv)[:, same].max(initial=0) <= tol, d
        for name, theirs in ((n, exp[f"chart_{n}_{d:02d}"]) for n in CONFIDENCE_FIELDS if f"chart_{n}_{d:02d}" in exp):
            theirs = theirs.astype(np.float32)
            error = np.abs(result.confidences[name].numpy() - theirs) - CONFIDENCE_RTOL * np.abs(theirs)
            assert error[same].max(initial=0) <= CONFIDENCE_ATOL, (name, d)
    assert differ <= 1e-3 * pixels, f"{differ} of {pixels} labels differ"


def check_vertices(exp: dict[str, np.ndarray], results: list) -> None:
    pixels = differ = 0
    for d, result in enumerate(results):
        theirs, ours = exp[f"cse_vertices_{d:02d}"], result.vertices.numpy()
        assert ours.shape == theirs.shape and result.mesh == "smpl_27554", d
        fg = (ours >= 0) | (theirs >= 0)
        pixels, differ = pixels + int(fg.sum()), differ + int((ours != theirs)[fg].sum())
    assert pixels > 0 and differ <= 1e-3 * pixels, f"{differ} of {pixels} foreground vertices differ"


@pytest.mark.slow
@pytest.mark.parametrize("image", ["astronaut", "coffee"])
def test_whole_predictor(golden_model, image):
    name, cfg, model = golden_model
    keys = KEYS[FIXTURES[name][2]]
    exp = expected(name, image)
    out = Predictor(cfg, model)(load_image(image))
    assert len(out["boxes"]) == len(exp[keys["boxes"]])
    np.testing.assert_allclose(out["boxes"].numpy(), exp[keys["boxes"]], atol=1e-3, rtol=0)
    np.testing.assert_allclose(out["scores"].numpy(), exp[keys["scores"]], atol=1e-4, rtol=0)
    check_results(exp, out["densepose"][:TOP])
    if "det_keypoints" in exp:
        np.testing.assert_allclose(out["keypoints"][..., :2].numpy(), exp["det_keypoints"][..., :2], atol=1e-3, rtol=0)
