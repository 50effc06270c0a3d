"""Destriping peers: ``destripe`` (PDHG with TV) and ``wavelet-fft`` (Münch et al. 2009)."""

import numpy as np
import pytest

from structnoise import methods
from structnoise.methods.wavelet_fft import max_level, wavelet_fft_filter
from structnoise.metrics import psnr_stack


def _striped(axis="horizontal", n=3, size=64, seed=0):
    """Crops of scikit-image pictures plus line stripes (one offset per row or column)."""
    from skimage import data

    rng = np.random.default_rng(seed)
    pictures = [data.camera(), data.moon(), data.coins()]
    clean = np.stack([p[40 : 40 + size, 80 : 80 + size] / 255.0 for p in pictures[:n]])
    offsets = rng.normal(0, 0.05, (n, size, 1))  # one offset per row: horizontal stripes
    stripes = offsets * np.ones((1, 1, size)) if axis == "horizontal" else None
    if axis == "vertical":
        stripes = np.swapaxes(offsets, 1, 2) * np.ones((1, size, 1))
    noisy = clean + stripes + rng.normal(0, 0.01, clean.shape)
    return noisy.astype(np.float32), clean.astype(np.float32)


def _gain(name, axis, noisy, clean, **params):
    out = methods.create(name, axis=axis, profile="smoke", **params).denoise(noisy)
    assert out.shape == noisy.shape and out.dtype == np.float32
    return float(psnr_stack(clean, out).mean() - psnr_stack(clean, noisy).mean())


@pytest.mark.parametrize("name", ["destripe", "wavelet-fft"])
@pytest.mark.parametrize("axis", ["horizontal", "vertical"])
def test_removes_stripes_along_the_axis_only(name, axis):
    noisy, clean = _striped(axis, n=2)
    other = "vertical" if axis == "horizontal" else "horizontal"
    params = {"iterations": 50} if name == "destripe" else {}  # seconds on 2 busy cores
    right = _gain(name, axis, noisy, clean, **params)
    wrong = _gain(name, other, noisy, clean, **params)
    assert right > 3.0, f"{name} along {axis}: only {right:+.2f} dB"
    assert wrong < 0.5 and right > wrong + 3.0, f"{name}: {right:+.2f} vs {wrong:+.2f} dB"


def test_both_listed_with_axis():
    for name in ("destripe", "wavelet-fft"):
        assert name in methods.list_methods()
        info = methods.method_info(name)
        assert info.uses_axis and not info.learns and info.clean_use == "none"
        assert all(v is None for v in info.budgets.values())


def test_wavelet_fft_damps_line_stripes_in_every_level():
    """Pure stripes on a flat field: the filter leaves almost nothing of them."""
    rng = np.random.default_rng(1)
    stripes = rng.normal(0, 0.1, (1, 128)) * np.ones((128, 1))  # vertical stripes
    out = wavelet_fft_filter(0.5 + stripes, sigma=1.0, level=3, wavelet="db5")
    assert out.shape == (128, 128)
    # what is left is the part wider than 2^3 pixels (the untouched approximation band)
    assert np.std(out - 0.5) < 0.35 * np.std(stripes)
    # a picture without stripes is nearly unchanged at level 1
    from skimage import data

    img = data.camera()[:128, :128] / 255.0
    assert np.abs(wavelet_fft_filter(img, sigma=1.0, level=1) - img).mean() < 0.01


def test_wavelet_fft_level_default_is_deepest():
    model = methods.create("wavelet-fft")
    assert model.level_for((128, 128)) == max_level((128, 128), "db5") == 3
    assert methods.create("wavelet-fft", level=2).level_for((128, 128)) == 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sigma": 0}, "sigma must be a finite number > 0, got 0"),
        ({"sigma": -1.0}, "sigma must be a finite number > 0"),
        ({"sigma": "wide"}, "sigma must be a finite number > 0"),
        ({"level": 0}, "level must be an integer >= 1 or None, got 0"),
        ({"level": 2.5}, "level must be an integer >= 1 or None"),
        ({"wavelet": "db99"}, "unknown wavelet 'db99'"),
        ({"axis": "diagonal"}, "unknown axis 'diagonal'"),
    ],
)
def test_wavelet_fft_bad_params(params, message):
    with pytest.raises(ValueError, match=message):
        methods.create("wavelet-fft", **params)


def test_wavelet_fft_level_too_large_for_the_image():
    model = methods.create("wavelet-fft", level=5)
    message = r"level 5 is too large for 32x40 images with wavelet 'db5' \(at most 1\)"
    with pytest.raises(ValueError, match=message):
        model.denoise(np.zeros((32, 40), np.float32) + np.arange(40) / 40)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mu1": 0}, "mu1 must be a finite number > 0, got 0"),
        ({"mu2": -0.1}, "mu2 must be a finite number > 0"),
        ({"iterations": 0}, "iterations must be an integer >= 1, got 0"),
        ({"tol": -1}, "tol must be a finite number >= 0"),
        ({"tiles": 1.5}, "tiles must be an integer >= 1"),
        ({"proj": "yes"}, "proj must be true or false"),
        ({"axis": "up"}, "unknown axis 'up'"),
    ],
)
def test_destripe_bad_params(params, message):
    with pytest.raises(ValueError, match=message):
        methods.create("destripe", **params)


def test_destripe_per_image_and_repeatable():
    """A stack gives what each image alone gives; the CPU solver is deterministic."""
    noisy, _ = _striped(n=2, size=48)
    model = methods.create("destripe", profile="smoke", device="cpu", iterations=40)
    out = model.denoise(noisy)
    np.testing.assert_allclose(out[1], model.denoise(noisy[1]), atol=1e-6)
    np.testing.assert_array_equal(out, model.denoise(noisy))
    assert model.iterations == 40 and methods.create("destripe").iterations == 300
