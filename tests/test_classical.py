"""Classical references: noisy, gaussian, bm3d and the blind noise-PSD estimator."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from structnoise import methods
from structnoise.methods.blind_bm3d import estimate_noise_psd, psd_on_grid
from structnoise.metrics import psnr


def _crop(size=96):
    from skimage import data

    return data.camera()[80 : 80 + size, 200 : 200 + size].astype(np.float64) / 255.0


def _stripe_noise(shape, rng, white=0.02, structured=0.075):
    """White noise plus white noise blurred along rows (sigma 1): stripe-like noise."""
    return rng.normal(0, white, shape) + gaussian_filter1d(
        rng.normal(0, structured, shape), 1.0, axis=-1
    )


def test_noisy_is_identity(rng):
    x = rng.normal(size=(2, 16, 17)).astype(np.float32)
    out = methods.create("noisy").denoise(x)
    np.testing.assert_array_equal(out, x)
    assert out is not x


def test_gaussian_improves_psnr_on_white_noise(rng):
    yy, xx = np.mgrid[0:64, 0:64] / 64
    clean = 0.5 + 0.3 * np.sin(2 * np.pi * (yy + 2 * xx))
    noisy = clean + rng.normal(0, 0.1, clean.shape)
    out = methods.create("gaussian").denoise(noisy)
    assert psnr(clean, out) > psnr(clean, noisy) + 5
    assert methods.create("gaussian", sigma=0).denoise(noisy) == pytest.approx(noisy, abs=1e-6)


def test_gaussian_bad_sigma():
    with pytest.raises(ValueError, match=r"sigma must be a number of pixels in \[0, 1000\]"):
        methods.create("gaussian", sigma=-1)


def test_psd_estimate_of_row_correlated_noise(rng):
    """Pure stripe noise: the estimate is non-flat along fx, flat along fy, right power."""
    noise = _stripe_noise((128, 128), rng)
    total = 0.02**2 + 0.075**2 / (2 * np.sqrt(np.pi))  # white + blurred variance
    # first pass (high-pass residual, flattest patches): biased low by 10-20 % on noise
    a, b = estimate_noise_psd(noise)
    assert (psd_on_grid(a, b, (128, 128)) / 128**2).mean() == pytest.approx(total, rel=0.3)
    # second pass (a residual of the noise itself): all patches, unbiased
    a, b = estimate_noise_psd(noise, residual=noise)
    assert (psd_on_grid(a, b, (128, 128)) / 128**2).mean() == pytest.approx(total, rel=0.1)
    # stripes: power concentrated at low fx (column frequency), not at low fy
    assert b[0] > 10 * b[len(b) // 2]
    assert np.ptp(a) < 0.3 * np.ptp(b)
    # white noise: flat
    a_w, b_w = estimate_noise_psd(rng.normal(0, 0.05, (128, 128)))
    s_w = psd_on_grid(a_w, b_w, (64, 64)) / 64**2
    assert s_w.mean() == pytest.approx(0.05**2, rel=0.25)
    assert s_w.std() < 0.2 * s_w.mean()


def test_bm3d_removes_correlated_noise_better_than_flat_psd(rng):
    import bm3d as bm3d_pkg

    from structnoise.methods.blind_bm3d import _numpy_trapz_shim

    clean = _crop(96)
    noisy = clean + _stripe_noise(clean.shape, rng)
    model = methods.create("bm3d")
    out = model.denoise(noisy)
    gain = psnr(clean, out) - psnr(clean, noisy)
    assert gain > 3.0
    # a flat PSD of the same total power removes much less of the stripes
    a, b = model.last_psd
    sigma = float(np.sqrt(np.mean(psd_on_grid(a, b, clean.shape)) / clean.size))
    with _numpy_trapz_shim():
        flat = bm3d_pkg.bm3d(noisy, sigma)
    assert psnr(clean, out) > psnr(clean, flat) + 0.5


def test_bm3d_is_deterministic_and_validates(rng):
    x = _crop(64) + rng.normal(0, 0.05, (64, 64))
    model = methods.create("bm3d", profile="smoke")
    assert model.passes == 1
    np.testing.assert_array_equal(model.denoise(x), model.denoise(x))
    with pytest.raises(ValueError, match="passes must be 1 or 2"):
        methods.create("bm3d", passes=3)
    with pytest.raises(ValueError, match="unknown bm3d_profile"):
        methods.create("bm3d", bm3d_profile="refilter")
    with pytest.raises(ValueError, match="smaller than the minimum 16x16"):
        model.denoise(np.zeros((8, 8)))
    with pytest.raises(TypeError, match="takes no options"):
        model.denoise(x, tile=32)
