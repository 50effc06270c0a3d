"""Tiled prediction with overlap blending, for images of any size.

Networks see tiles of at most ``tile x tile`` pixels, padded (reflect) to a multiple of
the network's downsampling factor; overlapping tile outputs are blended with a linear
ramp so that no seams appear. Used by every network method (DVLAE, HDN, ...).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles covering ``[0, length)`` with at least ``overlap`` overlap.

    Parameters
    ----------
    length : int
        Size of the axis.
    tile : int
        Tile size along the axis.
    overlap : int
        Minimum overlap between neighbouring tiles.

    Returns
    -------
    list of int
        Sorted starts; the last tile ends exactly at ``length``.
    """
    if tile >= length:
        return [0]
    if overlap >= tile:
        raise ValueError(f"tile overlap {overlap} must be smaller than the tile size {tile}")
    step = tile - overlap
    n = int(np.ceil((length - tile) / step)) + 1
    starts = np.linspace(0, length - tile, n).round().astype(int)
    return sorted(set(starts.tolist()))


def _ramp(length: int, overlap: int) -> np.ndarray:
    if overlap <= 0:
        return np.ones(length, np.float32)
    i = np.arange(length, dtype=np.float32)
    w = np.minimum(np.minimum((i + 0.5) / overlap, (length - i - 0.5) / overlap), 1.0)
    return np.maximum(w, 1e-3).astype(np.float32)


def pad_to_multiple(batch: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad the last two axes of ``batch`` up to a multiple of ``multiple``.

    Parameters
    ----------
    batch : numpy.ndarray
        ``(..., Y, X)``.
    multiple : int
        The size both axes must be divisible by.

    Returns
    -------
    padded : numpy.ndarray
    original : tuple of int
        ``(Y, X)`` to crop back to.
    """
    y, x = batch.shape[-2:]
    py, px = (-y) % multiple, (-x) % multiple
    if py == 0 and px == 0:
        return batch, (y, x)
    pad = [(0, 0)] * (batch.ndim - 2) + [(0, py), (0, px)]
    mode = "reflect" if min(y, x) > 1 else "edge"
    return np.pad(batch, pad, mode=mode), (y, x)


def predict_tiled(
    fn: Callable[[np.ndarray], np.ndarray],
    stack: np.ndarray,
    *,
    tile: int | None = None,
    overlap: int = 32,
    multiple: int = 1,
    progress: bool = False,
    desc: str = "denoise",
) -> np.ndarray:
    """Apply ``fn`` to every image of a stack, tile by tile, and blend the tiles.

    Parameters
    ----------
    fn : callable
        Maps a float32 batch ``(B, h, w)`` with ``h`` and ``w`` multiples of ``multiple``
        to an array of the same shape.
    stack : numpy.ndarray
        ``(N, Y, X)`` float32.
    tile : int, optional
        Largest tile side; ``None`` sends whole images (padded) at once.
    overlap : int
        Overlap of neighbouring tiles in pixels (clipped to ``tile // 2``).
    multiple : int
        Tiles are reflect-padded to a multiple of this (the network's total downsampling).
    progress : bool
        Show a progress bar over tiles.
    desc : str
        Label of the progress bar.

    Returns
    -------
    numpy.ndarray
        ``(N, Y, X)`` float32.
    """
    from structnoise.progress import progress_bar

    n, ny, nx = stack.shape
    out = np.zeros(stack.shape, np.float32)
    if tile is None:
        jobs = [(i, 0, 0, ny, nx) for i in range(n)]
    else:
        tile = int(tile)
        if tile < multiple:
            raise ValueError(f"tile size {tile} is smaller than the network's minimum {multiple}")
        ov = min(int(overlap), tile // 2)
        th, tw = min(tile, ny), min(tile, nx)
        jobs = [
            (i, y0, x0, th, tw)
            for i in range(n)
            for y0 in tile_starts(ny, th, ov)
            for x0 in tile_starts(nx, tw, ov)
        ]
    weight = np.zeros((ny, nx), np.float32) if tile is not None else None
    bar = progress_bar(total=len(jobs), desc=desc, disable=not progress, unit="tile", leave=False)
    current = -1
    for i, y0, x0, h, w in jobs:
        if tile is not None and i != current:
            if current >= 0:
                out[current] /= weight
            weight[:] = 0
            current = i
        patch, (h0, w0) = pad_to_multiple(stack[i, y0 : y0 + h, x0 : x0 + w][None], multiple)
        pred = np.asarray(fn(patch), dtype=np.float32)[0, :h0, :w0]
        if tile is None:
            out[i] = pred
        else:
            ov = min(int(overlap), tile // 2)
            wy = _ramp(h, ov) if h < ny else np.ones(h, np.float32)
            wx = _ramp(w, ov) if w < nx else np.ones(w, np.float32)
            win = wy[:, None] * wx[None, :]
            out[i, y0 : y0 + h, x0 : x0 + w] += pred * win
            weight[y0 : y0 + h, x0 : x0 + w] += win
        bar.update(1)
    if tile is not None and current >= 0:
        out[current] /= weight
    bar.close()
    return out
