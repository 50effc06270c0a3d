"""Synthetic structured noise for volumes ``(Z, Y, X)``: stripe, checkerboard, read-out.

The 2-D generators of :mod:`structnoise.datasets.synthetic` draw every image on its own;
a z-stack drawn that way has noise independent from plane to plane. The generators here
take a clean volume ``(Z, Y, X)`` or a stack of volumes ``(N, Z, Y, X)`` with values in
``[0, 1]`` and a random generator (or an int seed) and return a float32 noisy array of the
same shape, with noise that is also structured along ``z``:

* :func:`stripe_volume` - the paper's *FFHQ - Stripe* formula (section 5.1) with the
  correlated component blurred along ``z`` as well as along rows;
* :func:`checkerboard_volume` - the paper's *FFHQ - Checkerboard* formula with the
  column pattern's phases drawn once per volume and repeated in every plane;
* :func:`readout_volume` - shot noise, read noise and a camera read-out pattern that
  repeats plane after plane, slowly changing along ``z`` (an AR(1) process along ``z``,
  white across ``y`` and ``x``).

Every volume gets a generator of its own spawned from ``rng``, so the same seed gives the
same noise. :data:`VOLUME_GENERATORS` names them (``structnoise synth --ndim 3``).

Examples
--------
>>> import numpy as np
>>> from structnoise.datasets.volume_noise import readout_volume
>>> clean = np.full((8, 32, 32), 0.5)
>>> readout_volume(clean, rng=0).shape
(8, 32, 32)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import correlate1d

from structnoise._validate import as_stack
from structnoise.datasets.checkerboard_noise import (
    CHECKERBOARD_AMPLITUDE,
    CHECKERBOARD_FLOOR,
    CHECKERBOARD_PERIOD,
    CHECKERBOARD_READING,
    CHECKERBOARD_SCALE,
    CHECKERBOARD_SIGNAL_MAX,
    Reading,
    checkerboard_pattern,
)
from structnoise.datasets.noise_fields import as_rng, gaussian_kernel
from structnoise.datasets.synthetic import (
    STRIPE_CORRELATED_STD,
    STRIPE_CORRELATION_LENGTH,
    STRIPE_POISSON_GAIN,
    STRIPE_READ_STD,
)

#: Sigma (planes) of the blur along z of :func:`stripe_volume`'s correlated component:
#: the paper's row sigma, so a stripe is as long in z as along the row.
STRIPE_Z_CORRELATION_LENGTH = 1.0
#: Std of :func:`readout_volume`'s read-out pattern (signal in [0, 1]).
READOUT_PATTERN_STD = 0.05
#: Correlation of the read-out pattern between neighbouring planes (AR(1) coefficient).
READOUT_Z_CORRELATION = 0.9


def as_volumes(x, *, name: str = "clean", nonnegative: bool = False) -> tuple[np.ndarray, bool]:
    """Validate a volume or a stack of volumes and return it as float64 ``(N, Z, Y, X)``.

    Parameters
    ----------
    x : array_like
        A volume ``(Z, Y, X)`` or volumes ``(N, Z, Y, X)`` of real, finite numbers.
    name : str
        What the array is called in error messages.
    nonnegative : bool
        Refuse negative values (a signal Poisson noise is drawn from).

    Returns
    -------
    volumes : numpy.ndarray
        float64 ``(N, Z, Y, X)``.
    was_3d : bool
        True when the input was one volume ``(Z, Y, X)``.

    Raises
    ------
    ValueError
        On a number of dimensions other than 3 or 4, an empty array, a non-numeric dtype,
        NaN or infinite values, or negative values when ``nonnegative`` is set.
    """
    arr = np.asarray(x)
    if arr.ndim not in (3, 4):
        raise ValueError(
            f"{name}: expected a volume (Z, Y, X) or volumes (N, Z, Y, X), got a "
            f"{arr.ndim}-D array of shape {arr.shape}; a 2-D image or stack needs the 2-D "
            "generators (structnoise.datasets.synthetic)"
        )
    was_3d = arr.ndim == 3
    vols = arr[None] if was_3d else arr
    # the checks of the 2-D stacks (dtype, empty, NaN/inf, sign), planes as images
    as_stack(vols.reshape(-1, *vols.shape[-2:]), name=name, nonnegative=nonnegative)
    return vols.astype(np.float64), was_3d


def blurred_field(shape: tuple[int, ...], rng, *, std: float, sigmas: dict[int, float]):
    """White Gaussian noise of ``std`` blurred by a 1-D Gaussian along each given axis.

    The field is drawn padded by each kernel's radius and cropped, so the border has the
    statistics of the middle. The correlation at lag ``k`` along a blurred axis is that of
    :func:`structnoise.datasets.noise_fields.blurred_noise_stats` (``exp(-k^2 / (4
    sigma^2))`` for a wide kernel); along other axes it is 0. The std of the result is
    ``std * prod_a sqrt(sum(kernel_a**2))``.

    Parameters
    ----------
    shape : tuple of int
        Shape of the result.
    rng : numpy.random.Generator or int
        Random generator or seed.
    std : float
        Std of the white noise before the blur.
    sigmas : dict of int to float
        ``{axis: sigma}``; a sigma of 0 leaves that axis white.

    Returns
    -------
    numpy.ndarray
        float64 field of ``shape``.
    """
    rng = as_rng(rng)
    kernels = {ax % len(shape): gaussian_kernel(s) for ax, s in sigmas.items() if s > 0}
    padded = [n + 2 * (len(kernels[i]) // 2) if i in kernels else n for i, n in enumerate(shape)]
    field = rng.normal(0.0, std, size=tuple(padded)) if std > 0 else np.zeros(padded)
    for ax, k in kernels.items():
        field = correlate1d(field, k, axis=ax, mode="constant")
    crop = tuple(
        slice(len(kernels[i]) // 2, len(kernels[i]) // 2 + n) if i in kernels else slice(None)
        for i, n in enumerate(shape)
    )
    return field[crop]


def _check_nonneg(**values: float) -> None:
    for label, value in values.items():
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{label} must be a finite number >= 0, got {value}")


def _per_volume(clean, rng, draw: Callable, *, nonnegative: bool) -> np.ndarray:
    vols, was_3d = as_volumes(clean, nonnegative=nonnegative)
    streams = as_rng(rng).spawn(len(vols))
    out = np.stack([draw(v, g) for v, g in zip(vols, streams, strict=True)])
    out = out.astype(np.float32)
    return out[0] if was_3d else out


def _shot_and_read(s: np.ndarray, rng: np.random.Generator, gain: float, read_std: float):
    x = gain * rng.poisson(s / gain) if gain > 0 else s.copy()
    if read_std > 0:
        x += rng.normal(0.0, read_std, size=s.shape)
    return x


def stripe_volume(
    clean,
    rng,
    *,
    poisson_gain: float = STRIPE_POISSON_GAIN,
    read_std: float = STRIPE_READ_STD,
    correlated_std: float = STRIPE_CORRELATED_STD,
    correlation_length: float = STRIPE_CORRELATION_LENGTH,
    z_correlation_length: float = STRIPE_Z_CORRELATION_LENGTH,
) -> np.ndarray:
    """The paper's *FFHQ - Stripe* noise extended along z.

    With the signal ``s`` in ``[0, 1]``, voxel by voxel::

        x = g * Poisson(s / g) + N(0, read_std^2) + blur_z(blur_x(N(0, correlated_std^2)))

    the same formula and constants as :func:`structnoise.datasets.synthetic.stripe`
    (``g = 0.002``, ``read_std = 0.02``, ``correlated_std = 0.025`` before the blur, row
    sigma 1), with the white noise of the structured component blurred by a Gaussian of
    sigma ``z_correlation_length`` along ``z`` as well as by the row blur along ``x``
    (none along ``y``). The z blur is rescaled to keep the variance (its kernel divided by
    ``sqrt(sum(k_z**2))``), so every plane has exactly the statistics of the 2-D stripe
    noise (structured std ``0.025 * sqrt(sum(k_x**2))``, about 0.0133, lag-1 row
    correlation about ``exp(-1/4) = 0.78``) and a stripe continues, fading, into the
    neighbouring planes: the structured component's lag-1 correlation along ``z`` is
    about 0.78 too for sigma 1, along ``y`` 0. ``z_correlation_length=0`` gives the 2-D
    stripe noise, independent from plane to plane. The expected residual variance is
    the 2-D one, ``g s + read_std^2 + 0.025^2 sum(k_x**2)``.

    Parameters
    ----------
    clean : array_like
        ``(Z, Y, X)`` or ``(N, Z, Y, X)`` clean signal in ``[0, 1]`` (>= 0).
    rng : numpy.random.Generator or int
        Random generator or seed.
    poisson_gain : float
        Shot-noise gain ``g`` (paper: 0.002); 0 turns shot noise off.
    read_std : float
        Std of the white Gaussian noise (paper: 0.02).
    correlated_std : float
        Std of the white noise before the blurs (paper: 0.025).
    correlation_length : float
        Sigma (pixels) of the blur along rows (paper: 1).
    z_correlation_length : float
        Sigma (planes) of the blur along z (default 1).

    Returns
    -------
    numpy.ndarray
        float32 noisy volume(s), same shape as ``clean``.
    """
    _check_nonneg(
        poisson_gain=poisson_gain,
        read_std=read_std,
        correlated_std=correlated_std,
        correlation_length=correlation_length,
        z_correlation_length=z_correlation_length,
    )

    def draw(s: np.ndarray, g: np.random.Generator) -> np.ndarray:
        x = _shot_and_read(s, g, poisson_gain, read_std)
        if correlated_std > 0:
            sig = {0: z_correlation_length, 2: correlation_length}
            field = blurred_field(s.shape, g, std=correlated_std, sigmas=sig)
            if z_correlation_length > 0:  # keep each plane's variance that of the 2-D noise
                field /= np.sqrt(np.sum(gaussian_kernel(z_correlation_length) ** 2))
            x += field
        return x

    return _per_volume(clean, rng, draw, nonnegative=poisson_gain > 0)


def checkerboard_volume(
    clean,
    rng,
    *,
    scale: float = CHECKERBOARD_SCALE,
    reading: Reading | str = CHECKERBOARD_READING,
    signal_max: float = CHECKERBOARD_SIGNAL_MAX,
    floor: float = CHECKERBOARD_FLOOR,
    amplitude: float = CHECKERBOARD_AMPLITUDE,
    period: int = CHECKERBOARD_PERIOD,
    repeat_along_z: bool = True,
) -> np.ndarray:
    """The paper's *FFHQ - Checkerboard* noise extended along z.

    Voxel by voxel, the white part is that of
    :func:`structnoise.datasets.checkerboard_noise.checkerboard` with the same reading of
    ``N(0, 0.15 x 1/s)`` (default: ``0.15 / (255 max(s, 1/255))`` is the variance),
    independent between voxels. The ``-a, -a, +a, +a`` pattern runs down every column
    with one random starting point per column (the 2-D default, ``phase="column"``);
    with ``repeat_along_z`` those starting points are drawn once per volume and the
    same pattern is added to every plane, so the pattern is perfectly correlated along
    ``z`` (a fixed pattern of the camera, identical in every plane). Without it each
    plane draws its own starting points, as the 2-D generator does for each image.

    The noise ``x - s`` therefore has, for the default constants, a correlation along
    ``z`` of ``a^2 / (a^2 + var_white)`` at every lag (0.94 at ``s = 1``) with
    ``repeat_along_z``, and 0 without; along columns the pattern's ``+1, 0, -1, 0``
    cycle (scaled the same way); along rows about 0 (independent phases).

    Parameters
    ----------
    clean : array_like
        ``(Z, Y, X)`` or ``(N, Z, Y, X)`` clean signal in ``[0, 1]`` (>= 0).
    rng : numpy.random.Generator or int
        Random generator or seed.
    scale, reading, signal_max, floor, amplitude, period
        As :func:`structnoise.datasets.checkerboard_noise.checkerboard` (paper: 0.15,
        period 4, amplitude 0.1; reading, scale of ``s`` and floor as documented there).
    repeat_along_z : bool
        The same column phases in every plane of a volume (default) or new ones per plane.

    Returns
    -------
    numpy.ndarray
        float32 noisy volume(s), same shape as ``clean``.
    """
    if reading not in tuple(Reading):
        raise ValueError(f"reading must be 'std' or 'variance', got {reading!r}")
    if not floor > 0:
        raise ValueError(f"floor must be > 0 (scale/s diverges at s = 0), got {floor}")
    if not signal_max > 0:
        raise ValueError(f"signal_max must be > 0, got {signal_max}")
    _check_nonneg(scale=scale, amplitude=amplitude)

    def draw(s: np.ndarray, g: np.random.Generator) -> np.ndarray:
        spread = scale / (np.maximum(s, floor) * signal_max)
        std = spread if reading == Reading.STD else np.sqrt(spread)
        x = s + g.standard_normal(s.shape) * std
        nz, ny, nx = s.shape
        phases = g.integers(0, period, size=(1 if repeat_along_z else nz, nx))
        for z in range(nz):
            ph = phases[0 if repeat_along_z else z]
            x[z] += checkerboard_pattern((ny, nx), ph, amplitude=amplitude, period=period)
        return x

    return _per_volume(clean, rng, draw, nonnegative=True)


def readout_pattern(
    shape: tuple[int, int, int],
    rng,
    *,
    std: float = READOUT_PATTERN_STD,
    z_correlation: float = READOUT_Z_CORRELATION,
) -> np.ndarray:
    """A read-out pattern that repeats plane after plane, drifting slowly along z.

    ``P[0] = std * W[0]`` and ``P[z] = rho P[z-1] + std sqrt(1 - rho^2) W[z]`` with
    ``W[z]`` white standard Gaussian planes: a stationary AR(1) process along ``z``, std
    ``std`` in every plane, correlation ``rho^k`` between planes ``k`` apart and none
    between different pixels of a plane.

    Parameters
    ----------
    shape : tuple of int
        ``(Z, Y, X)``.
    rng : numpy.random.Generator or int
        Random generator or seed.
    std : float
        Std of the pattern in every plane.
    z_correlation : float
        ``rho`` in ``[0, 1]``: 1 repeats one pattern in every plane, 0 draws a new one
        per plane.

    Returns
    -------
    numpy.ndarray
        float64 ``(Z, Y, X)`` pattern.
    """
    if not 0 <= z_correlation <= 1:
        raise ValueError(f"z_correlation must be in [0, 1], got {z_correlation}")
    _check_nonneg(std=std)
    rng = as_rng(rng)
    white = rng.standard_normal(shape)
    pattern = np.empty(shape)
    pattern[0] = white[0]
    innovation = np.sqrt(1.0 - z_correlation**2)
    for z in range(1, shape[0]):
        pattern[z] = z_correlation * pattern[z - 1] + innovation * white[z]
    return std * pattern


def readout_volume(
    clean,
    rng,
    *,
    poisson_gain: float = STRIPE_POISSON_GAIN,
    read_std: float = STRIPE_READ_STD,
    pattern_std: float = READOUT_PATTERN_STD,
    z_correlation: float = READOUT_Z_CORRELATION,
) -> np.ndarray:
    """Signal-dependent noise plus a z-correlated camera read-out pattern.

    With the signal ``s`` in ``[0, 1]``::

        x = g * Poisson(s / g) + N(0, read_std^2) + P

    where ``P`` is :func:`readout_pattern` (std ``pattern_std``, AR(1) along ``z`` with
    coefficient ``rho = z_correlation``, white across the plane): a fixed-pattern offset
    of the camera's read-out, the same from plane to plane up to a slow drift. Shot and
    read noise are the paper's *Stripe* constants (``g = 0.002``, ``read_std = 0.02``),
    so the noise is signal-dependent like the paper's: ``var(x - s) = g s + read_std^2 +
    pattern_std^2`` and the correlation of ``x - s`` between neighbouring planes is
    ``rho pattern_std^2 / var(x - s)`` (0.64 at ``s = 0.3`` with the defaults,
    ``pattern_std = 0.05``, ``rho = 0.9``), 0 between pixels of a plane. A plane-by-plane
    denoiser sees white noise; only the neighbouring planes tell the pattern apart.

    Parameters
    ----------
    clean : array_like
        ``(Z, Y, X)`` or ``(N, Z, Y, X)`` clean signal in ``[0, 1]`` (>= 0 when
        ``poisson_gain > 0``).
    rng : numpy.random.Generator or int
        Random generator or seed.
    poisson_gain : float
        Shot-noise gain ``g`` (default 0.002); 0 turns shot noise off.
    read_std : float
        Std of the white read noise (default 0.02).
    pattern_std : float
        Std of the read-out pattern (default 0.05).
    z_correlation : float
        AR(1) coefficient of the pattern along z, in ``[0, 1]`` (default 0.9).

    Returns
    -------
    numpy.ndarray
        float32 noisy volume(s), same shape as ``clean``.
    """
    _check_nonneg(poisson_gain=poisson_gain, read_std=read_std, pattern_std=pattern_std)
    if not 0 <= z_correlation <= 1:
        raise ValueError(f"z_correlation must be in [0, 1], got {z_correlation}")

    def draw(s: np.ndarray, g: np.random.Generator) -> np.ndarray:
        x = _shot_and_read(s, g, poisson_gain, read_std)
        return x + readout_pattern(s.shape, g, std=pattern_std, z_correlation=z_correlation)

    return _per_volume(clean, rng, draw, nonnegative=poisson_gain > 0)


VOLUME_GENERATORS: dict[str, Callable[..., np.ndarray]] = {
    "stripe": stripe_volume,
    "checkerboard": checkerboard_volume,
    "readout": readout_volume,
}
"""Named volume noise generators (``structnoise synth KIND --ndim 3``)."""
