"""Input validation shared by every public entry point.

All image-taking functions of the suite accept a single image ``(Y, X)`` or a stack
``(N, Y, X)`` of any real numeric dtype and turn it into a float32 stack with
:func:`as_stack`, which raises a :class:`ValueError` that names the problem.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

#: Largest magnitude an image value may have: the square root of float32's largest number,
#: so that the squares in variances, PSNR and losses stay finite.
MAX_ABS_VALUE = float(np.sqrt(np.finfo(np.float32).max))


class NoiseAxis(StrEnum):
    """Direction structured noise is correlated along."""

    #: Correlated along rows (stripes run left-right).
    HORIZONTAL = "horizontal"
    #: Correlated along columns.
    VERTICAL = "vertical"


def as_stack(
    x,
    *,
    name: str = "image",
    min_size: int | None = None,
    nonnegative: bool = False,
) -> tuple[np.ndarray, bool]:
    """Validate an image or stack and return it as a float32 ``(N, Y, X)`` array.

    Parameters
    ----------
    x : array_like
        A 2-D image ``(Y, X)`` or a 3-D stack ``(N, Y, X)`` of real numbers.
    name : str
        What the array is called in error messages (e.g. ``"noisy"``).
    min_size : int, optional
        Smallest allowed height and width in pixels.
    nonnegative : bool
        Reject negative values (e.g. a signal that Poisson noise is drawn from).

    Returns
    -------
    stack : numpy.ndarray
        float32 array of shape ``(N, Y, X)`` (a copy when the dtype changes).
    was_2d : bool
        True when the input was a single 2-D image; use it to give results the input's shape.

    Raises
    ------
    ValueError
        On a wrong number of dimensions, an empty array, a non-numeric or complex dtype,
        NaN or infinite values, values beyond :data:`MAX_ABS_VALUE`, images smaller than
        ``min_size`` or negative values when ``nonnegative`` is set.
    """
    arr = np.asarray(x)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.integer)
        or np.issubdtype(arr.dtype, np.floating)
        or arr.dtype == bool
    ):
        raise ValueError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"{name}: expected a 2-D image (Y, X) or a 3-D stack (N, Y, X), "
            f"got {arr.ndim}-D array of shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"{name}: the array is empty (shape {arr.shape})")
    was_2d = arr.ndim == 2
    stack = arr[None] if was_2d else arr
    stack = stack.astype(np.float32, copy=False)
    finite = np.isfinite(stack)
    if not finite.all():
        bad = int((~finite).sum())
        kind = "NaN" if np.isnan(stack).any() else "infinite"
        raise ValueError(f"{name}: contains {bad} {kind} value(s); clean or mask them first")
    peak = float(np.abs(stack).max())
    if peak > MAX_ABS_VALUE:
        raise ValueError(
            f"{name}: values reach {peak:.3g}, beyond what float32 arithmetic handles here "
            f"(squares and variances overflow above {MAX_ABS_VALUE:.2g}); divide the images by "
            "a constant (e.g. 1e30) first"
        )
    if min_size is not None and min(stack.shape[1:]) < min_size:
        raise ValueError(
            f"{name}: images are {stack.shape[1]}x{stack.shape[2]} pixels, smaller than the "
            f"minimum {min_size}x{min_size} this operation needs"
        )
    if nonnegative and float(stack.min()) < 0:
        raise ValueError(
            f"{name}: contains negative values (min {float(stack.min()):.4g}); "
            "a signal >= 0 is required here"
        )
    return stack, was_2d


def check_same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    """Raise a ValueError unless two stacks have the same shape.

    Parameters
    ----------
    a, b : numpy.ndarray
        The arrays to compare.
    names : tuple of str
        Their names, for the error message.
    """
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} has shape {a.shape} but {names[1]} has shape {b.shape}; they must match"
        )


def check_axis(axis: str) -> str:
    """Validate the name of a structured-noise axis.

    Parameters
    ----------
    axis : str
        ``"horizontal"`` (noise correlated along rows) or ``"vertical"`` (along columns).

    Returns
    -------
    str
        The axis, unchanged.
    """
    if axis not in tuple(NoiseAxis):
        raise ValueError(f"unknown axis {axis!r}: expected 'horizontal' or 'vertical'")
    return axis
