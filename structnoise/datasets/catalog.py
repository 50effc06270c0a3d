"""The dataset catalogue: every dataset by name, its status, and one dispatcher.

>>> from structnoise.datasets import list_datasets, load_dataset
>>> [d.name for d in list_datasets()][:2]
['embedded-stripe', 'embedded-checkerboard']
>>> ds = load_dataset("embedded-stripe")   # doctest: +SKIP
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import StrEnum

from structnoise.datasets import embedded, embedded_3d, ffhq, real
from structnoise.datasets.base import (
    DatasetEntry,
    DatasetKind,
    DataUnavailableError,
    NoisyDataset,
)
from structnoise.datasets.data_registry import REGISTRY, is_cached


class DatasetStatus(StrEnum):
    """The current status of a dataset, as :func:`list_datasets` shows it."""

    CACHED = "cached"
    DOWNLOADABLE = "downloadable"
    NEEDS_PATH = "needs a local path"
    UNAVAILABLE = "unavailable"
    EMBEDDED = "built on first use"
    LOCAL = "local path set"


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


#: The paper's STEM data: no public copy (the registry's line says why).
STEM = DatasetEntry(
    "stem",
    None,
    DatasetKind.UNAVAILABLE,
    "Henninen et al. 2020 (Pt clusters)",
    "-",
    paper_name="STEM",
    reason=REGISTRY["STEM"].reason,
)

CATALOG: dict[str, DatasetEntry] = {
    e.name: e for e in (*embedded.ENTRIES, *embedded_3d.ENTRIES, *real.ENTRIES, *ffhq.ENTRIES, STEM)
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
    s = DatasetStatus
    if entry.kind == DatasetKind.UNAVAILABLE:
        return s.UNAVAILABLE
    if entry.kind == DatasetKind.EMBEDDED:
        return s.CACHED if entry.cache(entry.name).exists() else s.EMBEDDED
    if entry.kind == DatasetKind.LOCAL:
        path = ffhq.ffhq_path()
        return s.LOCAL if path is not None and path.exists() else s.NEEDS_PATH
    return s.CACHED if all(is_cached(f) for f in entry.files) else s.DOWNLOADABLE


def dataset_axis(name: str) -> str | None:
    """The noise axis of a dataset, read from its entry (nothing is loaded).

    Parameters
    ----------
    name : str
        Dataset name.

    Returns
    -------
    str or None
        ``"horizontal"``, ``"vertical"`` or ``"z"`` (volumes); None for unstructured noise
        and for datasets without a known axis (``stem``). The same value as the loaded
        dataset's ``axis``.
    """
    return get_entry(name).axis


def list_datasets() -> list[DatasetInfo]:
    """Every dataset with its source, size and current status.

    Returns
    -------
    list of DatasetInfo
        In catalogue order (embedded 2-D, embedded volume, microscopy, FFHQ, STEM).
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
        return [entry.cache(entry.name)]
    return [fetch_file(f, expect_members=entry.members, **kwargs) for f in entry.files]
