"""Synthetic structured, signal-dependent noise (the paper's FFHQ-Stripe and -Checkerboard).

Every generator takes a clean image ``(Y, X)`` or stack ``(N, Y, X)`` with values in
``[0, 1]`` (see :func:`scale_to_unit`) and a random generator (or an int seed), and returns
a float32 noisy array of the same shape. The same seed always gives the same noise.

* :func:`stripe` - section 5.1, *FFHQ - Stripe*: Poisson shot noise, white Gaussian read
  noise and white noise blurred along rows (horizontal stripes).
* :func:`checkerboard` - section 5.1, *FFHQ - Checkerboard*: Gaussian noise whose spread
  falls with the signal, plus a period-4 ``-a, -a, +a, +a`` pattern down the columns.
* :func:`structured_noise` - the general recipe behind :func:`stripe`: Poisson gain,
  Gaussian read noise and an axis-aligned correlated Gaussian component of chosen
  correlation length, for users who want their own datasets.

The checkerboard noise lives in :mod:`structnoise.datasets.checkerboard_noise` and the
building blocks (:func:`gaussian_kernel`, :func:`correlated_gaussian`, ...) in
:mod:`structnoise.datasets.noise_fields`.

Examples
--------
>>> import numpy as np
>>> from structnoise.datasets.synthetic import stripe
>>> clean = np.linspace(0, 1, 64 * 64).reshape(64, 64)
>>> noisy = stripe(clean, rng=0)
>>> noisy.shape, noisy.dtype
((64, 64), dtype('float32'))
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import numpy as np

from structnoise._validate import NoiseAxis, check_axis
from structnoise.datasets.checkerboard_noise import (
    checkerboard,
)
from structnoise.datasets.noise_fields import (
    correlated_gaussian,
    noisy_like,
)

#: Paper's FFHQ-Stripe constants (section 5.1), signal scaled to [0, 1].
STRIPE_POISSON_GAIN = 0.002  # x = 0.002 * Poisson(s / 0.002)
STRIPE_READ_STD = 0.02  # white Gaussian noise, std 0.02
STRIPE_CORRELATED_STD = 0.025  # std of the white noise BEFORE the horizontal blur
STRIPE_CORRELATION_LENGTH = 1.0  # sigma (pixels) of the Gaussian blur along rows


class NoiseKind(StrEnum):
    """The synthetic noises of the paper's section 5.1 (keys of :data:`GENERATORS`)."""

    STRIPE = "stripe"
    CHECKERBOARD = "checkerboard"


class Scaling(StrEnum):
    """How :func:`scale_to_unit` brings clean images to ``[0, 1]``."""

    #: Keep data within [0, 1], divide 8-bit integer data by 255, else min-max.
    AUTO = "auto"
    #: Unchanged.
    NONE = "none"
    #: Divide by 255.
    EIGHT_BIT = "8bit"
    #: ``(x - min) / (max - min)`` over the whole stack.
    MINMAX = "minmax"


def structured_noise(
    clean,
    rng,
    *,
    axis: NoiseAxis | str = NoiseAxis.HORIZONTAL,
    correlation_length: float = 1.0,
    poisson_gain: float = 0.0,
    read_std: float = 0.0,
    correlated_std: float = 0.0,
) -> np.ndarray:
    """Signal-dependent noise plus an axis-aligned correlated component.

    ``x = g * Poisson(s / g) + N(0, read_std^2) + blur_axis(N(0, correlated_std^2))``

    where ``blur_axis`` is a 1-D Gaussian blur of sigma ``correlation_length`` along
    ``axis``. The paper's *FFHQ - Stripe* is ``g = 0.002, read_std = 0.02,
    correlated_std = 0.025, correlation_length = 1, axis = "horizontal"`` (:func:`stripe`).

    Parameters
    ----------
    clean : array_like
        ``(Y, X)`` or ``(N, Y, X)`` clean signal, normally in ``[0, 1]``; must be >= 0 when
        ``poisson_gain > 0``.
    rng : numpy.random.Generator or int
        Random generator or seed (the same seed gives the same noise).
    axis : {"horizontal", "vertical"}
        Direction of the correlated component: ``"horizontal"`` = correlated along rows.
    correlation_length : float
        Sigma (pixels) of the Gaussian blur that correlates the structured component;
        0 makes it white.
    poisson_gain : float
        Shot-noise gain ``g`` (signal units per photon); 0 turns shot noise off. The
        variance of the shot noise is ``g * s``.
    read_std : float
        Standard deviation of the white, signal-independent Gaussian read noise.
    correlated_std : float
        Standard deviation of the white noise *before* the blur; the added component has
        std ``correlated_std * sqrt(sum(kernel**2))`` (:func:`blurred_noise_stats`).

    Returns
    -------
    numpy.ndarray
        float32 noisy image(s), same shape as ``clean``.

    Raises
    ------
    ValueError
        On bad input (see :func:`structnoise._validate.as_stack`), negative signal with
        Poisson noise, or negative amplitudes.
    """
    for label, value in (
        ("poisson_gain", poisson_gain),
        ("read_std", read_std),
        ("correlated_std", correlated_std),
        ("correlation_length", correlation_length),
    ):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{label} must be a finite number >= 0, got {value}")
    check_axis(axis)

    def draw(s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if poisson_gain > 0:
            x = poisson_gain * rng.poisson(s / poisson_gain)
        else:
            x = s.copy()
        if read_std > 0:
            x += rng.normal(0.0, read_std, size=s.shape)
        if correlated_std > 0:
            x += correlated_gaussian(
                s.shape, rng, std=correlated_std, correlation_length=correlation_length, axis=axis
            )
        return x

    return noisy_like(clean, rng, draw, nonnegative=poisson_gain > 0)


def stripe(
    clean,
    rng,
    *,
    poisson_gain: float = STRIPE_POISSON_GAIN,
    read_std: float = STRIPE_READ_STD,
    correlated_std: float = STRIPE_CORRELATED_STD,
    correlation_length: float = STRIPE_CORRELATION_LENGTH,
    axis: NoiseAxis | str = NoiseAxis.HORIZONTAL,
) -> np.ndarray:
    """The paper's *FFHQ - Stripe* noise (section 5.1).

    With the signal ``s`` scaled to ``[0, 1]``:

    1. ``x = 0.002 * Poisson(s / 0.002)`` (shot noise, variance ``0.002 * s``);
    2. ``+ N(0, 0.02^2)`` white Gaussian noise;
    3. ``+`` white Gaussian noise of std 0.025 blurred along rows by a Gaussian of std 1.

    Reading of step 3: the paper's words put the std 0.025 on the white noise *before*
    the blur. The normalised kernel leaves a structured component of std about 0.0133
    with a lag-1 correlation along the row of about ``exp(-1/4) = 0.78`` and none along
    columns. The expected residual variance ``var(x - s)`` is therefore
    ``0.002 * s + 0.02**2 + 0.025**2 * sum(kernel**2)``.

    Parameters
    ----------
    clean : array_like
        ``(Y, X)`` or ``(N, Y, X)`` clean signal in ``[0, 1]`` (>= 0 required).
    rng : numpy.random.Generator or int
        Random generator or seed.
    poisson_gain : float
        Shot-noise gain (paper: 0.002).
    read_std : float
        Std of the white Gaussian noise (paper: 0.02).
    correlated_std : float
        Std of the white noise before the blur (paper: 0.025).
    correlation_length : float
        Std in pixels of the Gaussian blur (paper: 1).
    axis : {"horizontal", "vertical"}
        Blur direction (paper: ``"horizontal"``, along rows).

    Returns
    -------
    numpy.ndarray
        float32 noisy image(s), same shape as ``clean``.
    """
    return structured_noise(
        clean,
        rng,
        axis=axis,
        correlation_length=correlation_length,
        poisson_gain=poisson_gain,
        read_std=read_std,
        correlated_std=correlated_std,
    )


def scale_to_unit(x, mode: Scaling | str = Scaling.AUTO) -> np.ndarray:
    """Scale a clean stack to ``[0, 1]``, the range the paper's noise constants assume.

    Parameters
    ----------
    x : array_like
        Image or stack.
    mode : {"auto", "none", "8bit", "minmax"}
        ``"none"``: unchanged; ``"8bit"``: divide by 255; ``"minmax"``:
        ``(x - min) / (max - min)`` over the whole stack (keeps relative intensities
        between images). ``"auto"``: unchanged if already within ``[0, 1]``, divide by 255
        if the values are integers within ``[0, 255]`` (8-bit images, as FFHQ), else
        min-max.

    Returns
    -------
    numpy.ndarray
        float32 array of the input's shape.
    """
    arr = np.asarray(x, dtype=np.float32)
    if mode not in tuple(Scaling):
        raise ValueError(f"unknown scaling {mode!r}: expected auto, none, 8bit or minmax")
    lo, hi = float(arr.min()), float(arr.max())
    if mode == Scaling.AUTO:
        if lo >= 0 and hi <= 1:
            mode = Scaling.NONE
        elif lo >= 0 and hi <= 255 and np.all(arr == np.round(arr)):
            mode = Scaling.EIGHT_BIT
        else:
            mode = Scaling.MINMAX
    if mode == Scaling.NONE:
        return arr
    if mode == Scaling.EIGHT_BIT:
        return arr / np.float32(255)
    if hi <= lo:
        raise ValueError("cannot min-max scale a constant image")
    return (arr - lo) / np.float32(hi - lo)


GENERATORS: dict[str, Callable[..., np.ndarray]] = {
    NoiseKind.STRIPE: stripe,
    NoiseKind.CHECKERBOARD: checkerboard,
}
"""Named noise generators (used by the CLI ``structnoise synth``)."""
