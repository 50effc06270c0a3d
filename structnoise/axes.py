"""Axes strings for input images: which array axis is what.

The suite's methods work on stacks of single-channel images ``(N, Y, X)``. User files are
often something else: a colour image ``(Y, X, 3)``, a channel-first stack ``(C, Y, X)``, a
time series of colour frames ``(T, Y, X, C)``. An *axes string*, in the style of the
bioimage ecosystem (careamics, CSBDeep, tifffile), names each axis of the array with one
letter:

==========  ===========================================================
letter      meaning
==========  ===========================================================
``Y``, ``X``  the image plane (both required)
``C``       channels (colour, fluorescence channels); denoised one by one
``S``       samples: independent images of a stack
``T``       time points (treated as independent images)
``Z``       planes of a volume (treated as independent 2-D images)
==========  ===========================================================

Examples: ``YX`` (one image), ``SYX`` (a stack), ``YXC`` (RGB), ``CYX``, ``TYXC``.

Every axis other than ``Y`` and ``X`` is folded into the stack: :func:`to_stack` turns an
array into ``(N, Y, X)`` and a :class:`Layout`, and :meth:`Layout.restore` puts a result of
that stack back into the input's shape and axis order. Nothing is ever averaged.

When no axes are given, :func:`guess_axes` accepts only shapes without doubt: ``YX`` for
2-D, ``SYX`` for 3-D arrays whose last axis is longer than 4 pixels. A 3-D array whose last
axis has 3 or 4 elements (an RGB(A) image, or a stack of very thin images?) and every 4-D
array need explicit axes; the error says how to pass them (``--axes`` on the command line,
``axes=`` in Python). Files can say what their axes are (a TIFF's RGB photometric or an
ImageJ hyperstack, the colour of a PNG): :func:`structnoise.io.read_image` uses that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Letters an axes string may hold.
AXES_LETTERS = "STZCYX"
#: Letters folded into the stack dimension, in any order.
STACK_LETTERS = "STZC"


def check_axes(axes: str, ndim: int | None = None) -> str:
    """Validate an axes string (case-insensitive) and return it in upper case.

    Parameters
    ----------
    axes : str
        For example ``"YX"``, ``"SYX"``, ``"YXC"``.
    ndim : int, optional
        The number of dimensions of the array it describes.

    Returns
    -------
    str
        The axes string in upper case.

    Raises
    ------
    ValueError
        On unknown or repeated letters, a missing ``Y`` or ``X``, ``Y``/``X`` not being the
        last two spatial letters in order, or a length different from ``ndim``.
    """
    if not isinstance(axes, str) or not axes:
        raise ValueError(f"axes must be a non-empty string such as 'YX' or 'YXC', got {axes!r}")
    up = axes.strip().upper()
    bad = sorted(set(up) - set(AXES_LETTERS))
    if bad:
        raise ValueError(
            f"axes {axes!r}: unknown letter(s) {', '.join(bad)}; use S (samples), T (time), "
            "Z (planes), C (channels), Y and X"
        )
    repeated = sorted({c for c in up if up.count(c) > 1})
    if repeated:
        raise ValueError(f"axes {axes!r}: letter(s) {', '.join(repeated)} appear more than once")
    if "Y" not in up or "X" not in up:
        raise ValueError(f"axes {axes!r}: must contain both Y and X")
    if up.index("Y") > up.index("X"):
        raise ValueError(f"axes {axes!r}: Y must come before X (transpose the image instead)")
    if ndim is not None and len(up) != ndim:
        raise ValueError(
            f"axes {axes!r} has {len(up)} letter(s) but the image has {ndim} dimension(s)"
        )
    return up


def guess_axes(shape: tuple[int, ...], *, hint: str = "pass axes=", strict: bool = False) -> str:
    """Axes of an array of ``shape`` when none are given, or a ValueError when in doubt.

    Parameters
    ----------
    shape : tuple of int
        The array's shape.
    hint : str
        How the caller passes axes (``"pass --axes"`` on the CLI), for the error message.
    strict : bool
        Also refuse a 3-D shape whose *first* axis has 3 or 4 elements (channels first, or
        a stack of 3 or 4 images?). Files read from disk are guessed strictly; a NumPy
        array passed in Python is ``(N, Y, X)`` by the documented convention.

    Returns
    -------
    str
        ``"YX"`` or ``"SYX"``.

    Raises
    ------
    ValueError
        For a 3-D shape whose last axis (or, with ``strict``, first axis) has 3 or 4
        elements, and for any other number of dimensions than 2 or 3.
    """
    ndim = len(shape)
    if ndim == 2:
        return "YX"
    if ndim == 3:
        if shape[-1] in (3, 4):
            raise ValueError(
                f"image of shape {tuple(shape)} is ambiguous: a colour image (Y, X, C) or a "
                f"stack of {shape[0]} images {shape[1]} x {shape[2]} pixels? {hint} YXC (colour "
                "channels, denoised one by one) or SYX"
            )
        if strict and shape[0] in (3, 4):
            raise ValueError(
                f"image of shape {tuple(shape)} is ambiguous: {shape[0]} channels (C, Y, X) or "
                f"a stack of {shape[0]} images? {hint} CYX (channels, denoised one by one) or "
                "SYX"
            )
        return "SYX"
    if ndim == 4:
        raise ValueError(
            f"image of shape {tuple(shape)} is 4-D: {hint} with one letter per "
            "axis, e.g. SYXC (stack of colour images), SCYX or TZYX"
        )
    raise ValueError(
        f"expected a 2-D image (Y, X) or a 3-D stack (N, Y, X), got a {ndim}-D array of "
        f"shape {tuple(shape)}; {hint} to name its axes (e.g. TZCYX)"
    )


@dataclass(frozen=True)
class Layout:
    """How an array was folded into a ``(N, Y, X)`` stack, to put results back.

    Attributes
    ----------
    axes : str
        The input's axes string.
    shape : tuple of int
        The input's shape.
    """

    axes: str
    shape: tuple[int, ...]

    @property
    def order(self) -> tuple[int, ...]:
        """Permutation bringing the stack axes first (input order) and then Y, X."""
        rest = [i for i, c in enumerate(self.axes) if c not in "YX"]
        return (*rest, self.axes.index("Y"), self.axes.index("X"))

    @property
    def was_2d(self) -> bool:
        """True for a single ``YX`` image."""
        return self.axes == "YX"

    def restore(self, stack: np.ndarray) -> np.ndarray:
        """Put a ``(N, Y, X)`` result of :func:`to_stack`'s stack back into the input's layout.

        Parameters
        ----------
        stack : numpy.ndarray
            Shape ``(N, Y, X)``, ``N`` the product of the non-spatial axes.

        Returns
        -------
        numpy.ndarray
            The input's shape and axis order.
        """
        order = self.order
        permuted_shape = tuple(self.shape[i] for i in order)
        arr = np.asarray(stack).reshape(permuted_shape)
        return np.transpose(arr, np.argsort(order))


def to_stack(
    arr, axes: str | None = None, *, hint: str = "pass axes="
) -> tuple[np.ndarray, Layout]:
    """Fold every axis other than Y and X of ``arr`` into one stack axis.

    Parameters
    ----------
    arr : array_like
        The image(s).
    axes : str, optional
        The axes of ``arr``; guessed with :func:`guess_axes` when not given.
    hint : str
        How the caller passes axes, for error messages.

    Returns
    -------
    stack : numpy.ndarray
        ``(N, Y, X)``, the input's dtype (a view when no axis moves).
    layout : Layout
        What :meth:`Layout.restore` needs to give results the input's shape.
    """
    a = np.asarray(arr)
    axes = guess_axes(a.shape, hint=hint) if axes is None else check_axes(axes, a.ndim)
    layout = Layout(axes, tuple(a.shape))
    moved = np.transpose(a, layout.order)
    return moved.reshape((-1, *moved.shape[-2:])), layout


def fold_axes(x, axes: str | None):
    """Fold an array with ``axes`` into a stack (unchanged when ``axes`` is None).

    Parameters
    ----------
    x : array_like
        The image(s).
    axes : str or None
        Their axes; None keeps ``x`` but refuses shapes that are ambiguous without axes.

    Returns
    -------
    array_like
        ``x`` itself, or an ``(N, Y, X)`` stack.
    """
    if axes is None:
        guess_axes(np.shape(x))  # refuses ambiguous shapes
        return x
    return to_stack(x, axes)[0]
