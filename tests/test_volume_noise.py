"""Synthetic 3-D structured noise: stripe and checkerboard along z, z-correlated read-out."""

import numpy as np
import pytest

from structnoise.datasets.checkerboard_noise import checkerboard
from structnoise.datasets.noise_fields import gaussian_kernel
from structnoise.datasets.noise_stats import volume_axis_correlations
from structnoise.datasets.synthetic import stripe
from structnoise.datasets.volume_noise import (
    VOLUME_GENERATORS,
    as_volumes,
    blurred_field,
    checkerboard_volume,
    readout_pattern,
    readout_volume,
    stripe_volume,
)

SHAPE = (4, 24, 64, 64)


def _corr(residual):
    """Lag-1 correlations along z, y, x."""
    c = volume_axis_correlations(residual, max_lag=2)
    return c["z"][0], c["y"][0], c["x"][0]


@pytest.mark.parametrize("name", sorted(VOLUME_GENERATORS))
def test_shapes_dtype_and_seed(name):
    gen = VOLUME_GENERATORS[name]
    clean = np.random.default_rng(0).uniform(0.2, 0.8, size=(2, 8, 32, 32))
    a = gen(clean, 5)
    assert a.shape == clean.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, gen(clean, np.random.default_rng(5)))
    assert not np.array_equal(a, gen(clean, 6))
    one = gen(clean[0], 5)
    assert one.shape == (8, 32, 32) and one.dtype == np.float32


def test_blurred_field_statistics():
    f = blurred_field((64, 32, 64), 0, std=1.0, sigmas={0: 1.0, 2: 2.0})
    kz, kx = gaussian_kernel(1.0), gaussian_kernel(2.0)
    expected_var = np.sum(kz**2) * np.sum(kx**2)
    assert f.var() == pytest.approx(expected_var, rel=0.1)
    cz, cy, cx = _corr(f)
    assert cz == pytest.approx(np.exp(-1 / 4), abs=0.03)
    assert cx == pytest.approx(np.exp(-1 / 16), abs=0.03)
    assert cy == pytest.approx(0.0, abs=0.03)


@pytest.mark.parametrize("s", [0.2, 0.7])
def test_stripe_volume_statistics(s):
    clean = np.full(SHAPE, s)
    r = stripe_volume(clean, 1).astype(np.float64) - clean
    # every plane has the variance of the paper's 2-D stripe noise
    expected = 0.002 * s + 0.02**2 + 0.025**2 * np.sum(gaussian_kernel(1.0) ** 2)
    assert r.mean() == pytest.approx(0.0, abs=2e-4)
    assert r.var() == pytest.approx(expected, rel=0.05)
    # the 2-D generator gives the same variance on the same signal
    r2 = stripe(clean.reshape(-1, 64, 64), 1).astype(np.float64) - s
    assert r.var() == pytest.approx(r2.var(), rel=0.05)
    # structured share of the variance, correlated ~0.78 along x and z, 0 along y
    share = 0.025**2 * np.sum(gaussian_kernel(1.0) ** 2) / expected
    cz, cy, cx = _corr(r)
    assert cz == pytest.approx(0.78 * share, abs=0.02)
    assert cx == pytest.approx(0.78 * share, abs=0.02)
    assert cy == pytest.approx(0.0, abs=0.02)


def test_stripe_volume_without_z_blur_is_planewise():
    clean = np.full(SHAPE, 0.1)
    r = stripe_volume(clean, 2, z_correlation_length=0, poisson_gain=0, read_std=0).astype(
        np.float64
    )
    cz, cy, cx = _corr(r - 0.1)
    assert cz == pytest.approx(0.0, abs=0.02) and cy == pytest.approx(0.0, abs=0.02)
    assert cx == pytest.approx(np.exp(-1 / 4), abs=0.03)


def test_checkerboard_volume_pattern_repeats_along_z():
    clean = np.full(SHAPE, 0.6)
    r = checkerboard_volume(clean, 3).astype(np.float64) - clean
    var_white = 0.15 / (255 * 0.6)
    assert r.mean() == pytest.approx(0.0, abs=0.01)
    assert r.var() == pytest.approx(0.1**2 + var_white, rel=0.1)
    cz, cy, cx = _corr(r)
    assert cz == pytest.approx(0.1**2 / (0.1**2 + var_white), abs=0.03)
    assert cy == pytest.approx(0.0, abs=0.05)  # -a,-a,+a,+a: lag 1 averages to 0
    assert cx == pytest.approx(0.0, abs=0.05)  # independent column phases
    # the pattern of every plane is the same
    pattern = r[:, :, :, :].mean(axis=1)
    assert np.all(np.isclose(np.abs(pattern), 0.1, atol=0.03))
    # a new pattern per plane: no correlation along z, the 2-D generator's variance
    r2 = checkerboard_volume(clean, 3, repeat_along_z=False).astype(np.float64) - clean
    assert _corr(r2)[0] == pytest.approx(0.0, abs=0.03)
    flat = checkerboard(clean.reshape(-1, 64, 64), 3).astype(np.float64) - 0.6
    assert r2.var() == pytest.approx(flat.var(), rel=0.05)


def test_readout_pattern_is_ar1_along_z():
    p = readout_pattern((200, 32, 32), 0, std=0.05, z_correlation=0.8)
    assert p.std() == pytest.approx(0.05, rel=0.05)
    c = volume_axis_correlations(p, max_lag=3)
    np.testing.assert_allclose(c["z"], [0.8, 0.64, 0.512], atol=0.03)
    np.testing.assert_allclose(c["y"], 0.0, atol=0.02)
    np.testing.assert_allclose(c["x"], 0.0, atol=0.02)
    # rho 1 repeats one pattern in every plane
    same = readout_pattern((5, 8, 8), 1, z_correlation=1.0)
    np.testing.assert_allclose(same, np.broadcast_to(same[0], same.shape))


@pytest.mark.parametrize("s", [0.1, 0.6])
def test_readout_volume_signal_dependence_and_z_correlation(s):
    clean = np.full(SHAPE, s)
    r = readout_volume(clean, 4).astype(np.float64) - clean
    expected = 0.002 * s + 0.02**2 + 0.05**2
    assert r.mean() == pytest.approx(0.0, abs=0.005)
    assert r.var() == pytest.approx(expected, rel=0.08)
    cz, cy, cx = _corr(r)
    assert cz == pytest.approx(0.9 * 0.05**2 / expected, abs=0.05)
    assert cz > 0.5
    assert abs(cy) < 0.02 and abs(cx) < 0.02


def test_readout_variance_grows_with_signal():
    clean = np.concatenate([np.full((2, 16, 64, 64), 0.05), np.full((2, 16, 64, 64), 0.95)])
    r = readout_volume(clean, 0, pattern_std=0.0).astype(np.float64) - clean
    dark, bright = r[:2].var(), r[2:].var()
    assert dark == pytest.approx(0.002 * 0.05 + 0.02**2, rel=0.1)
    assert bright == pytest.approx(0.002 * 0.95 + 0.02**2, rel=0.1)


@pytest.mark.parametrize(
    ("arr", "match"),
    [
        (np.zeros((16, 16)), "expected a volume"),
        (np.zeros((1, 2, 4, 16, 16)), "5-D"),
        (np.full((4, 16, 16), np.nan), "NaN"),
        (np.full((4, 16, 16), -0.5), "negative"),
        (np.zeros((0, 16, 16)), "empty"),
    ],
)
@pytest.mark.parametrize("name", sorted(VOLUME_GENERATORS))
def test_bad_input(name, arr, match):
    with pytest.raises(ValueError, match=match):
        VOLUME_GENERATORS[name](arr, 0)


def test_bad_parameters():
    clean = np.full((4, 16, 16), 0.5)
    with pytest.raises(ValueError, match="z_correlation must be in"):
        readout_volume(clean, 0, z_correlation=1.5)
    with pytest.raises(ValueError, match="pattern_std"):
        readout_volume(clean, 0, pattern_std=-1)
    with pytest.raises(ValueError, match="z_correlation_length"):
        stripe_volume(clean, 0, z_correlation_length=np.nan)
    with pytest.raises(ValueError, match="floor"):
        checkerboard_volume(clean, 0, floor=0)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        readout_volume(clean, -1)


def test_as_volumes():
    vols, was_3d = as_volumes(np.ones((3, 8, 8), np.uint8))
    assert vols.shape == (1, 3, 8, 8) and vols.dtype == np.float64 and was_3d
    vols, was_3d = as_volumes(np.ones((2, 3, 8, 8)))
    assert vols.shape == (2, 3, 8, 8) and not was_3d
