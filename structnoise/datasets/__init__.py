"""Datasets: real microscopy data (pooch), FFHQ, synthetic structured noise, embedded data.

Every loader returns a :class:`NoisyDataset`; :func:`load_dataset` dispatches by name and
:func:`list_datasets` shows what exists and whether it is cached. The synthetic
generators live in :mod:`structnoise.datasets.synthetic`, the noise analysis in
:mod:`structnoise.datasets.analysis` (also importable from here).

Examples
--------
>>> from structnoise.datasets import load_dataset, list_datasets
>>> ds = load_dataset("embedded-stripe")  # doctest: +SKIP
>>> ds.test_noisy.shape  # doctest: +SKIP
(16, 128, 128)
"""

from structnoise.datasets.base import NoisyDataset
from structnoise.datasets.cache import data_dir
from structnoise.datasets.catalog import (
    DatasetInfo,
    fetch_dataset,
    get_entry,
    list_datasets,
    load_dataset,
)
from structnoise.datasets.download import DataUnavailableError, DownloadError
from structnoise.datasets.embedded import embedded_checkerboard, embedded_stripe
from structnoise.datasets.ffhq import ffhq_checkerboard, ffhq_stripe
from structnoise.datasets.real import convallaria_a, convallaria_b, mouse_actin, mouse_nuclei
from structnoise.datasets.synthetic import checkerboard, stripe, structured_noise

_ANALYSIS = (
    "AxisProposal",
    "autocorrelation",
    "noise_residual",
    "plot_noise_analysis",
    "propose_axis",
    "variance_vs_signal",
)

__all__ = [
    "DataUnavailableError",
    "DatasetInfo",
    "DownloadError",
    "NoisyDataset",
    "checkerboard",
    "convallaria_a",
    "convallaria_b",
    "data_dir",
    "embedded_checkerboard",
    "embedded_stripe",
    "fetch_dataset",
    "ffhq_checkerboard",
    "ffhq_stripe",
    "get_entry",
    "list_datasets",
    "load_dataset",
    "mouse_actin",
    "mouse_nuclei",
    "stripe",
    "structured_noise",
    *_ANALYSIS,
]


def __getattr__(name: str):
    # the analysis functions are imported on first use (pandas is not needed otherwise)
    if name in _ANALYSIS:
        from structnoise.datasets import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'structnoise.datasets' has no attribute {name!r}")
