"""The paper's *FFHQ - Checkerboard* noise: signal-dependent Gaussian noise plus a pattern.

:func:`checkerboard` (section 5.1 of the DVLAE paper) adds Gaussian noise whose spread
falls with the signal, plus a period-4 ``-a, -a, +a, +a`` pattern down the columns
(:func:`checkerboard_pattern`); its docstring says how the paper's formula is read.
Importable from :mod:`structnoise.datasets.synthetic` too.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from structnoise.datasets.noise_fields import noisy_like


class Reading(StrEnum):
    """What ``scale / s`` of :func:`checkerboard` is."""

    #: The variance of the noise.
    VARIANCE = "variance"
    #: Its standard deviation.
    STD = "std"


class Phase(StrEnum):
    """Where the checkerboard pattern starts (see :func:`checkerboard`)."""

    #: One random starting point per column.
    COLUMN = "column"
    #: One per image.
    IMAGE = "image"


#: Paper's FFHQ-Checkerboard constants (section 5.1).
CHECKERBOARD_SCALE = 0.15  # N(0, 0.15 x 1/s)
CHECKERBOARD_AMPLITUDE = 0.1  # subtract 0.1 from two pixels, add 0.1 to the next two
CHECKERBOARD_PERIOD = 4  # two down, two up
#: Default reading of "N(0, 0.15 x 1/s)": 0.15/s is the variance (see checkerboard).
CHECKERBOARD_READING = Reading.VARIANCE
#: Scale of s inside 0.15/s: 8-bit grey levels (see checkerboard).
CHECKERBOARD_SIGNAL_MAX = 255.0
#: Floor on s (in [0, 1] units) inside 0.15/s, one grey level; the paper gives none.
CHECKERBOARD_FLOOR = 1.0 / 255.0


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
    reading: Reading | str = CHECKERBOARD_READING,
    signal_max: float = CHECKERBOARD_SIGNAL_MAX,
    floor: float = CHECKERBOARD_FLOOR,
    amplitude: float = CHECKERBOARD_AMPLITUDE,
    period: int = CHECKERBOARD_PERIOD,
    phase: Phase | str = Phase.COLUMN,
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
    if reading not in tuple(Reading):
        raise ValueError(f"reading must be 'std' or 'variance', got {reading!r}")
    if phase not in tuple(Phase):
        raise ValueError(f"phase must be 'image' or 'column', got {phase!r}")
    if not floor > 0:
        raise ValueError(f"floor must be > 0 (scale/s diverges at s = 0), got {floor}")
    if not signal_max > 0:
        raise ValueError(f"signal_max must be > 0, got {signal_max}")
    if scale < 0 or amplitude < 0:
        raise ValueError("scale and amplitude must be >= 0")

    def draw(s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        spread = scale / (np.maximum(s, floor) * signal_max)
        std = spread if reading == Reading.STD else np.sqrt(spread)
        x = s + rng.standard_normal(s.shape) * std
        _, ny, nx = s.shape
        for i in range(len(x)):
            ph = rng.integers(0, period, size=nx if phase == Phase.COLUMN else 1)
            x[i] += checkerboard_pattern((ny, nx), ph, amplitude=amplitude, period=period)
        return x

    return noisy_like(clean, rng, draw, nonnegative=True)
