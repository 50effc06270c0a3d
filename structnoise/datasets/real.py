"""The paper's fluorescence-microscopy datasets with real noise (downloaded with pooch).

Splits and ground truth follow the publications the paper takes them from (HDN, PPN2V,
DVLAE): the ground truth is the mean over all frames of the stack (each frame is a noisy
recording of the same static scene); the test set is a fixed crop of every frame; the
rest of the field of view is the training set of the supervised CARE baseline
(unsupervised methods fit on training and test images together, as the paper's code
does). Every loader accepts ``path=`` for a copy the user already has, or downloads it
(see :mod:`structnoise.datasets.download` for mirrors and hashes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from structnoise.datasets.base import NoisyDataset
from structnoise.datasets.download import DEFAULT_RETRIES, extract_member, fetch_file

CITATION_STRUCTN2V = (
    "Broaddus, Krull, Weigert, Schmidt, Myers. Removing structured noise with "
    "self-supervised blind-spot networks. ISBI 2020."
)
CITATION_PPN2V = (
    "Prakash, Lalit, Tomancak, Krull, Jug. Fully unsupervised probabilistic Noise2Void. ISBI 2020."
)


def _read_tiff(path: Path, name: str) -> np.ndarray:
    import tifffile

    stack = np.asarray(tifffile.imread(path))
    if stack.ndim != 3:
        raise ValueError(f"{name}: expected a (frames, Y, X) stack in {path}, got {stack.shape}")
    return stack


def _source(
    registry_name: str,
    member: str | None,
    path: str | os.PathLike | None,
    base_url: str | None,
    retries: int,
    progress: bool,
) -> Path:
    """The TIFF file: a user-supplied path, else downloaded (and extracted)."""
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such file: {path}")
        if path.suffix.lower() == ".zip":
            if member is None:
                raise ValueError(f"{path}: expected the TIFF file itself, not a zip archive")
            return extract_member(path, member)
        return path
    downloaded = fetch_file(registry_name, base_url=base_url, retries=retries, progress=progress)
    return extract_member(downloaded, member) if member else downloaded


def _split(
    stack: np.ndarray,
    test: tuple[slice, slice],
    train: list[tuple[slice, slice]],
    name: str,
    min_shape: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Crop test and training regions; ground truth = mean over frames."""
    if stack.shape[1] < min_shape[0] or stack.shape[2] < min_shape[1]:
        raise ValueError(
            f"{name}: frames are {stack.shape[1]}x{stack.shape[2]}, expected at least "
            f"{min_shape[0]}x{min_shape[1]}; is this the right file?"
        )
    data = stack.astype(np.float32)
    gt = data.mean(axis=0)
    n = len(data)

    def region(sl):
        noisy = np.ascontiguousarray(data[:, sl[0], sl[1]])
        clean = np.broadcast_to(gt[sl[0], sl[1]], noisy.shape)
        return noisy, clean

    test_noisy, test_clean = region(test)
    parts = [region(sl) for sl in train]
    train_noisy = np.concatenate([p[0] for p in parts])
    train_clean = np.concatenate([p[1] for p in parts])
    assert len(train_noisy) == n * len(train)
    return train_noisy, test_noisy, test_clean, train_clean


_Q = slice(None, 512), slice(512, None)  # first half, second half of a 1024 axis


def convallaria_a(
    path: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    retries: int = DEFAULT_RETRIES,
    progress: bool = True,
) -> NoisyDataset:
    """*Convallaria A*: Convallaria with structured (horizontal) noise, from structN2V.

    File ``flower.tif``: 100 frames of 1024x1024 uint16 (about 210 MB), sha256
    ``08c2c77a...``.

    Parameters
    ----------
    path : path-like, optional
        An existing ``flower.tif``; else it is downloaded into the data cache.
    base_url : str, optional
        Mirror base URL (see :mod:`structnoise.datasets.download`).
    retries : int
        Extra download attempts.
    progress : bool
        Show a download progress bar.

    Returns
    -------
    NoisyDataset
        ``test_noisy``: ``(100, 512, 512)`` float32, all frames cropped to
        ``[:, :512, :512]``; ``test_clean``: the mean over frames of that crop, repeated
        per frame (a read-only broadcast view); ``train_noisy``/``train_clean``:
        ``(300, 512, 512)``, the other three quadrants; ``axis="horizontal"``.

    Notes
    -----
    Licence: see Zenodo record 5160338 (structN2V data). Citation: Broaddus et al.,
    *Removing structured noise with self-supervised blind-spot networks*, ISBI 2020.
    """
    f = _source("flower.tif", None, path, base_url, retries, progress)
    tr, te, tc, trc = _split(
        _read_tiff(f, "convallaria-a"),
        (_Q[0], _Q[0]),
        [(_Q[0], _Q[1]), (_Q[1], _Q[0]), (_Q[1], _Q[1])],
        "convallaria-a",
        (1024, 1024),
    )
    return NoisyDataset(
        name="convallaria-a",
        train_noisy=tr,
        test_noisy=te,
        test_clean=tc,
        train_clean=trc,
        axis="horizontal",
        citation=CITATION_STRUCTN2V,
        licence="see Zenodo record 5160338 (structN2V data)",
        description="Convallaria, 100 frames 1024x1024, structured horizontal noise; "
        "GT = frame mean; test = [:, :512, :512]",
    )


def convallaria_b(
    path: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    retries: int = DEFAULT_RETRIES,
    progress: bool = True,
) -> NoisyDataset:
    """*Convallaria B*: Convallaria diaphragm from PPN2V.

    Archive ``Convallaria_diaphragm.zip`` (344 MB, sha256 ``8a2ac3e2...``) ->
    ``Convallaria_diaphragm/20190520_tl_25um_50msec_05pc_488_130EM_Conv.tif``: 100 frames
    of 1024x1024.

    Parameters
    ----------
    path : path-like, optional
        The TIFF or the zip archive; else the archive is downloaded.
    base_url : str, optional
        Mirror base URL.
    retries : int
        Extra download attempts.
    progress : bool
        Show a download progress bar.

    Returns
    -------
    NoisyDataset
        ``test_noisy``: ``(100, 512, 512)`` float32 ``[:, :512, :512]``; ``test_clean``:
        frame mean of that crop; ``train_noisy``/``train_clean``: ``(300, 512, 512)``,
        the other three quadrants (CARE's training data); ``axis="horizontal"``.

    Notes
    -----
    Licence: CC BY 4.0. Citation: Prakash et al., *Fully unsupervised probabilistic
    Noise2Void*, ISBI 2020 (Zenodo record 5156913).
    """
    f = _source(
        "Convallaria_diaphragm.zip",
        "Convallaria_diaphragm/20190520_tl_25um_50msec_05pc_488_130EM_Conv.tif",
        path,
        base_url,
        retries,
        progress,
    )
    tr, te, tc, trc = _split(
        _read_tiff(f, "convallaria-b"),
        (_Q[0], _Q[0]),
        [(_Q[0], _Q[1]), (_Q[1], _Q[0]), (_Q[1], _Q[1])],
        "convallaria-b",
        (1024, 1024),
    )
    return NoisyDataset(
        name="convallaria-b",
        train_noisy=tr,
        test_noisy=te,
        test_clean=tc,
        train_clean=trc,
        axis="horizontal",
        citation=CITATION_PPN2V,
        licence="CC BY 4.0",
        description="Convallaria diaphragm, 100 frames 1024x1024, weakly structured "
        "horizontal noise; GT = frame mean; test = [:, :512, :512]",
    )


def mouse_actin(
    path: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    retries: int = DEFAULT_RETRIES,
    progress: bool = True,
) -> NoisyDataset:
    """*Mouse Actin* from PPN2V.

    Archive ``Mouse_actin.zip`` (Zenodo record 5156937, sha256 not published: recorded
    on first download) -> ``Mouse actin/sample_attempt2.tif``: 100 frames of 1024x1024.

    Parameters
    ----------
    path : path-like, optional
        The TIFF or the zip archive; else the archive is downloaded.
    base_url : str, optional
        Mirror base URL.
    retries : int
        Extra download attempts.
    progress : bool
        Show a download progress bar.

    Returns
    -------
    NoisyDataset
        ``test_noisy``: ``(100, 1024, 512)`` float32, the left half ``[:, :, :512]``;
        ``test_clean``: its frame mean; ``train_noisy``/``train_clean``: the right half
        ``[:, :, 512:]``; ``axis="horizontal"``.

    Notes
    -----
    Licence: see Zenodo record 5156937. Citation: Prakash et al., *Fully unsupervised
    probabilistic Noise2Void*, ISBI 2020.
    """
    f = _source(
        "Mouse_actin.zip", "Mouse actin/sample_attempt2.tif", path, base_url, retries, progress
    )
    tr, te, tc, trc = _split(
        _read_tiff(f, "mouse-actin"),
        (slice(None), _Q[0]),
        [(slice(None), _Q[1])],
        "mouse-actin",
        (1, 1024),
    )
    return NoisyDataset(
        name="mouse-actin",
        train_noisy=tr,
        test_noisy=te,
        test_clean=tc,
        train_clean=trc,
        axis="horizontal",
        citation=CITATION_PPN2V,
        licence="see Zenodo record 5156937",
        description="Mouse actin, 100 frames 1024x1024, weakly structured noise; "
        "GT = frame mean; test = left half",
    )


def mouse_nuclei(
    path: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    retries: int = DEFAULT_RETRIES,
    progress: bool = True,
) -> NoisyDataset:
    """*Mouse Nuclei* (PPN2V "Mouse skull nuclei"), the paper's unstructured-noise control.

    Archive ``Mouse_skull_nuclei.zip`` (Zenodo record 5156960, sha256 not published:
    recorded on first download) -> ``Mouse skull nuclei/example2_digital_offset300.tif``:
    200 frames of 512x512.

    Parameters
    ----------
    path : path-like, optional
        The TIFF or the zip archive; else the archive is downloaded.
    base_url : str, optional
        Mirror base URL.
    retries : int
        Extra download attempts.
    progress : bool
        Show a download progress bar.

    Returns
    -------
    NoisyDataset
        ``test_noisy``: ``(200, 512, 256)`` float32, ``[:, :, :256]``; ``test_clean``: its
        frame mean; ``train_noisy``/``train_clean``: ``[:, :, 256:]``; ``axis=None``
        (unstructured noise; the paper still used a horizontal receptive field).

    Notes
    -----
    Licence: see Zenodo record 5156960. Citation: Prakash et al., *Fully unsupervised
    probabilistic Noise2Void*, ISBI 2020.
    """
    f = _source(
        "Mouse_skull_nuclei.zip",
        "Mouse skull nuclei/example2_digital_offset300.tif",
        path,
        base_url,
        retries,
        progress,
    )
    half = slice(None, 256), slice(256, None)
    tr, te, tc, trc = _split(
        _read_tiff(f, "mouse-nuclei"),
        (slice(None), half[0]),
        [(slice(None), half[1])],
        "mouse-nuclei",
        (1, 512),
    )
    return NoisyDataset(
        name="mouse-nuclei",
        train_noisy=tr,
        test_noisy=te,
        test_clean=tc,
        train_clean=trc,
        axis=None,
        citation=CITATION_PPN2V,
        licence="see Zenodo record 5156960",
        description="Mouse skull nuclei, 200 frames 512x512, unstructured noise; "
        "GT = frame mean; test = left half",
    )
