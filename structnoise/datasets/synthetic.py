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

Examples
--------
>>> import numpy as np
>>> from structnoise.datasets.synthetic import stripe, checkerboard
>>> clean = np.linspace(0, 1, 64 * 64).reshape(64, 64)
>>> noisy = stripe(clean, rng=0)
>>> noisy.shape, noisy.dtype
((64, 64), dtype('float32'))
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

from structnoise._validate import as_stack, check_axis

#: Paper's FFHQ-Stripe constants (section 5.1), signal scaled to [0, 1].
STRIPE_POISSON_GAIN = 0.002  # x = 0.002 * Poisson(s / 0.002)
STRIPE_READ_STD = 0.02  # white Gaussian noise, std 0.02
STRIPE_CORRELATED_STD = 0.025  # std of the white noise BEFORE the horizontal blur
STRIPE_CORRELATION_LENGTH = 1.0  # sigma (pixels) of the Gaussian blur along rows

#: Paper's FFHQ-Checkerboard constants (section 5.1).
CHECKERBOARD_SCALE = 0.15  # N(0, 0.15 x 1/s)
CHECKERBOARD_AMPLITUDE = 0.1  # subtract 0.1 from two pixels, add 0.1 to the next two
CHECKERBOARD_PERIOD = 4  # two down, two up
#: Default reading of "N(0, 0.15 x 1/s)": 0.15/s is the variance (see checkerboard).
CHECKERBOARD_READING = "variance"
#: Scale of s inside 0.15/s: 8-bit grey levels (see checkerboard).
CHECKERBOARD_SIGNAL_MAX = 255.0
#: Floor on s (in [0, 1] units) inside 0.15/s, one grey level; the paper gives none.
CHECKERBOARD_FLOOR = 1.0 / 255.0


def _as_rng(rng) -> np.random.Generator:
    """Turn a Generator, an int seed or None into a ``numpy.random.Generator``."""
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
    rng = _as_rng(rng)
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


def structured_noise(
    clean,
    rng,
    *,
    axis: str = "horizontal",
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
    s, was_2d = as_stack(clean, name="clean", nonnegative=poisson_gain > 0)
    rng = _as_rng(rng)
    s = s.astype(np.float64)
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
    x = x.astype(np.float32)
    return x[0] if was_2d else x


def stripe(
    clean,
    rng,
    *,
    poisson_gain: float = STRIPE_POISSON_GAIN,
    read_std: float = STRIPE_READ_STD,
    correlated_std: float = STRIPE_CORRELATED_STD,
    correlation_length: float = STRIPE_CORRELATION_LENGTH,
    axis: str = "horizontal",
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


def checkerboard_pattern(
    shape: tuple[int, int],
    phase: int,
    *,
    amplitude: float = CHECKERBOARD_AMPLITUDE,
    period: int = CHECKERBOARD_PERIOD,
) -> np.ndarray:
    """The ``-a, -a, +a, +a, ...`` pattern down every column of a ``(Y, X)`` image.

    Parameters
    ----------
    shape : tuple of int
        ``(Y, X)``.
    phase : int or sequence of int
        Starting point in ``[0, period)``: row ``y`` gets ``-a`` when
        ``(y + phase) % period < period // 2`` and ``+a`` otherwise. A sequence of ``X``
        phases gives each column its own.
    amplitude : float
        ``a`` (paper: 0.1).
    period : int
        Even length of one cycle (paper: 4, two pixels down then two up).

    Returns
    -------
    numpy.ndarray
        float64 ``(Y, X)`` pattern.
    """
    if period < 2 or period % 2:
        raise ValueError(f"period must be an even integer >= 2, got {period}")
    ny, nx = shape
    phase = np.broadcast_to(np.asarray(phase, dtype=np.int64), (nx,))
    pos = (np.arange(ny)[:, None] + phase[None, :]) % period
    return np.where(pos < period // 2, -amplitude, amplitude).astype(np.float64)


def checkerboard(
    clean,
    rng,
    *,
    scale: float = CHECKERBOARD_SCALE,
    reading: str = CHECKERBOARD_READING,
    signal_max: float = CHECKERBOARD_SIGNAL_MAX,
    floor: float = CHECKERBOARD_FLOOR,
    amplitude: float = CHECKERBOARD_AMPLITUDE,
    period: int = CHECKERBOARD_PERIOD,
    phase: str = "column",
) -> np.ndarray:
    """The paper's *FFHQ - Checkerboard* noise (section 5.1).

    1. Gaussian noise with inverse signal dependence, "``N(0, 0.15 x 1/s)``";
    2. then along every column subtract 0.1 from two pixels and add 0.1 to the next two,
       repeating (period 4), from a starting point drawn uniformly at random.

    The paper leaves open whether ``0.15/s`` is a variance or a standard deviation, on
    which scale ``s`` is measured (it scales ``s`` to ``[0, 1]`` only for *Stripe*) and
    what happens at ``s = 0``. Here the noise std is::

        t = max(s, floor) * signal_max          # s on the scale of the formula
        std = scale / t           (reading="std")
        std = sqrt(scale / t)     (reading="variance")

    with ``s`` in ``[0, 1]`` and the result added in ``[0, 1]`` units.

    **Default reading** (``reading="variance", signal_max=255, floor=1/255``): ``0.15/s``
    is the variance with ``s`` counted in 8-bit grey levels, i.e. a std of
    ``sqrt(0.15 / (255 s))``: 0.024 at ``s = 1``, 0.034 at ``s = 0.5``, 0.39 at one grey
    level (the floor). Why: it is the only reading under which the paper's own table is
    possible. The ``+-0.1`` pattern alone limits the noisy input to 20 dB on an image of
    range 1, so every reading gives an input below SN2V's 19.11 dB; CARE's 36.89 dB and
    DVLAE's 36.27 dB, however, need a white part of a few hundredths, like *Stripe*'s
    (CARE 36.46 dB there). With ``s`` on ``[0, 1]`` (``signal_max=1``) the white noise is
    std 0.15 (``reading="std"``) or 0.39 (``reading="variance"``) even at ``s = 1``,
    inputs of 2-7 dB on natural images, from which no denoiser reaches 30 dB. On the
    embedded test tiles the default gives a mean noisy-input PSNR of about 17.6 dB, the
    ``[0, 1]`` std reading (floor 0.1) about 3.9 dB and the ``[0, 1]`` variance reading
    (floor 0.1) about 1.7 dB.

    **Phase** (``phase="column"``, default): each column gets its own starting point,
    drawn uniformly from ``0..period-1``, so neighbouring columns are offset like the
    squares of a checkerboard and the pattern is correlated along columns only. This is
    the reading under which the paper's own analysis holds: it calls the pattern a
    checkerboard, reads its orientation as *vertical* from the noise autocorrelation
    (a vertical bar in Fig. 3) and masks whole columns for SN2V because "the structured
    component can be predicted by seeing only two pixels in the same column". With
    ``phase="image"`` (one starting point per image, the literal "the starting point")
    every column carries the same pattern: horizontal bands, whose autocorrelation is
    constant along rows, i.e. noise correlated along rows as much as along columns.

    Parameters
    ----------
    clean : array_like
        ``(Y, X)`` or ``(N, Y, X)`` clean signal in ``[0, 1]`` (>= 0 required).
    rng : numpy.random.Generator or int
        Random generator or seed.
    scale : float
        The constant of ``scale / s`` (paper: 0.15).
    reading : {"variance", "std"}
        Whether ``scale / s`` is the variance (default) or the standard deviation.
    signal_max : float
        The value of a white pixel on the scale ``s`` has inside ``scale / s`` (default
        255, 8-bit grey levels; 1 for ``s`` in ``[0, 1]``).
    floor : float
        Lower bound on ``s`` (in ``[0, 1]`` units) inside ``scale / s``; must be > 0, as
        ``scale / s`` diverges at ``s = 0``. Default ``1/255``, one grey level.
    amplitude : float
        Pattern amplitude (paper: 0.1).
    period : int
        Pattern period along columns (paper: 4).
    phase : {"column", "image"}
        One random starting point per column (default) or per image.

    Returns
    -------
    numpy.ndarray
        float32 noisy image(s), same shape as ``clean``.
    """
    if reading not in ("std", "variance"):
        raise ValueError(f"reading must be 'std' or 'variance', got {reading!r}")
    if phase not in ("image", "column"):
        raise ValueError(f"phase must be 'image' or 'column', got {phase!r}")
    if not floor > 0:
        raise ValueError(f"floor must be > 0 (scale/s diverges at s = 0), got {floor}")
    if not signal_max > 0:
        raise ValueError(f"signal_max must be > 0, got {signal_max}")
    if scale < 0 or amplitude < 0:
        raise ValueError("scale and amplitude must be >= 0")
    s, was_2d = as_stack(clean, name="clean", nonnegative=True)
    rng = _as_rng(rng)
    s = s.astype(np.float64)
    spread = scale / (np.maximum(s, floor) * signal_max)
    std = spread if reading == "std" else np.sqrt(spread)
    x = s + rng.standard_normal(s.shape) * std
    _, ny, nx = s.shape
    for i in range(len(x)):
        ph = rng.integers(0, period, size=nx if phase == "column" else 1)
        x[i] += checkerboard_pattern((ny, nx), ph, amplitude=amplitude, period=period)
    x = x.astype(np.float32)
    return x[0] if was_2d else x


def scale_to_unit(x, mode: str = "auto") -> np.ndarray:
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
    if mode not in ("auto", "none", "8bit", "minmax"):
        raise ValueError(f"unknown scaling {mode!r}: expected auto, none, 8bit or minmax")
    lo, hi = float(arr.min()), float(arr.max())
    if mode == "auto":
        if lo >= 0 and hi <= 1:
            mode = "none"
        elif lo >= 0 and hi <= 255 and np.all(arr == np.round(arr)):
            mode = "8bit"
        else:
            mode = "minmax"
    if mode == "none":
        return arr
    if mode == "8bit":
        return arr / np.float32(255)
    if hi <= lo:
        raise ValueError("cannot min-max scale a constant image")
    return (arr - lo) / np.float32(hi - lo)


GENERATORS = {"stripe": stripe, "checkerboard": checkerboard}
"""Named noise generators (used by the CLI ``structnoise synth``)."""
