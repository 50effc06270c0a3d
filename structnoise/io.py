"""Reading and writing image stacks (TIFF files or folders of images)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from structnoise.utils import atomic_path

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")


def _to_gray(img: np.ndarray, source: str) -> np.ndarray:
    """Average the colour channels of an RGB(A) image; pass grayscale through."""
    if img.ndim == 3 and img.shape[-1] in (3, 4):
        return img[..., :3].astype(np.float32).mean(axis=-1)
    if img.ndim != 2:
        raise ValueError(f"{source}: expected a grayscale or RGB image, got shape {img.shape}")
    return img


def read_stack(path: str | os.PathLike) -> np.ndarray:
    """Read an image stack from a TIFF file, a single image file or a folder of images.

    Parameters
    ----------
    path : path-like
        A ``.tif``/``.tiff`` file (2-D image or ``(N, Y, X)`` stack), a PNG/JPEG image,
        or a folder whose image files (sorted by name) all have the same size. Colour
        images are made grayscale by averaging their channels, as the paper did for FFHQ.

    Returns
    -------
    numpy.ndarray
        ``(Y, X)`` for a single 2-D image, else ``(N, Y, X)``; the file's dtype is kept
        for TIFF files, folders and colour images give float32.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If a folder holds no images, images of different sizes, or a file cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(
                f"{path}: the folder holds no images (looked for {', '.join(IMAGE_SUFFIXES)})"
            )
        images = []
        for f in files:
            img = _read_file(f)
            if img.ndim == 3:
                images.extend(img.astype(np.float32))
            else:
                images.append(img.astype(np.float32))
        shapes = {im.shape for im in images}
        if len(shapes) > 1:
            raise ValueError(f"{path}: images have different sizes {sorted(shapes)}")
        return np.stack(images)
    return _read_file(path)


def _read_file(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            arr = tifffile.imread(path)
            if arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.shape[0] > 4:
                arr = _to_gray(arr, str(path))
            if arr.ndim == 4 and arr.shape[-1] in (3, 4):
                arr = arr[..., :3].astype(np.float32).mean(axis=-1)
            return np.asarray(arr)
        if suffix in IMAGE_SUFFIXES:
            import skimage.io

            return _to_gray(np.asarray(skimage.io.imread(path)), str(path))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read image ({exc})") from exc
    raise ValueError(f"{path}: unsupported file type {suffix!r}; use TIFF, PNG or JPEG")


def write_tiff(path: str | os.PathLike, arr: np.ndarray) -> Path:
    """Write an array to a TIFF file atomically (never a half-written file).

    Parameters
    ----------
    path : path-like
        Destination; parent folders are created.
    arr : numpy.ndarray
        The image or stack.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    import tifffile

    path = Path(path)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, np.asarray(arr))
    return path
