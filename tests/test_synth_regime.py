"""The synthetic set's label regime (data/README.md, "Label regime"): off by default; noise, quota and overlap
change only what they should, at the rates written to the json."""

import json

import numpy as np
import pytest

from ktn_model.data import synthetic
from ktn_model.data.synthetic import LONG_TAIL_QUOTA, LabelRegime

IMAGES = 6


def _set(root, regime=synthetic.PLAIN):
    synthetic.generate(root, IMAGES, seed=5, image_size=160, workers=1, regime=regime)
    return json.loads((root / "annotations.json").read_text())


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    root = tmp_path_factory.mktemp("plain")
    return root, _set(root)


def test_noise_changes_only_the_point_labels_at_the_measured_rate(plain, tmp_path):
    root, base = plain
    noisy = _set(tmp_path, LabelRegime(wrong_patch_rate=0.3, uv_noise_rate=0.5, uv_noise_std=0.1))
    assert "label_regime" not in base["info"]
    for name in (f"images/{i:06d}.png" for i in range(IMAGES)):
        assert (tmp_path / name).read_bytes() == (root / name).read_bytes()
    changed = jittered = points = 0
    for a, b in zip(base["annotations"], noisy["annotations"], strict=True):
        assert {k: v for k, v in a.items() if k not in ("dp_I", "dp_U", "dp_V")} == \
            {k: v for k, v in b.items() if k not in ("dp_I", "dp_U", "dp_V")}
        if "dp_I" in a:
            points += len(a["dp_I"])
            changed += sum(x != y for x, y in zip(a["dp_I"], b["dp_I"], strict=True))
            jittered += sum(u != w or v != z for u, v, w, z in zip(a["dp_U"], a["dp_V"], b["dp_U"], b["dp_V"],
                                                                   strict=True))
            assert all(1 <= i <= 24 and 0 <= u <= 1 for i, u in zip(b["dp_I"], b["dp_U"], strict=True))
    measured = noisy["info"]["label_regime"]["measured"]
    assert measured["points"] == points and measured["wrong_patch_rate"] == round(changed / points, 4)
    assert 0.25 < changed / points < 0.35
    assert abs(jittered / points - measured["uv_jitter_rate"]) < 2e-3  # a jitter can (rarely) round to no change
    assert 0.45 < measured["uv_jitter_rate"] < 0.55


def test_a_long_tail_quota_caps_the_points_per_patch(plain, tmp_path):
    root, base = plain
    tail = _set(tmp_path, LabelRegime(point_quota=LONG_TAIL_QUOTA))
    for a, b in zip(base["annotations"], tail["annotations"], strict=True):
        assert a["bbox"] == b["bbox"]
        if "dp_I" in b:
            counts = np.bincount(np.asarray(b["dp_I"], np.int64), minlength=25)
            assert (counts <= np.asarray(LONG_TAIL_QUOTA)).all()
    share = tail["info"]["label_regime"]["measured"]["patch_share_min_max"]
    assert share[1] > 10 * share[0]


def test_the_overlap_share_adds_a_person_inside_the_largest_ones_box(plain, tmp_path):
    _, base = plain
    crowded = _set(tmp_path, LabelRegime(overlap_share=1.0))
    measured = crowded["info"]["label_regime"]["measured"]
    assert measured["images_with_added_person"] == 1.0
    assert len(crowded["annotations"]) >= len(base["annotations"])
    assert 0 < measured["overlapping_person_share"] <= 1


@pytest.mark.parametrize(("options", "message"), [
    ({"point_quota": (1, 2)}, "point_quota needs 25 entries"),
    ({"wrong_patch_rate": 1.5}, "wrong_patch_rate must be in"),
    ({"overlap_share": -0.1}, "overlap_share must be in"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        LabelRegime(**options)
