"""Reading and writing image stacks (TIFF files or folders of images)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from structnoise.utils import atomic_path

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")


#: What :func:`write_image` writes, by file extension.
OUTPUT_FORMATS = {".tif": "TIFF", ".tiff": "TIFF", ".npy": "NumPy"}


class ImageRefused(ValueError):
    """An image file structnoise will not read as it is (the message is one line)."""


#: tifffile's axis letters -> ours (tifffile's ``S`` are colour samples, our ``C``).
_TIFF_AXES = {"Y": "Y", "X": "X", "S": "C", "C": "C", "T": "T", "Z": "Z"}


def _reduced(series) -> bool:
    """Whether a tifffile series is a reduced-resolution copy (a thumbnail)."""
    try:
        return bool(series.keyframe.is_reduced)
    except (AttributeError, IndexError):
        return False


def _tiff_axes(path: Path) -> tuple[np.ndarray, str | None]:
    """Read a TIFF and the axes its metadata states (None when it states none).

    tifffile names the axes of a file's first series: ``YXS`` for an RGB image, ``SYX``
    for planar RGB, ``CYX``/``TZYX``... for ImageJ hyperstacks, ``QYX`` or ``IYX`` for
    pages of unknown meaning (read as a stack, our ``S``).
    """
    import tifffile

    with tifffile.TiffFile(path) as tif:
        # thumbnails and other reduced-resolution copies (NewSubfileType) are not images
        every = [s for s in tif.series if not _reduced(s)] or [tif.series[0]]
        series = every[0]
        layouts = {(tuple(s.shape), str(s.axes), str(s.dtype)) for s in every}
        if len(layouts) > 1:  # pages of several shapes: none is dropped silently
            if len({(tuple(s.shape), str(s.axes)) for s in every}) > 1:
                what, items = "shapes", [" x ".join(map(str, s.shape)) for s in every]
            else:
                what, items = "data types", [str(s.dtype) for s in every]
            shown = ", ".join(items[:6]) + (", ..." if len(items) > 6 else "")
            raise ImageRefused(
                f"{path}: the file holds {len(every)} images of different {what} ({shown}); "
                f"structnoise reads images of one shape and type: save the images of each "
                f"{what[:-1]} as a file of their own"
            )
        meta_axes = str(series.axes).upper()
        if len(every) > 1:  # several series of one shape (pages written one by one)
            arr = np.stack([s.asarray() for s in every])
            meta_axes = "Q" + meta_axes
        else:
            arr = series.asarray()
    if meta_axes[:1] in ("Q", "I") and len(meta_axes) == 3:
        return arr, None  # plain pages: the shape is guessed (strictly)
    mapped = ""
    for i, c in enumerate(meta_axes):
        if c in _TIFF_AXES:
            mapped += _TIFF_AXES[c]
        elif c in "QI" and i == 0:
            mapped += "S"
        else:
            return arr, None  # an axis the file does not explain
    if arr.ndim != len(mapped) or len(set(mapped)) != len(mapped) or "YX" not in mapped:
        return arr, None
    return arr, mapped


def read_image(
    path: str | os.PathLike, axes: str | None = None, *, hint: str = "pass --axes"
) -> tuple[np.ndarray, str]:
    """Read an image file or a folder of images and say what its axes are.

    Parameters
    ----------
    path : path-like
        A TIFF file, a PNG/JPEG/BMP image, or a folder whose image files (sorted by name)
        all have the same shape (stacked along a new leading ``S`` axis, or concatenated
        along their own ``S`` axis).
    axes : str, optional
        The axes of the file's array (see :mod:`structnoise.axes`); when not given they are
        taken from the file (a TIFF's RGB photometric or ImageJ hyperstack axes, the colour
        of a PNG/JPEG) or guessed strictly from the shape (an error when in doubt).
    hint : str
        How the caller passes axes, for error messages.

    Returns
    -------
    array : numpy.ndarray
        The pixels as stored (TIFF dtype kept), nothing averaged.
    axes : str
        Its axes string.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If a folder holds no images or images of different shapes or data types, a TIFF
        holds images (pages) of different shapes, a file cannot be read, or the axes are
        ambiguous or do not fit the array.
    """
    from structnoise.axes import check_axes, guess_axes

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if path.is_dir():
        files = sorted(
            p
            for p in path.iterdir()
            # hidden files (macOS's ._name resource forks, .DS_Store) are not images
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
        )
        if not files:
            raise ValueError(
                f"{path}: the folder holds no images (looked for {', '.join(IMAGE_SUFFIXES)})"
            )
        items = [read_image(f, axes, hint=hint) for f in files]
        shapes = {(a.shape, ax) for a, ax in items}
        if len(shapes) > 1:
            found = sorted(f"{s} {ax}" for s, ax in shapes)
            raise ValueError(f"{path}: images have different shapes or axes: {found}")
        _check_one_dtype(path, files, [a for a, _ in items])
        file_axes = items[0][1]
        arrays = [a.astype(np.float32, copy=False) for a, _ in items]
        if "S" in file_axes:
            return np.concatenate(arrays, axis=file_axes.index("S")), file_axes
        return np.stack(arrays), "S" + file_axes
    arr, stated = _read_file(path)
    where = f"{path}: "
    try:
        if axes is not None:
            return arr, check_axes(axes, arr.ndim)
        if stated is not None:
            return arr, stated
        return arr, guess_axes(arr.shape, hint=hint, strict=True)
    except ValueError as exc:
        raise ValueError(where + str(exc)) from None


def read_stack(
    path: str | os.PathLike, axes: str | None = None, *, hint: str = "pass --axes"
) -> np.ndarray:
    """Read images as a stack of single-channel 2-D images (see :func:`read_image`).

    Parameters
    ----------
    path : path-like
        A TIFF file, a PNG/JPEG image or a folder of images.
    axes : str, optional
        The file's axes; read from the file or guessed strictly when not given.
    hint : str
        How the caller passes axes, for error messages.

    Returns
    -------
    numpy.ndarray
        ``(Y, X)`` for a single 2-D image, else ``(N, Y, X)`` with every channel, time
        point and plane an image of its own (nothing averaged); dtype as stored.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        As :func:`read_image`.
    """
    from structnoise.axes import to_stack

    arr, found = read_image(path, axes, hint=hint)
    if found == "YX":
        return arr
    return to_stack(arr, found)[0]


def _check_one_dtype(folder: Path, files: list[Path], arrays: list[np.ndarray]) -> None:
    """Refuse a folder whose images have different data types (different value scales).

    Floating-point images of any precision count as one type.
    """
    kinds: dict[str, list[str]] = {}
    for f, a in zip(files, arrays, strict=True):
        key = "float" if a.dtype.kind == "f" else str(a.dtype)
        kinds.setdefault(key, []).append(f.name)
    if len(kinds) <= 1:
        return
    parts = [
        f"{key} ({names[0]}" + (f" and {len(names) - 1} more" if len(names) > 1 else "") + ")"
        for key, names in kinds.items()
    ]
    raise ValueError(
        f"{folder}: the images have different data types: {', '.join(parts)}; their values "
        "are on different scales (0-255, 0-65535, 0-1 ...): convert them to one type first"
    )


def _read_file(path: Path) -> tuple[np.ndarray, str | None]:
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            return _tiff_axes(path)
        if suffix == ".npy":
            return np.load(path, allow_pickle=False), None
        if suffix in IMAGE_SUFFIXES:
            import skimage.io

            img = np.asarray(skimage.io.imread(path))
            return img, {2: "YX", 3: "YXC"}.get(img.ndim)
    except ImageRefused:
        raise
    except (OSError, ValueError, IndexError) as exc:
        raise ValueError(f"{path}: cannot read image ({exc})") from exc
    raise ValueError(f"{path}: unsupported file type {suffix!r}; use TIFF, PNG or JPEG")


def check_output_format(path: str | os.PathLike) -> str:
    """The format :func:`write_image` writes to ``path``, or a one-line refusal.

    Parameters
    ----------
    path : path-like
        The output file.

    Returns
    -------
    str
        ``"TIFF"`` (``.tif``, ``.tiff``) or ``"NumPy"`` (``.npy``).

    Raises
    ------
    ValueError
        For any other extension: PNG, JPEG and BMP hold 8- or 16-bit integers, and
        float32 results would lose precision and their units.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in OUTPUT_FORMATS:
        return OUTPUT_FORMATS[suffix]
    what = f"{suffix} files" if suffix else "a file without an extension"
    raise ValueError(
        f"cannot write {path}: structnoise writes float32 images as TIFF (.tif, .tiff) or "
        f"NumPy (.npy), not {what} (PNG and JPEG would round the values to 8 or 16 bits); "
        "name the output .tif"
    )


def write_image(path: str | os.PathLike, arr: np.ndarray, axes: str | None = None) -> Path:
    """Write an array in the format its extension names, atomically.

    ``.tif`` / ``.tiff``: :func:`write_tiff` (axes stated); ``.npy``: :func:`numpy.save`
    (the array as it is, no axes); anything else is refused (:func:`check_output_format`).

    Parameters
    ----------
    path : path-like
        Destination; parent folders are created.
    arr : numpy.ndarray
        The image or stack.
    axes : str, optional
        Its axes string (TIFF only).

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ValueError
        For an extension other than ``.tif``, ``.tiff`` and ``.npy``.
    """
    if check_output_format(path) == "TIFF":
        return write_tiff(path, arr, axes)
    with atomic_path(path) as tmp:
        np.save(tmp, np.asarray(arr), allow_pickle=False)
    return Path(path)


def write_tiff(path: str | os.PathLike, arr: np.ndarray, axes: str | None = None) -> Path:
    """Write an array to a TIFF file atomically (never a half-written file).

    The file states its axes (tifffile's shaped metadata), so that :func:`read_image`
    reads it back with the same layout, colour channels included.

    Parameters
    ----------
    path : path-like
        Destination; parent folders are created.
    arr : numpy.ndarray
        The image or stack.
    axes : str, optional
        Its axes string (default ``YX`` for 2-D, ``SYX`` for 3-D; none stated otherwise).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    import tifffile

    path = Path(path)
    arr = np.asarray(arr)
    if axes is None:
        axes = {2: "YX", 3: "SYX"}.get(arr.ndim)
    metadata = {"axes": axes} if axes is not None else {}
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, arr, photometric="minisblack", metadata=metadata)
    return path
