"""Noise analysis: autocorrelation, variance vs signal, axis proposal, plot."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from structnoise.datasets.analysis import plot_noise_analysis
from structnoise.datasets.axis_proposal import AxisProposal, propose_axis
from structnoise.datasets.checkerboard_noise import checkerboard
from structnoise.datasets.noise_stats import autocorrelation, noise_residual, variance_vs_signal
from structnoise.datasets.synthetic import stripe, structured_noise


@pytest.fixture
def flat():
    return np.full((8, 64, 64), 0.5, dtype=np.float32)


def test_autocorrelation_shape_centre_and_symmetry(rng):
    x = gaussian_filter(rng.normal(size=(3, 64, 80)), sigma=(0, 0, 1.5))
    ac = autocorrelation(x, max_lag=6)
    assert ac.shape == (13, 13)
    assert ac[6, 6] == pytest.approx(1.0)
    np.testing.assert_allclose(ac, ac[::-1, ::-1], atol=1e-10)  # C(d) = C(-d)
    # blurred along rows: lag-1 correlation exp(-1/(4 sigma^2)) along rows, 0 along columns
    assert ac[6, 7] == pytest.approx(np.exp(-1 / 9), abs=0.03)
    assert ac[7, 6] == pytest.approx(0.0, abs=0.03)


def test_autocorrelation_matches_direct_computation(rng):
    x = rng.normal(size=(2, 20, 24))
    ac = autocorrelation(x, max_lag=3)
    a = x - x.mean(axis=(1, 2), keepdims=True)
    var = (a**2).mean()
    dy, dx = 2, -1
    prod = a[:, : 20 - dy, 1:] * a[:, dy:, : 24 - 1]
    assert ac[3 + dy, 3 + dx] == pytest.approx(prod.mean() / var, rel=1e-5)


def test_autocorrelation_errors():
    with pytest.raises(ValueError, match="max_lag"):
        autocorrelation(np.ones((8, 8)), max_lag=0)
    with pytest.raises(ValueError, match="smaller than the minimum"):
        autocorrelation(np.random.default_rng(0).normal(size=(8, 8)), max_lag=20)
    with pytest.raises(ValueError, match="constant"):
        autocorrelation(np.ones((30, 30)), max_lag=3)


def test_noise_residual(flat, rng):
    noisy = flat + rng.normal(0, 0.1, flat.shape)
    np.testing.assert_allclose(noise_residual(noisy, flat), noisy - flat, atol=1e-6)
    ramp = np.broadcast_to(np.linspace(0, 1, 64), (1, 64, 64))
    blind = noise_residual(ramp + 0.0)
    assert np.abs(blind[:, 8:-8, 8:-8]).max() < 1e-3  # smooth signal is removed
    with pytest.raises(ValueError, match="shape"):
        noise_residual(noisy, flat[:2])


def test_variance_vs_signal_follows_poisson(rng):
    clean = np.broadcast_to(np.linspace(0.05, 1, 128, dtype=np.float32), (16, 128, 128))
    noisy = structured_noise(clean, 1, poisson_gain=0.01)
    df = variance_vs_signal(noisy, clean, n_bins=10)
    assert list(df.columns) == ["signal_pct", "signal", "variance", "count"]
    assert len(df) == 10 and df["count"].sum() == clean.size
    assert df["signal_pct"].iloc[-1] == pytest.approx(100 * df["signal"].iloc[-1] / 1.0)
    np.testing.assert_allclose(df["variance"], 0.01 * df["signal"], rtol=0.1)


@pytest.mark.parametrize("blind", [True, False])
def test_propose_axis_rows_columns_white(flat, rng, blind):
    def axis_of(noisy):
        return propose_axis(noisy, None if blind else flat).axis

    rows = stripe(flat, rng)
    assert axis_of(rows) == "horizontal"
    assert axis_of(rows.transpose(0, 2, 1)) == "vertical"
    assert axis_of(stripe(flat, rng, axis="vertical")) == "vertical"
    assert axis_of(flat + rng.normal(0, 0.05, flat.shape)) is None
    assert axis_of(checkerboard(flat, rng)) == "vertical"
    # correlated alike in both directions: not axis-aligned
    iso = flat + gaussian_filter(rng.normal(0, 0.1, flat.shape), (0, 1, 1))
    assert axis_of(iso) is None


def test_axis_proposal_evidence(flat, rng):
    p = propose_axis(stripe(flat, rng), flat)
    assert isinstance(p, AxisProposal)
    assert p.row_correlation.shape == (5,) and p.column_correlation.shape == (5,)
    assert p.row_correlation[0] == pytest.approx(0.78 * 0.11, abs=0.02)
    text = str(p)
    assert text.splitlines()[0] == "axis: horizontal"
    assert "row (horizontal) correlation" in text and "threshold" in text
    assert str(propose_axis(flat + rng.normal(0, 0.05, flat.shape))).startswith("axis: none\n")


def test_small_images_do_not_give_spurious_axes(rng):
    hits = sum(propose_axis(rng.normal(size=(24, 24))).axis is not None for _ in range(20))
    assert hits == 0


def test_plot_noise_analysis(flat, rng, tmp_path):
    noisy = stripe(flat, rng)
    fig = plot_noise_analysis(noisy, flat, path=tmp_path / "noise.png", max_lag=10)
    assert len(fig.axes) >= 2
    assert (tmp_path / "noise.png").stat().st_size > 1000
    assert (tmp_path / "noise.svg").read_text().lstrip().startswith("<?xml")
    fig = plot_noise_analysis(noisy)  # blind: heat map only, nothing saved
    assert len([a for a in fig.axes if a.get_images()]) == 1


def _volumes(rng, shape=(3, 16, 48, 48)):
    """Clean volumes: smooth blobs on a dark background (signal in [0, 1])."""
    x = gaussian_filter(rng.uniform(size=shape), sigma=(0, 2, 3, 3))
    x = (x - x.min()) / (x.max() - x.min())
    return np.where(x > 0.6, x, 0.1)


@pytest.mark.parametrize("blind", [False, True])
def test_propose_volume_axis(rng, blind):
    from structnoise.datasets.axis_proposal import VolumeAxisProposal, propose_volume_axis
    from structnoise.datasets.volume_noise import checkerboard_volume, readout_volume

    clean = _volumes(rng)

    def proposal(noisy):
        return propose_volume_axis(noisy, None if blind else clean)

    p = proposal(readout_volume(clean, 1))
    assert isinstance(p, VolumeAxisProposal) and p.axis == "z"
    assert p.strengths["z"] > 1.0 and max(p.strengths["y"], p.strengths["x"]) < 0.15
    assert str(p).startswith("axis: z\n") and "z (between planes)" in str(p)
    # 2-D stripes (no z blur) keep their axis in a volume, a column pattern too
    stripes = structured_noise(
        clean.reshape(-1, 48, 48), 2, correlated_std=0.05, correlation_length=1.5
    ).reshape(clean.shape)
    assert proposal(stripes).axis == "horizontal"
    columns = checkerboard_volume(clean, 3, repeat_along_z=False)
    assert proposal(columns).axis == "vertical"
    # white noise: no axis
    assert proposal(readout_volume(clean, 4, pattern_std=0.0)).axis is None


def test_propose_volume_axis_errors_and_2d_unchanged(rng):
    from structnoise.datasets.axis_proposal import propose_volume_axis
    from structnoise.datasets.noise_stats import volume_axis_correlations

    with pytest.raises(ValueError, match="expected a volume"):
        propose_volume_axis(np.zeros((32, 32)))
    with pytest.raises(ValueError, match="axis z must be longer than max_lag 5"):
        propose_volume_axis(rng.normal(size=(4, 32, 32)), max_lag=5)
    with pytest.raises(ValueError, match="NaN"):
        propose_volume_axis(np.full((8, 16, 16), np.nan))
    with pytest.raises(ValueError, match="constant"):
        volume_axis_correlations(np.ones((8, 16, 16)), max_lag=2)
    # the 2-D proposal of a 2-D stripe stack is unchanged by the 3-D code
    flat = np.full((8, 64, 64), 0.5)
    assert propose_axis(stripe(flat, 0), flat).axis == "horizontal"
    assert propose_axis(stripe(flat, 0)).axis == "horizontal"
