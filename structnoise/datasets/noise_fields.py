"""Building blocks of the synthetic noise: random generators, Gaussian blur, correlated fields.

:mod:`structnoise.datasets.synthetic` (stripe noise) and
:mod:`structnoise.datasets.checkerboard_noise` draw their noise with these.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import correlate1d

from structnoise._validate import as_stack, check_axis


def as_rng(rng) -> np.random.Generator:
    """Turn a Generator, an int seed or None into a ``numpy.random.Generator``.

    Parameters
    ----------
    rng : numpy.random.Generator, int, numpy.random.SeedSequence or None
        A generator (returned as is) or a seed (>= 0).

    Returns
    -------
    numpy.random.Generator
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        if isinstance(rng, (int, np.integer)) and rng < 0:
            raise ValueError(f"rng: a seed must be >= 0, got {rng}")
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng: expected a numpy.random.Generator or an int seed, got {type(rng).__name__}"
    )


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Normalised 1-D Gaussian kernel, the one :func:`scipy.ndimage.gaussian_filter1d` uses.

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels (> 0).
    truncate : float
        Half-width of the kernel in units of ``sigma`` (radius ``int(truncate*sigma + 0.5)``).

    Returns
    -------
    numpy.ndarray
        float64 weights summing to 1, length ``2*radius + 1``.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def blurred_noise_stats(std: float, correlation_length: float, max_lag: int = 1) -> dict:
    """Analytic statistics of white noise of ``std`` blurred by :func:`gaussian_kernel`.

    Parameters
    ----------
    std : float
        Standard deviation of the white noise before the blur.
    correlation_length : float
        Sigma of the Gaussian blur (pixels); 0 means no blur.
    max_lag : int
        Largest lag for which the correlation is returned.

    Returns
    -------
    dict
        ``{"variance": float, "std": float, "correlation": ndarray}`` where
        ``correlation[k]`` is the correlation at lag ``k`` along the blurred axis
        (``correlation[0] == 1``). For the paper's stripe noise (std 0.025, sigma 1) the
        variance is ``0.025**2 * sum(k**2)`` (std about 0.0133) and the lag-1 correlation
        about ``exp(-1/4) = 0.78``.
    """
    if correlation_length <= 0:
        k = np.ones(1)
    else:
        k = gaussian_kernel(correlation_length)
    energy = float(np.sum(k**2))
    corr = np.array(
        [
            float(np.sum(k[: len(k) - lag] * k[lag:])) / energy if lag < len(k) else 0.0
            for lag in range(max_lag + 1)
        ]
    )
    variance = std**2 * energy
    return {"variance": variance, "std": float(np.sqrt(variance)), "correlation": corr}


def correlated_gaussian(
    shape: tuple[int, ...],
    rng,
    *,
    std: float,
    correlation_length: float,
    axis: str = "horizontal",
) -> np.ndarray:
    """White Gaussian noise blurred by a 1-D Gaussian along one axis.

    The blur is computed on a field padded by the kernel radius and then cropped, so the
    statistics are the same at the image border as in the middle (no reflected edges).

    Parameters
    ----------
    shape : tuple of int
        ``(..., Y, X)`` shape of the result.
    rng : numpy.random.Generator or int
        Random generator or seed.
    std : float
        Standard deviation of the white noise before the blur (the paper's convention).
    correlation_length : float
        Sigma of the Gaussian blur in pixels; 0 gives white noise.
    axis : {"horizontal", "vertical"}
        ``"horizontal"``: blurred along rows (stripes run left-right, correlated along x);
        ``"vertical"``: along columns.

    Returns
    -------
    numpy.ndarray
        float64 array of ``shape``.
    """
    check_axis(axis)
    rng = as_rng(rng)
    if std < 0 or correlation_length < 0:
        raise ValueError("std and correlation_length must be >= 0")
    ax = -1 if axis == "horizontal" else -2
    if correlation_length == 0:
        return rng.normal(0.0, std, size=shape) if std > 0 else np.zeros(shape)
    k = gaussian_kernel(correlation_length)
    r = len(k) // 2
    padded = list(shape)
    padded[ax] += 2 * r
    white = rng.normal(0.0, std, size=tuple(padded)) if std > 0 else np.zeros(padded)
    blurred = correlate1d(white, k, axis=ax, mode="constant")
    index = [slice(None)] * len(shape)
    index[ax] = slice(r, r + shape[ax])
    return blurred[tuple(index)]


def noisy_like(
    clean,
    rng,
    draw: Callable[[np.ndarray, np.random.Generator], np.ndarray],
    *,
    nonnegative: bool,
) -> np.ndarray:
    """Validate clean images, draw their noisy version, return it in the input's shape.

    Parameters
    ----------
    clean : array_like
        ``(Y, X)`` or ``(N, Y, X)`` clean signal.
    rng : numpy.random.Generator or int
        Random generator or seed.
    draw : callable
        ``draw(signal, generator)``: the noisy ``(N, Y, X)`` stack for the float64
        ``signal`` stack.
    nonnegative : bool
        Refuse negative signal (Poisson noise, ``scale / s``).

    Returns
    -------
    numpy.ndarray
        float32 noisy image(s), same shape as ``clean``.
    """
    s, was_2d = as_stack(clean, name="clean", nonnegative=nonnegative)
    x = draw(s.astype(np.float64), as_rng(rng)).astype(np.float32)
    return x[0] if was_2d else x
