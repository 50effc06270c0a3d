"""The datasets of a run: loading one by name, the test-image limit, the kept example."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from structnoise.benchmark.runfolder import example_path
from structnoise.benchmark.schema import LocalDataset
from structnoise.utils import atomic_path

if TYPE_CHECKING:
    from structnoise.benchmark.schema import RunConfig


def load_dataset(cfg: RunConfig, name: str):
    """Load a dataset of the run by name (registered, or a local-files entry).

    Parameters
    ----------
    cfg : RunConfig
        The configuration (its datasets, ``download`` and ``max_test_images``).
    name : str
        The dataset's name.

    Returns
    -------
    NoisyDataset
        With at most ``cfg.max_test_images`` test images.

    Raises
    ------
    FileNotFoundError
        If the dataset is not on disk and ``download`` is off.
    """
    for entry in cfg.datasets:
        if isinstance(entry, LocalDataset) and entry.name == name:
            return limit_test_images(entry.load(), cfg.max_test_images)
    from structnoise.datasets import list_datasets
    from structnoise.datasets import load_dataset as _load

    if not cfg.download:
        from structnoise.datasets.catalog import DatasetStatus

        status = {d.name: d.status for d in list_datasets()}.get(name)
        if status not in (DatasetStatus.CACHED, DatasetStatus.EMBEDDED, DatasetStatus.LOCAL):
            raise FileNotFoundError(
                f"not on disk (status: {status}) and download is off; fetch it with "
                f"`structnoise datasets fetch {name}`"
            )
    return limit_test_images(_load(name), cfg.max_test_images)


def limit_test_images(dataset, n: int | None):
    """The dataset with only its first ``n`` test images (unchanged when ``n`` is None).

    Parameters
    ----------
    dataset : NoisyDataset
        A dataset.
    n : int or None
        How many test images to keep.

    Returns
    -------
    NoisyDataset
    """
    if n is None or len(dataset.test_noisy) <= n:
        return dataset
    return dataclasses.replace(
        dataset,
        test_noisy=dataset.test_noisy[:n],
        test_clean=None if dataset.test_clean is None else dataset.test_clean[:n],
    )


def save_example(run_dir: Path, dataset) -> None:
    """Keep the first test image (noisy, clean) of a dataset for the figure grids.

    Parameters
    ----------
    run_dir : pathlib.Path
        The run folder.
    dataset : NoisyDataset
        The loaded dataset.
    """
    path = example_path(run_dir, dataset.name)
    if path.exists():
        return
    arrays = {"noisy": np.asarray(dataset.test_noisy[0], dtype=np.float32)}
    if dataset.test_clean is not None:
        arrays["clean"] = np.asarray(dataset.test_clean[0], dtype=np.float32)
    arrays["axis"] = np.array(dataset.axis or "none")
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)


def load_for_run(cfg: RunConfig, name: str, run_dir: Path) -> tuple[object | None, str | None]:
    """Load a dataset for its cells and keep its example image, or say why it cannot be.

    Parameters
    ----------
    cfg : RunConfig
        The configuration.
    name : str
        The dataset's name.
    run_dir : pathlib.Path
        The run folder (the example image goes there).

    Returns
    -------
    tuple
        ``(dataset, None)``, or ``(None, reason)`` when it is not on disk, cannot be
        downloaded or cannot be read (its cells are then recorded as skipped).
    """
    try:
        dataset = load_dataset(cfg, name)
        save_example(run_dir, dataset)
    except Exception as exc:  # not on disk, not downloadable, unreadable ...
        return None, f"dataset {name!r} unavailable: {type(exc).__name__}: {exc}"
    return dataset, None
