"""``bm3d`` on signal-dependent (Poisson-Gaussian) noise: the generalised Anscombe path."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from structnoise import methods
from structnoise.methods.blind_bm3d import estimate_poisson_gaussian, gat_forward, gat_inverse
from structnoise.metrics import psnr

GAIN, READ_SD = 4.0, 3.0


def _clean(size: int = 128) -> np.ndarray:
    import skimage.data

    img = skimage.data.camera()[100 : 100 + size, 200 : 200 + size].astype(np.float64)
    return 20.0 + 380.0 * (img - img.min()) / (img.max() - img.min())  # 20..400 (data units)


def _poisson_gaussian(clean: np.ndarray, seed: int = 0) -> np.ndarray:
    """``GAIN * Poisson(clean / GAIN) + N(0, READ_SD^2)``: variance ``GAIN * y + READ_SD^2``."""
    rng = np.random.default_rng(seed)
    return (GAIN * rng.poisson(clean / GAIN) + rng.normal(0, READ_SD, clean.shape)).astype(
        np.float32
    )


def test_poisson_gaussian_fit_recovers_the_gain():
    clean = _clean(256)
    gain, const = estimate_poisson_gaussian(_poisson_gaussian(clean))
    assert gain == pytest.approx(GAIN, rel=0.3)
    # the transform makes the noise about unit variance at every signal level
    flat = np.full((64, 64), 50.0), np.full((64, 64), 350.0)
    sds = [float(gat_forward(_poisson_gaussian(f, 1), GAIN, READ_SD**2).std()) for f in flat]
    assert sds == pytest.approx([1.0, 1.0], rel=0.1)


def test_gat_inverse_is_unbiased_on_flat_images():
    flat = np.full((128, 128), 100.0)
    d = gat_forward(_poisson_gaussian(flat, 2), GAIN, READ_SD**2)
    back = gat_inverse(np.full_like(d, d.mean()), GAIN, READ_SD**2)
    assert float(back.mean()) == pytest.approx(100.0, rel=0.02)


def test_bm3d_beats_a_blur_on_poisson_gaussian_noise():
    clean = _clean()
    noisy = _poisson_gaussian(clean)
    model = methods.create("bm3d", seed=0)
    model.fit(noisy[None])
    out = model.denoise(noisy)
    assert model.last_vst is not None  # the transform was applied ("auto")
    blur = psnr(clean, gaussian_filter(noisy, 1.0))
    ours = psnr(clean, out)
    plain = methods.create("bm3d", seed=0, vst="none").denoise(noisy)
    assert ours > blur + 0.5, (ours, blur)
    assert ours > psnr(clean, plain), (ours, psnr(clean, plain))


def test_additive_noise_leaves_the_transform_off():
    clean = _clean()
    noisy = (clean + np.random.default_rng(3).normal(0, 20, clean.shape)).astype(np.float32)
    model = methods.create("bm3d", seed=0)
    model.denoise(noisy)
    assert model.last_vst is None


def test_vst_value_is_checked():
    with pytest.raises(ValueError, match="vst must be 'auto', 'gat' or 'none'"):
        methods.create("bm3d", vst="anscombe")


def test_forced_gat_on_additive_noise_does_not_break_bm3d():
    """vst="gat" on noise without signal dependence: BM3D as without the transform."""
    clean = _clean(96) / 400.0
    noisy = (clean + np.random.default_rng(4).normal(0, 0.05, clean.shape)).astype(np.float32)
    plain = methods.create("bm3d", seed=0, vst="none").denoise(noisy)
    forced = methods.create("bm3d", seed=0, vst="gat").denoise(noisy)
    assert psnr(clean, forced) > psnr(clean, plain) - 0.5
    assert psnr(clean, forced) > psnr(clean, noisy) + 3
