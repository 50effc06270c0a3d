"""Synthetic noise generators against their analytic statistics."""

import numpy as np
import pytest

from structnoise.datasets.checkerboard_noise import checkerboard, checkerboard_pattern
from structnoise.datasets.noise_fields import blurred_noise_stats, gaussian_kernel
from structnoise.datasets.synthetic import scale_to_unit, stripe, structured_noise


def _corr(a, axis, lag=1):
    """Pooled correlation between pixels `lag` apart along `axis` (-1 rows, -2 columns)."""
    a = a - a.mean(axis=(-2, -1), keepdims=True)
    n = a.shape[axis]
    x = np.take(a, np.arange(n - lag), axis=axis)
    y = np.take(a, np.arange(lag, n), axis=axis)
    return float((x * y).mean() / (a**2).mean())


def test_kernel_matches_scipy_gaussian_filter():
    from scipy.ndimage import gaussian_filter1d

    impulse = np.zeros(21)
    impulse[10] = 1.0
    k = gaussian_kernel(1.0)
    assert k.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(gaussian_filter1d(impulse, 1.0)[6:15], k, atol=1e-12)


def test_blurred_stats_analytic():
    st = blurred_noise_stats(0.025, 1.0, max_lag=1)
    # continuous Gaussian: sum k^2 = 1 / (2 sqrt(pi) sigma), lag-1 correlation exp(-1/4)
    assert st["variance"] == pytest.approx(0.025**2 / (2 * np.sqrt(np.pi)), rel=1e-3)
    assert st["std"] == pytest.approx(0.0133, abs=2e-4)
    assert st["correlation"][1] == pytest.approx(np.exp(-0.25), abs=1e-3)


@pytest.mark.parametrize("s", [0.1, 0.5, 0.9])
def test_stripe_residual_variance(s):
    clean = np.full((4, 256, 256), s, dtype=np.float32)
    noisy = stripe(clean, rng=7)
    expected = 0.002 * s + 0.02**2 + blurred_noise_stats(0.025, 1.0)["variance"]
    res = noisy.astype(np.float64) - clean
    assert abs(res.mean()) < 3e-4  # Poisson mean is the signal
    assert res.var() == pytest.approx(expected, rel=0.03)


def test_stripe_structured_component_correlation():
    clean = np.full((4, 256, 256), 0.5, dtype=np.float32)
    structured = stripe(clean, rng=3, poisson_gain=0.0, read_std=0.0) - clean
    assert structured.var() == pytest.approx(blurred_noise_stats(0.025, 1.0)["variance"], rel=0.03)
    assert _corr(structured, axis=-1) == pytest.approx(np.exp(-0.25), abs=0.01)
    assert _corr(structured, axis=-2) == pytest.approx(0.0, abs=0.01)
    # full stripe noise: row lag-1 correlation = 0.78 * (structured share of variance)
    full = stripe(clean, rng=4) - clean
    share = blurred_noise_stats(0.025, 1.0)["variance"] / full.var()
    assert _corr(full, axis=-1) == pytest.approx(np.exp(-0.25) * share, abs=0.01)
    assert _corr(full, axis=-2) == pytest.approx(0.0, abs=0.01)


def test_structured_noise_vertical_and_length():
    clean = np.full((4, 256, 256), 0.3)
    n = structured_noise(clean, 11, axis="vertical", correlation_length=2.0, correlated_std=0.1)
    n = n - clean
    assert _corr(n, axis=-2) == pytest.approx(np.exp(-1 / 16), abs=0.01)
    assert _corr(n, axis=-1) == pytest.approx(0.0, abs=0.01)
    # statistics are the same at the border as inside (no reflected edges)
    assert n[:, :3].var() == pytest.approx(n[:, 100:103].var(), rel=0.1)


def test_structured_noise_poisson_only():
    clean = np.full((2, 128, 128), 0.4)
    res = structured_noise(clean, 1, poisson_gain=0.01) - clean
    assert res.var() == pytest.approx(0.01 * 0.4, rel=0.05)


def test_determinism_and_shapes():
    clean = np.linspace(0, 1, 48 * 40).reshape(48, 40)
    for fn in (stripe, checkerboard):
        a, b = fn(clean, rng=5), fn(clean, rng=5)
        assert a.shape == clean.shape and a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, fn(clean, rng=6))
        gen = fn(clean, rng=np.random.default_rng(5))
        np.testing.assert_array_equal(a, gen)
    stack = np.stack([clean, clean])
    assert stripe(stack, 0).shape == (2, 48, 40)


def _pattern_phase(col, amplitude=0.1, period=4):
    for p in range(period):
        pat = checkerboard_pattern((len(col), 1), p, amplitude=amplitude, period=period)[:, 0]
        if np.allclose(col, pat, atol=1e-6):
            return p
    return None


def test_checkerboard_pattern_period_and_phases():
    clean = np.full((6, 32, 16), 0.5, dtype=np.float32)
    pattern = checkerboard(clean, 0, scale=0.0) - clean
    np.testing.assert_allclose(np.unique(np.round(pattern, 5)), [-0.1, 0.1], atol=1e-6)
    np.testing.assert_allclose(pattern[:, 4:], pattern[:, :-4], atol=1e-6)  # period 4
    phases = np.array([[_pattern_phase(img[:, j]) for j in range(16)] for img in pattern])
    assert (phases != None).all()  # noqa: E711 - every column is -a, -a, +a, +a from a phase
    # two down then two up: the value flips every two rows
    col = pattern[0, :, 0]
    np.testing.assert_allclose(col[:-2], -col[2:], atol=1e-6)
    assert len(np.unique(phases[:, 0])) > 1  # the phase varies between images
    assert len(np.unique(phases[0])) > 1  # and (default) between columns
    per_image = checkerboard(clean, 1, scale=0.0, phase="image") - clean
    ph = [[_pattern_phase(img[:, j]) for j in range(16)] for img in per_image]
    assert all(len(set(row)) == 1 for row in ph)
    assert len({row[0] for row in ph}) > 1


def test_checkerboard_gaussian_readings():
    s = np.full((4, 128, 128), 0.5, dtype=np.float32)
    var_default = (checkerboard(s, 1, amplitude=0.0) - s).var()
    assert var_default == pytest.approx(0.15 / (255 * 0.5), rel=0.05)
    std_reading = (checkerboard(s, 1, amplitude=0.0, reading="std", signal_max=1.0) - s).std()
    assert std_reading == pytest.approx(0.15 / 0.5, rel=0.03)
    dark = np.zeros((2, 128, 128), np.float32)
    floored = checkerboard(dark, 2, amplitude=0.0, reading="std", signal_max=1, floor=0.25)
    assert floored.std() == pytest.approx(0.15 / 0.25, rel=0.03)
    # inverse signal dependence: darker pixels are noisier
    bright = (checkerboard(s + 0.4, 1, amplitude=0.0) - (s + 0.4)).var()
    assert bright < var_default


@pytest.mark.parametrize(
    ("arr", "match"),
    [
        (np.zeros(16), "1-D"),
        (np.zeros((2, 2, 16, 16)), "4-D"),
        (np.full((16, 16), np.nan), "NaN"),
        (-np.ones((16, 16)), "negative"),
    ],
)
def test_bad_input(arr, match):
    with pytest.raises(ValueError, match=match):
        stripe(arr, 0)
    with pytest.raises(ValueError, match=match):
        checkerboard(arr, 0)


def test_bad_parameters():
    img = np.full((16, 16), 0.5)
    with pytest.raises(ValueError, match="unknown axis"):
        stripe(img, 0, axis="diagonal")
    with pytest.raises(ValueError, match="reading"):
        checkerboard(img, 0, reading="sd")
    with pytest.raises(ValueError, match="floor"):
        checkerboard(img, 0, floor=0)
    with pytest.raises(ValueError, match="read_std"):
        structured_noise(img, 0, read_std=-1)
    with pytest.raises(TypeError, match="Generator or an int"):
        stripe(img, "seed")
    # negative signal is fine without Poisson noise
    out = structured_noise(img - 1, 0, read_std=0.1)
    assert out.shape == img.shape


def test_scale_to_unit():
    np.testing.assert_allclose(scale_to_unit(np.array([0, 51, 255], np.uint8)), [0, 0.2, 1])
    np.testing.assert_allclose(scale_to_unit(np.array([100.0, 300.0, 1100.0])), [0, 0.2, 1])
    x = np.array([0.1, 0.7])
    np.testing.assert_allclose(scale_to_unit(x), x)
    with pytest.raises(ValueError, match="constant"):
        scale_to_unit(np.full(4, 7.5), "minmax")
