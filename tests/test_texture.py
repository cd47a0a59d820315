"""Texture atlas (ktn_model.surface.atlas, .texture): layout, splatting, hole filling, bilinear painting."""

import numpy as np
import pytest
from PIL import Image

from ktn_model.data.synthetic import synth_scene
from ktn_model.surface.atlas import (
    atlas_shape,
    bilinear_texels,
    load_atlas,
    texel_to_uv,
    tile_origin,
    tile_size_of,
    tiles,
    uv_to_texel,
)
from ktn_model.surface.texture import (
    TextureAccumulator,
    fill_holes,
    lookup,
    paint,
    person_mask,
    reference_atlas,
    to_uint8,
)
from ktn_model.vis.pictures import render

TILE = 16  # 15 divides 255: U8 = 17 k lands exactly on texel column k


def _iuv(pixels: list[tuple[int, int, int]]) -> np.ndarray:
    """A 1 x n IUV image of the given [I, U8, V8] pixels."""
    return np.array([pixels], np.uint8)


def test_layout_is_densepose_s_4_by_6_grid_with_v_upwards():
    assert atlas_shape(200) == (1200, 800)
    assert [tuple(int(c) for c in tile_origin(p, 200)) for p in (1, 6, 7, 24)] == [(0, 0), (0, 1000), (200, 0),
                                                                                   (600, 1000)]  # fmt: skip
    x, y = uv_to_texel(np.array([1, 1, 8]), np.array([0.0, 1.0, 0.5]), np.array([1.0, 0.0, 0.5]), 200)
    np.testing.assert_allclose(x, [0.0, 199.0, 200 + 99.5])
    np.testing.assert_allclose(y, [0.0, 199.0, 200 + 99.5])
    # detectron2 / the DensePose notebook read patch 6 i + j + 1 from rows N j.., columns N i..
    atlas, n = np.arange(24 * TILE * TILE).reshape(6 * TILE, 4 * TILE), TILE
    for i in range(4):
        for j in range(6):
            np.testing.assert_array_equal(tiles(atlas)[6 * i + j], atlas[n * j : n * (j + 1), n * i : n * (i + 1)])


def test_round_trip_is_exact_at_every_texel_centre():
    ys, xs = np.mgrid[0 : 6 * TILE, 0 : 4 * TILE]
    patch, u, v = texel_to_uv(xs, ys, TILE)
    assert patch.min() == 1 and patch.max() == 24 and u.min() == v.min() == 0.0 and u.max() == v.max() == 1.0
    x, y = uv_to_texel(patch, u, v, TILE)
    np.testing.assert_array_equal(x, xs)
    np.testing.assert_array_equal(y, ys)
    atlas = np.random.default_rng(0).integers(0, 256, (6 * TILE, 4 * TILE, 3)).astype(np.uint8)
    colour, opacity = lookup(atlas, patch.ravel(), u.ravel(), v.ravel())
    np.testing.assert_array_equal(colour, atlas.reshape(-1, 3))
    np.testing.assert_allclose(opacity, 1.0)


def test_bilinear_weights_never_leave_the_tile():
    index, weight = bilinear_texels(np.array([1, 6, 24]), np.array([1.0, 1.0, 0.25]), np.array([0.0, 0.0, 1.0]), 8)
    np.testing.assert_allclose(weight.sum(1), 1.0)
    rows, cols = np.divmod(index[weight > 0], 4 * 8)
    assert list(rows) == [7, 47, 40, 40] and list(cols) == [7, 7, 25, 26]
    np.testing.assert_allclose(weight[weight > 0], [1.0, 1.0, 0.25, 0.75])


def test_wrong_atlas_size_is_refused(tmp_path):
    assert tile_size_of((1200, 800, 3), "a.png") == 200
    for shape in ((800, 1200, 3), (1200, 801, 3), (6, 4, 3)):
        with pytest.raises(ValueError, match=r"a.png: a texture atlas is 4N x 6N"):
            tile_size_of(shape, "a.png")
    Image.fromarray(np.full((60, 40, 4), 255, np.uint8)).save(tmp_path / "rgba.png")
    rgb, alpha = load_atlas(tmp_path / "rgba.png")
    assert rgb.shape == (60, 40, 3) and alpha.shape == (60, 40) and alpha.min() == 1.0


def test_splat_averages_frames_with_bilinear_confidence():
    acc = TextureAccumulator(TILE)
    centre = _iuv([(7, 17 * 3, 255 - 17 * 2)])  # patch 7, texel column 3, row 2 of its tile
    between = _iuv([(7, 17 * 3 + 8, 255 - 17 * 2)])  # 8/17 of the way to column 4
    for colour in (10, 30):
        assert acc.add(np.full((1, 1, 3), colour, np.uint8), centre, np.ones((1, 1), bool)) == 1
    acc.add(np.full((1, 1, 3), 200, np.uint8), between, np.ones((1, 1), bool))
    x0, y0 = tile_origin(7, TILE)
    conf = acc.confidence.reshape(atlas_shape(TILE))
    np.testing.assert_allclose(conf[y0 + 2, x0 + 3 : x0 + 5], [2 + 9 / 17, 8 / 17])
    assert conf.sum() == pytest.approx(3.0) and acc.coverage().sum() == 2
    mean = acc.atlas()[y0 + 2, x0 + 3, 0]
    assert mean == pytest.approx((10 + 30 + 200 * 9 / 17) / (2 + 9 / 17))
    assert acc.atlas()[y0 + 2, x0 + 4, 0] == pytest.approx(200.0)


def test_person_selection_defaults_to_the_largest():
    inds = np.array([[0, 1, 2, 2], [3, 2, 2, 1]])
    np.testing.assert_array_equal(person_mask(inds), inds == 2)
    np.testing.assert_array_equal(person_mask(inds, 3), inds == 3)
    assert not person_mask(inds, 5).any() and not person_mask(np.zeros((2, 2), int)).any()


def test_fill_is_harmonic_inside_each_tile_only():
    tile = 5
    atlas = np.zeros((*atlas_shape(tile), 3))
    seen = np.zeros(atlas_shape(tile), bool)
    x0, y0 = tile_origin(1, tile)
    atlas[y0 : y0 + tile, x0 + tile - 1] = 255.0  # patch 1: right column 255, left column 0
    seen[y0 : y0 + tile, [x0, x0 + tile - 1]] = True
    x1, y1 = tile_origin(2, tile)  # the tile below patch 1: one texel of 100
    atlas[y1 + 2, x1 + 2] = 100.0
    seen[y1 + 2, x1 + 2] = True
    filled = fill_holes(atlas, seen)
    np.testing.assert_allclose(filled[y0 : y0 + tile, x0 : x0 + tile, 1], np.tile(np.linspace(0, 255, tile), (tile, 1)))
    np.testing.assert_allclose(filled[y1 : y1 + tile, x1 : x1 + tile], 100.0)
    np.testing.assert_array_equal(tiles(filled)[2:], 0.0)  # unseen tiles stay


def test_paint_is_bilinear_with_premultiplied_opacity_and_alpha():
    atlas = np.zeros((*atlas_shape(TILE), 3), np.uint8)
    x0, y0 = tile_origin(3, TILE)
    atlas[y0 : y0 + TILE, x0 + 2] = 0
    atlas[y0 : y0 + TILE, x0 + 3] = 100
    iuv = _iuv([(3, 17 * 2 + 8, 0), (0, 0, 0)])
    image = np.full((1, 2, 3), 50, np.uint8)
    painted = paint(image, iuv, atlas)
    assert painted[0, 0, 0] == round(100 * 8 / 17) and painted[0, 1, 0] == 50  # background untouched
    assert paint(image, iuv, atlas, alpha=0.5)[0, 0, 0] == round((50 + 100 * 8 / 17) / 2)
    opacity = np.zeros(atlas_shape(TILE))
    opacity[y0 : y0 + TILE, x0 + 3] = 1.0  # column 2 transparent: the colour stays 100, the opacity is 8/17
    assert paint(image, iuv, atlas, opacity=opacity)[0, 0, 0] == round(50 * 9 / 17 + 100 * 8 / 17)


def _largest_person(scene) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) GT IUV of the scene's largest annotated person and its mask."""
    areas = [a["area"] if not a["iscrowd"] else 0 for a in scene.annotations]
    iuv = scene.iuv(int(np.argmax(areas))).transpose(1, 2, 0)
    return iuv, iuv[..., 0] > 0


def test_extract_then_apply_reproduces_a_synthetic_person():
    scene = synth_scene(5, 2, 256)
    iuv, on = _largest_person(scene)
    acc = TextureAccumulator(200)
    assert acc.add(scene.pixels, iuv, on) == on.sum() == 5653
    atlas, seen = to_uint8(acc.atlas()), acc.coverage().astype(float)
    painted = paint(scene.pixels, iuv, atlas, opacity=seen)
    error = np.abs(painted[on].astype(float) - scene.pixels[on]).mean()
    assert error == pytest.approx(0.142, abs=0.001)  # mean |error| in 0..255 over RGB, tile 200
    np.testing.assert_array_equal(painted[~on], scene.pixels[~on])
    # a person whose colour depends on the patch only comes back exactly
    palette = np.random.default_rng(0).integers(0, 256, (25, 3)).astype(np.uint8)
    flat = palette[iuv[..., 0]]
    acc = TextureAccumulator(TILE)
    acc.add(flat, iuv, on)
    np.testing.assert_array_equal(paint(flat, iuv, to_uint8(acc.atlas())), flat)


def test_dp_iuv_texture_paints_the_reference_atlas_on_persons():
    scene = synth_scene(5, 2, 256)
    iuv, on = _largest_person(scene)
    picture = render("dp_iuv_texture", scene.pixels, iuv, {})
    assert picture.shape == scene.pixels.shape
    expected = paint(np.zeros_like(scene.pixels), iuv, reference_atlas())
    interior = on & np.roll(on, 1, 0) & np.roll(on, -1, 0) & np.roll(on, 1, 1) & np.roll(on, -1, 1)
    assert (np.abs(picture[interior].astype(int) - expected[interior]).max(1) <= 1).mean() > 0.99
    grey = picture[~on]
    assert (grey[:, 0] == grey[:, 1]).all() and (grey[:, 1] == grey[:, 2]).all()
