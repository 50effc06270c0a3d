"""What every loader returns (:class:`NoisyDataset`), a dataset's facts, the loaders' errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np


@dataclass
class NoisyDataset:
    """A denoising dataset with its split, ground truth and noise axis.

    Attributes
    ----------
    name : str
        Registered dataset name (e.g. ``"convallaria-a"``, ``"embedded-stripe"``).
    train_noisy : numpy.ndarray
        ``(N, Y, X)`` noisy training images (for supervised methods; unsupervised
        methods are fitted on ``train_noisy`` and ``test_noisy`` together, as the paper's
        code does). Volume datasets (``embedded-volume``) hold ``(N, Z, Y, X)`` volumes
        in every array.
    test_noisy : numpy.ndarray
        ``(M, Y, X)`` noisy test images (``(M, Z, Y, X)`` for volumes).
    test_clean : numpy.ndarray or None
        ``(M, Y, X)`` ground truth of the test images, or None (e.g. STEM).
    train_clean : numpy.ndarray or None
        Clean targets of the training images, for supervised methods (CARE), or None.
    axis : {"horizontal", "vertical", "z"} or None
        Direction of the structured noise ("horizontal" = correlated along rows, "z" =
        between the planes of a volume); None for unstructured noise.
    citation : str
        Where the data comes from.
    licence : str
        Licence of the data.
    description : str
        One line on content and noise.
    """

    name: str
    train_noisy: np.ndarray
    test_noisy: np.ndarray
    test_clean: np.ndarray | None
    train_clean: np.ndarray | None = None
    axis: str | None = "horizontal"
    citation: str = ""
    licence: str = ""
    description: str = ""

    @property
    def all_noisy(self) -> np.ndarray:
        """Training and test noisy images together (what unsupervised methods fit on).

        Images of different sizes cannot be stacked; then the training images are
        returned alone.
        """
        if self.train_noisy.shape[1:] == self.test_noisy.shape[1:]:
            return np.concatenate([self.train_noisy, self.test_noisy])
        return self.train_noisy


class DatasetKind(StrEnum):
    """Where a dataset's data comes from."""

    #: Built from images bundled with scikit-image.
    EMBEDDED = "embedded"
    #: Downloaded from the registry's URLs.
    DOWNLOAD = "download"
    #: A copy the user has (FFHQ).
    LOCAL = "local"
    #: No public copy (STEM).
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class DatasetEntry:
    """Every fact about one dataset that is known without loading it: a catalogue entry.

    Each family of datasets writes its entries beside its loader and its constants
    (``real.ENTRIES``, ``embedded.ENTRIES``, ``embedded_3d.ENTRIES``, ``ffhq.ENTRIES``),
    from the same values the loader uses; :mod:`structnoise.datasets.catalog` only
    collects them. A downloadable file's SHA-256 and URL are its line of ``registry.txt``.

    Attributes
    ----------
    name : str
        Dataset name for :func:`~structnoise.datasets.load_dataset`.
    loader : callable or None
        The public loader function (None when unavailable).
    kind : DatasetKind
        Where the data comes from.
    source : str
        Short origin (for the ``datasets list`` table).
    size : str
        Size of the data (download size where known).
    axis : {"horizontal", "vertical", "z"} or None
        Direction of the structured noise, as the loaded dataset's ``axis``.
    files : tuple of str
        Registry files the dataset needs (download kind).
    members : tuple of str
        The files extracted from those archives (checked before a first download's
        hash is recorded).
    paper_name : str
        The name in the paper's tables (empty for datasets not in the paper).
    reason : str
        Why it is unavailable (empty otherwise).
    cache : callable or None
        ``cache(name)``: the file an embedded dataset is built into (None otherwise).
    """

    name: str
    loader: Callable[..., NoisyDataset] | None
    kind: DatasetKind
    source: str
    size: str
    axis: str | None = None
    files: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    paper_name: str = ""
    reason: str = ""
    cache: Callable[[str], Path] | None = None


class DownloadError(RuntimeError):
    """A download failed (network, HTTP error or a hash mismatch)."""


class DataUnavailableError(LookupError):
    """A dataset has no public copy (e.g. the paper's STEM data)."""
