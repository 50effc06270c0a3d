"""FFHQ thumbnails with the paper's synthetic noise (*FFHQ - Stripe*, *FFHQ - Checkerboard*).

FFHQ is not downloaded automatically (70,000 PNGs on Google Drive, 1.95 GB): get the
``thumbnails128x128`` folder from https://github.com/NVlabs/ffhq-dataset (licence
CC BY-NC-SA 4.0) and pass its path, or the path of a zip of it, to the loaders, or set
``STRUCTNOISE_FFHQ``. As in the paper the images are made grayscale by averaging the
colour channels, scaled to ``[0, 1]`` (divided by 255), and the last 1000 images (sorted
by file name) are the test set. The noise of image ``i`` is drawn with a seed derived
from the base seed, the dataset name and ``i``, so limiting the number of training
images never changes the noise of the others.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from structnoise.datasets.base import DatasetEntry, DatasetKind, NoisyDataset
from structnoise.datasets.checkerboard_noise import checkerboard
from structnoise.datasets.synthetic import stripe
from structnoise.utils import derive_seed

#: Environment variable pointing to the FFHQ thumbnails (folder or zip).
FFHQ_ENV = "STRUCTNOISE_FFHQ"
#: Base seed of the FFHQ noise.
FFHQ_SEED = 20240602
#: The paper's test set: the last 1000 images.
FFHQ_N_TEST = 1000
FFHQ_SUFFIXES = (".png", ".jpg", ".jpeg")

FFHQ_HELP = (
    "Get the FFHQ thumbnails (thumbnails128x128: 70,000 PNGs, 1.95 GB) from "
    "https://github.com/NVlabs/ffhq-dataset (licence CC BY-NC-SA 4.0), then pass the "
    f"folder or a zip of it as path=..., or set {FFHQ_ENV}=/path/to/thumbnails128x128."
)
CITATION_FFHQ = (
    "Karras, Laine, Aila. A style-based generator architecture for generative adversarial "
    "networks. CVPR 2019 (FFHQ); noise: Salmon & Krull, DVLAE, section 5.1."
)


def ffhq_path() -> Path | None:
    """The FFHQ location from ``$STRUCTNOISE_FFHQ``, or None when unset."""
    env = os.environ.get(FFHQ_ENV)
    return Path(env).expanduser() if env else None


def _listing(path: Path) -> tuple[list[str], zipfile.ZipFile | None]:
    """Image names sorted by file name, and the open archive for zips (None for folders)."""
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.suffix.lower() in FFHQ_SUFFIXES]
        files.sort(key=lambda p: (p.name, str(p)))
        return [str(p) for p in files], None
    if zipfile.is_zipfile(path):
        zf = zipfile.ZipFile(path)
        names = [n for n in zf.namelist() if Path(n).suffix.lower() in FFHQ_SUFFIXES]
        names.sort(key=lambda n: (Path(n).name, n))
        return names, zf
    raise ValueError(f"{path}: expected a folder of FFHQ images or a zip of it")


def _gray(data: bytes | str) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as im:
        arr = np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)
    if arr.ndim == 3:
        arr = arr[..., :3].astype(np.float32).mean(axis=-1)
    return (arr.astype(np.float32) / np.float32(255)).astype(np.float32)


#: The noise of each FFHQ dataset and the direction it is correlated along.
FFHQ_NOISE: dict[str, tuple[Callable[..., np.ndarray], str]] = {
    "ffhq-stripe": (stripe, "horizontal"),
    "ffhq-checkerboard": (checkerboard, "vertical"),
}


def load_ffhq(
    name: str,
    path: str | os.PathLike | None = None,
    *,
    n_train: int | None = None,
    n_test: int = FFHQ_N_TEST,
    seed: int = FFHQ_SEED,
    progress: bool = True,
    **noise_kwargs,
) -> NoisyDataset:
    """Load FFHQ thumbnails with the noise of ``name`` (see :data:`FFHQ_NOISE`).

    Parameters
    ----------
    name : {"ffhq-stripe", "ffhq-checkerboard"}
        Which noise.
    path, n_train, n_test, seed, progress, **noise_kwargs
        As in :func:`ffhq_stripe`.

    Returns
    -------
    NoisyDataset
        As described in :func:`ffhq_stripe` and :func:`ffhq_checkerboard`.
    """
    noise, axis = FFHQ_NOISE[name]
    path = Path(path).expanduser() if path is not None else ffhq_path()
    if path is None:
        raise FileNotFoundError(f"{name}: no FFHQ location given. {FFHQ_HELP}")
    if not path.exists():
        raise FileNotFoundError(f"{name}: {path} does not exist. {FFHQ_HELP}")
    names, archive = _listing(path)
    with archive if archive is not None else contextlib.nullcontext():
        if len(names) <= n_test:
            raise ValueError(
                f"{name}: found {len(names)} images in {path}, need more than the {n_test} "
                f"test images. {FFHQ_HELP}"
            )
        n_avail = len(names) - n_test
        if n_train is not None and n_train < 0:
            raise ValueError(f"n_train must be >= 0, got {n_train}")
        n_use = n_avail if n_train is None else min(n_train, n_avail)
        chosen = list(range(n_use)) + list(range(n_avail, len(names)))
        from structnoise.progress import progress_bar

        clean, noisy = [], []
        for i in progress_bar(chosen, desc=f"loading {name}", disable=not progress, unit="img"):
            img = _gray(archive.read(names[i]) if archive is not None else names[i])
            if clean and img.shape != clean[0].shape:
                raise ValueError(f"{names[i]}: size {img.shape} differs from {clean[0].shape}")
            clean.append(img)
            rng = np.random.default_rng(derive_seed(seed, name, i))
            noisy.append(noise(img, rng, **noise_kwargs))
    clean_arr, noisy_arr = np.stack(clean), np.stack(noisy)
    return NoisyDataset(
        name=name,
        train_noisy=noisy_arr[:n_use],
        test_noisy=noisy_arr[n_use:],
        test_clean=clean_arr[n_use:],
        train_clean=clean_arr[:n_use],
        axis=axis,
        citation=CITATION_FFHQ,
        licence="CC BY-NC-SA 4.0 (FFHQ)",
        description=f"FFHQ thumbnails, grayscale, {n_use} training and {n_test} test images "
        f"(the last {n_test} by file name) with the paper's synthetic {name[5:]} noise",
    )


def ffhq_stripe(
    path: str | os.PathLike | None = None,
    *,
    n_train: int | None = None,
    n_test: int = FFHQ_N_TEST,
    seed: int = FFHQ_SEED,
    progress: bool = True,
    **noise_kwargs,
) -> NoisyDataset:
    """*FFHQ - Stripe*: FFHQ thumbnails with the paper's stripe noise.

    Parameters
    ----------
    path : path-like, optional
        Folder (searched recursively) or zip of the FFHQ ``thumbnails128x128`` PNGs;
        default ``$STRUCTNOISE_FFHQ``.
    n_train : int, optional
        Use only the first ``n_train`` training images (all 69,000 take about 9 GB of
        memory as float32, clean and noisy).
    n_test : int
        Size of the test set, the last images by file name (paper: 1000).
    seed : int
        Base seed of the noise.
    progress : bool
        Show a progress bar while reading.
    **noise_kwargs
        Non-default parameters of :func:`structnoise.datasets.synthetic.stripe`.

    Returns
    -------
    NoisyDataset
        ``train_noisy``/``train_clean``: ``(n_train, 128, 128)`` float32;
        ``test_noisy``/``test_clean``: ``(n_test, 128, 128)`` float32, clean in ``[0, 1]``;
        ``axis="horizontal"``.

    Raises
    ------
    FileNotFoundError
        When no FFHQ location is given or it does not exist (the message says where to
        get the data).

    Notes
    -----
    Licence: CC BY-NC-SA 4.0. Citation: Karras, Laine, Aila, *A style-based generator
    architecture for generative adversarial networks*, CVPR 2019.
    """
    return load_ffhq(
        "ffhq-stripe",
        path,
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        progress=progress,
        **noise_kwargs,
    )


def ffhq_checkerboard(
    path: str | os.PathLike | None = None,
    *,
    n_train: int | None = None,
    n_test: int = FFHQ_N_TEST,
    seed: int = FFHQ_SEED,
    progress: bool = True,
    **noise_kwargs,
) -> NoisyDataset:
    """*FFHQ - Checkerboard*: FFHQ thumbnails with the paper's checkerboard noise.

    Parameters and returns as :func:`ffhq_stripe`; the noise is
    :func:`structnoise.datasets.synthetic.checkerboard` (its docstring gives the reading
    of "N(0, 0.15 x 1/s)" used) and ``axis="vertical"``.

    Parameters
    ----------
    path : path-like, optional
        Folder or zip of the FFHQ thumbnails; default ``$STRUCTNOISE_FFHQ``.
    n_train : int, optional
        Use only the first ``n_train`` training images.
    n_test : int
        Size of the test set (paper: 1000).
    seed : int
        Base seed of the noise.
    progress : bool
        Show a progress bar while reading.
    **noise_kwargs
        Non-default parameters of :func:`structnoise.datasets.synthetic.checkerboard`.

    Returns
    -------
    NoisyDataset
        Shapes as :func:`ffhq_stripe`, ``axis="vertical"``.

    Notes
    -----
    Licence: CC BY-NC-SA 4.0. Citation: Karras et al., CVPR 2019.
    """
    return load_ffhq(
        "ffhq-checkerboard",
        path,
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        progress=progress,
        **noise_kwargs,
    )


#: The catalogue entries of the FFHQ datasets (:mod:`structnoise.datasets.catalog`).
ENTRIES: tuple[DatasetEntry, ...] = tuple(
    DatasetEntry(
        name=name,
        loader=loader,
        kind=DatasetKind.LOCAL,
        source="FFHQ thumbnails (NVlabs), user-supplied",
        size="70,000 x 128x128 PNG, 1.95 GB",
        axis=FFHQ_NOISE[name][1],
        paper_name=paper_name,
    )
    for name, loader, paper_name in (
        ("ffhq-stripe", ffhq_stripe, "FFHQ - Stripe"),
        ("ffhq-checkerboard", ffhq_checkerboard, "FFHQ - Checkerboard"),
    )
)
