"""The dataset catalogue: every dataset by name, its status, and one dispatcher.

>>> from structnoise.datasets import list_datasets, load_dataset
>>> [d.name for d in list_datasets()][:2]
['embedded-stripe', 'embedded-checkerboard']
>>> ds = load_dataset("embedded-stripe")   # doctest: +SKIP
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from structnoise.datasets import embedded, ffhq, real
from structnoise.datasets.base import NoisyDataset
from structnoise.datasets.download import REGISTRY, DataUnavailableError, is_cached


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


class DatasetStatus(StrEnum):
    """The current status of a dataset, as :func:`list_datasets` shows it."""

    CACHED = "cached"
    DOWNLOADABLE = "downloadable"
    NEEDS_PATH = "needs a local path"
    UNAVAILABLE = "unavailable"
    EMBEDDED = "built on first use"
    LOCAL = "local path set"


#: Status strings of :func:`list_datasets` (aliases of :class:`DatasetStatus`).
CACHED = DatasetStatus.CACHED
DOWNLOADABLE = DatasetStatus.DOWNLOADABLE
NEEDS_PATH = DatasetStatus.NEEDS_PATH
UNAVAILABLE = DatasetStatus.UNAVAILABLE
EMBEDDED = DatasetStatus.EMBEDDED
LOCAL = DatasetStatus.LOCAL


@dataclass(frozen=True)
class DatasetEntry:
    """A catalogue entry.

    Attributes
    ----------
    name : str
        Dataset name for :func:`load_dataset`.
    loader : callable or None
        The public loader function (None when unavailable).
    kind : DatasetKind
        Where the data comes from (``"embedded"``, ``"download"``, ``"local"`` or
        ``"unavailable"``).
    source : str
        Short origin (for the ``datasets list`` table).
    size : str
        Size of the data (download size where known).
    files : tuple of str
        Registry files the dataset needs (download kind).
    paper_name : str
        The name in the paper's tables (empty for datasets not in the paper).
    reason : str
        Why it is unavailable (empty otherwise).
    """

    name: str
    loader: Callable[..., NoisyDataset] | None
    kind: DatasetKind
    source: str
    size: str
    files: tuple[str, ...] = ()
    paper_name: str = ""
    reason: str = ""


@dataclass(frozen=True)
class DatasetInfo:
    """A row of :func:`list_datasets`: an entry and its current status.

    Attributes
    ----------
    name, source, size, kind, paper_name : str
        As in :class:`DatasetEntry`.
    status : DatasetStatus
        ``"cached"``, ``"downloadable"``, ``"needs a local path"``, ``"local path set"``,
        ``"built on first use"`` or ``"unavailable"``.
    note : str
        Extra information (e.g. why a dataset is unavailable).
    """

    name: str
    source: str
    size: str
    status: DatasetStatus
    kind: DatasetKind
    paper_name: str = ""
    note: str = ""


_STEM_REASON = REGISTRY["STEM"].reason

CATALOG: dict[str, DatasetEntry] = {
    e.name: e
    for e in (
        DatasetEntry(
            "embedded-stripe",
            embedded.embedded_stripe,
            DatasetKind.EMBEDDED,
            "scikit-image sample images (bundled)",
            "116 train + 16 test tiles, 128x128",
            paper_name="(stand-in for FFHQ - Stripe)",
        ),
        DatasetEntry(
            "embedded-checkerboard",
            embedded.embedded_checkerboard,
            DatasetKind.EMBEDDED,
            "scikit-image sample images (bundled)",
            "116 train + 16 test tiles, 128x128",
            paper_name="(stand-in for FFHQ - Checkerboard)",
        ),
        DatasetEntry(
            "convallaria-a",
            real.convallaria_a,
            DatasetKind.DOWNLOAD,
            "structN2V (Broaddus et al. 2020)",
            "100x1024x1024 uint16, 210 MB",
            files=("flower.tif",),
            paper_name="Convallaria A",
        ),
        DatasetEntry(
            "convallaria-b",
            real.convallaria_b,
            DatasetKind.DOWNLOAD,
            "PPN2V (Prakash et al. 2020)",
            "100x1024x1024, zip 344 MB",
            files=("Convallaria_diaphragm.zip",),
            paper_name="Convallaria B",
        ),
        DatasetEntry(
            "mouse-actin",
            real.mouse_actin,
            DatasetKind.DOWNLOAD,
            "PPN2V, Zenodo 5156937",
            "100x1024x1024",
            files=("Mouse_actin.zip",),
            paper_name="Mouse Actin",
        ),
        DatasetEntry(
            "mouse-nuclei",
            real.mouse_nuclei,
            DatasetKind.DOWNLOAD,
            "PPN2V, Zenodo 5156960",
            "200x512x512",
            files=("Mouse_skull_nuclei.zip",),
            paper_name="Mouse Nuclei",
        ),
        DatasetEntry(
            "ffhq-stripe",
            ffhq.ffhq_stripe,
            DatasetKind.LOCAL,
            "FFHQ thumbnails (NVlabs), user-supplied",
            "70,000 x 128x128 PNG, 1.95 GB",
            paper_name="FFHQ - Stripe",
        ),
        DatasetEntry(
            "ffhq-checkerboard",
            ffhq.ffhq_checkerboard,
            DatasetKind.LOCAL,
            "FFHQ thumbnails (NVlabs), user-supplied",
            "70,000 x 128x128 PNG, 1.95 GB",
            paper_name="FFHQ - Checkerboard",
        ),
        DatasetEntry(
            "stem",
            None,
            DatasetKind.UNAVAILABLE,
            "Henninen et al. 2020 (Pt clusters)",
            "-",
            paper_name="STEM",
            reason=_STEM_REASON,
        ),
    )
}
"""Every dataset by name."""


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def get_entry(name: str) -> DatasetEntry:
    """The catalogue entry of a dataset.

    Parameters
    ----------
    name : str
        Dataset name (case and ``_``/``-`` are ignored).

    Returns
    -------
    DatasetEntry
        The entry.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.
    """
    key = _normalise(name)
    if key in CATALOG:
        return CATALOG[key]
    close = difflib.get_close_matches(key, list(CATALOG), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown dataset {name!r}.{hint} Known datasets: {', '.join(CATALOG)}")


def dataset_status(name: str) -> DatasetStatus:
    """The current status of a dataset (see :class:`DatasetInfo`).

    Parameters
    ----------
    name : str
        Dataset name.

    Returns
    -------
    DatasetStatus
        Its status (a string).
    """
    entry = get_entry(name)
    if entry.kind == DatasetKind.UNAVAILABLE:
        return UNAVAILABLE
    if entry.kind == DatasetKind.EMBEDDED:
        return CACHED if embedded.cache_path(entry.name).exists() else EMBEDDED
    if entry.kind == DatasetKind.LOCAL:
        path = ffhq.ffhq_path()
        return LOCAL if path is not None and path.exists() else NEEDS_PATH
    return CACHED if all(is_cached(f) for f in entry.files) else DOWNLOADABLE


def dataset_axis(name: str) -> str | None:
    """The noise axis of a dataset, read from its constants (nothing is loaded).

    Parameters
    ----------
    name : str
        Dataset name.

    Returns
    -------
    str or None
        ``"horizontal"`` or ``"vertical"``; None for unstructured noise and for datasets
        without a known axis (``stem``). The same value as the loaded dataset's ``axis``.
    """
    key = get_entry(name).name
    if key in real.REAL_DATASETS:
        return real.REAL_DATASETS[key].axis
    if key in ffhq.FFHQ_NOISE:
        return ffhq.FFHQ_NOISE[key][1]
    return embedded.AXES.get(key)


def list_datasets() -> list[DatasetInfo]:
    """Every dataset with its source, size and current status.

    Returns
    -------
    list of DatasetInfo
        In catalogue order (embedded, microscopy, FFHQ, STEM).
    """
    out = []
    for entry in CATALOG.values():
        note = entry.reason
        if entry.kind == DatasetKind.LOCAL:
            note = ffhq.FFHQ_HELP
        out.append(
            DatasetInfo(
                name=entry.name,
                source=entry.source,
                size=entry.size,
                status=dataset_status(entry.name),
                kind=entry.kind,
                paper_name=entry.paper_name,
                note=note,
            )
        )
    return out


def load_dataset(name: str, **kwargs) -> NoisyDataset:
    """Load a dataset by name.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets` (e.g. ``"embedded-stripe"``, ``"convallaria-a"``).
    **kwargs
        Passed to the dataset's loader (e.g. ``path=``, ``base_url=``, ``n_train=``).

    Returns
    -------
    NoisyDataset
        The dataset.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    DataUnavailableError
        For datasets without a public copy (STEM).
    """
    entry = get_entry(name)
    if entry.loader is None:
        raise DataUnavailableError(f"{entry.name} is unavailable: {entry.reason}")
    return entry.loader(**kwargs)


def fetch_dataset(name: str, **kwargs) -> list:
    """Download (or build) a dataset into the cache without loading it.

    Parameters
    ----------
    name : str
        Dataset name.
    **kwargs
        ``base_url``, ``retries``, ``progress`` for downloads.

    Returns
    -------
    list of pathlib.Path
        The cached files.

    Raises
    ------
    DataUnavailableError
        For STEM.
    FileNotFoundError
        For FFHQ, which must be downloaded by hand (the message says where from).
    """
    from structnoise.datasets.download import fetch_file

    entry = get_entry(name)
    if entry.kind == DatasetKind.UNAVAILABLE:
        raise DataUnavailableError(f"{entry.name} is unavailable: {entry.reason}")
    if entry.kind == DatasetKind.LOCAL:
        raise FileNotFoundError(
            f"{entry.name} cannot be downloaded automatically. {ffhq.FFHQ_HELP}"
        )
    if entry.kind == DatasetKind.EMBEDDED:
        entry.loader()
        return [embedded.cache_path(entry.name)]
    return [fetch_file(f, **kwargs) for f in entry.files]
