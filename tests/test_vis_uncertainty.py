"""Known answers of the U/V-uncertainty picture (docs/confidence.md): ``uv_uncertainty`` against the formula
sqrt(softplus(sigma_2) + 0.01 + kappa_u² + kappa_v²) at inputs whose softplus is known, and ``dp_uv_uncertainty``
on a synthetic image: the grey image off the body, the colour-map position of each on-body pixel set by its
uncertainty."""

import math

import numpy as np
from matplotlib import colormaps

from ktn_model.inference.image_outputs import ImageMaps
from ktn_model.vis.pictures import COLOUR_MAP, OVERLAY_ALPHA, render, uv_uncertainty

LOG_2 = math.log(2.0)  # softplus(0)
# softplus(x) = log(1 + e^x): 0 -> log 2; -50 -> e^-50 (~2e-22, nothing next to 0.01); 30 -> 30 + e^-30 (~30)
SIGMA_2 = np.array([[0.0, -50.0, 30.0], [1.0, -1.0, 0.0]], np.float32)


def _expected(sigma_2, kappa_u=0.0, kappa_v=0.0) -> np.ndarray:
    """The formula in float64, written out independently of the code under test."""
    sigma_2, kappa_u, kappa_v = (np.asarray(a, np.float64) for a in (sigma_2, kappa_u, kappa_v))
    return np.sqrt(np.log1p(np.exp(sigma_2)) + 0.01 + kappa_u**2 + kappa_v**2)


def test_iid_iso_uncertainty_is_the_square_root_of_softplus_sigma_2_plus_epsilon():
    std = uv_uncertainty({"sigma_2": SIGMA_2})
    assert std.dtype == np.float32 and std.shape == (2, 3)
    np.testing.assert_allclose(std, _expected(SIGMA_2), rtol=1e-6)
    assert std[0, 0] == np.float32(math.sqrt(LOG_2 + 0.01))  # 0.83853...
    assert std[0, 1] == np.float32(0.1)  # softplus(-50) vanishes: only the epsilon is left
    np.testing.assert_allclose(std[0, 2], math.sqrt(30.01), rtol=1e-6)


def test_indep_aniso_uncertainty_adds_the_squared_kappas():
    kappa_u = np.array([[0.3, 0.3, 0.0], [-1.0, 2.0, 0.0]], np.float32)
    kappa_v = np.array([[0.4, 0.4, 0.0], [0.0, -2.0, 0.0]], np.float32)
    std = uv_uncertainty({"sigma_2": SIGMA_2, "kappa_u": kappa_u, "kappa_v": kappa_v})
    assert std.dtype == np.float32 and std.shape == (2, 3)
    np.testing.assert_allclose(std, _expected(SIGMA_2, kappa_u, kappa_v), rtol=1e-6)
    np.testing.assert_allclose(std[0, 0], math.sqrt(LOG_2 + 0.01 + 0.25), rtol=1e-6)
    np.testing.assert_allclose(std[0, 1], math.sqrt(0.26), rtol=1e-6)  # epsilon + 0.3² + 0.4²
    assert std[0, 2] == uv_uncertainty({"sigma_2": SIGMA_2})[0, 2]  # zero kappas change nothing


GREY = 100  # an RGB grey stays this value in the picture's grey image


def test_the_uncertainty_picture_is_grey_off_the_body_and_coloured_by_uncertainty_on_it():
    inds = np.zeros((20, 30), np.uint8)
    inds[:, 10:] = 1  # columns 10..29 on the body, in three bands of rising uncertainty
    sigma_2 = np.zeros((20, 30), np.float32)
    sigma_2[:, 10:15] = -50.0  # std 0.1
    sigma_2[:, 15:20] = 0.0  # std sqrt(log 2 + 0.01)
    sigma_2[:, 20:] = 3.0  # std sqrt(softplus(3) + 0.01): half the body, so it is also the 99th percentile
    maps = ImageMaps(inds, np.zeros((20, 30, 3), np.uint8), {"sigma_2": sigma_2})
    picture = render("dp_uv_uncertainty", np.full((20, 30, 3), GREY, np.uint8), maps.iuv, {"image_maps": maps})
    assert picture.shape == (20, 30, 3) and picture.dtype == np.uint8
    assert (picture[:, :10] == GREY).all()
    top = _expected(3.0)
    cmap = colormaps[COLOUR_MAP]
    for columns, std in ((slice(10, 15), _expected(-50.0)), (slice(15, 20), _expected(0.0)), (slice(20, 30), top)):
        colour = OVERLAY_ALPHA * np.array(cmap(float(std / top))[:3]) * 255 + (1 - OVERLAY_ALPHA) * GREY
        band = picture[:, columns].reshape(-1, 3).astype(np.float64)
        np.testing.assert_allclose(band, np.broadcast_to(colour, band.shape), atol=1.5)
    greens = [int(picture[0, c, 1]) for c in (12, 17, 25)]
    assert COLOUR_MAP == "viridis" and greens[0] < greens[1] < greens[2]  # viridis's green rises along the map
