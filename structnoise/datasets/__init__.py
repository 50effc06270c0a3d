"""Datasets: real microscopy data (pooch), FFHQ, synthetic structured noise, embedded data.

Every loader returns a :class:`NoisyDataset`; :func:`load_dataset` dispatches by name and
:func:`list_datasets` shows what exists and whether it is cached. The synthetic
generators live in :mod:`structnoise.datasets.synthetic` (2-D) and
:mod:`structnoise.datasets.volume_noise` (volumes), the noise analysis in
:mod:`structnoise.datasets.noise_stats`, :mod:`structnoise.datasets.axis_proposal` and
:mod:`structnoise.datasets.analysis` (the figure); their public names are here.

Examples
--------
>>> from structnoise.datasets import load_dataset, list_datasets
>>> ds = load_dataset("embedded-stripe")  # doctest: +SKIP
>>> ds.test_noisy.shape  # doctest: +SKIP
(16, 128, 128)
"""

from structnoise.datasets.base import DataUnavailableError, DownloadError, NoisyDataset
from structnoise.datasets.cache import data_dir
from structnoise.datasets.catalog import (
    DatasetInfo,
    fetch_dataset,
    get_entry,
    list_datasets,
    load_dataset,
)
from structnoise.datasets.checkerboard_noise import checkerboard
from structnoise.datasets.embedded import embedded_checkerboard, embedded_stripe
from structnoise.datasets.embedded_3d import embedded_volume
from structnoise.datasets.ffhq import ffhq_checkerboard, ffhq_stripe
from structnoise.datasets.real import convallaria_a, convallaria_b, mouse_actin, mouse_nuclei
from structnoise.datasets.synthetic import stripe, structured_noise
from structnoise.datasets.volume_noise import checkerboard_volume, readout_volume, stripe_volume

#: The noise analysis, imported on first use (pandas and matplotlib are not needed otherwise).
_ANALYSIS = {
    "AxisProposal": "structnoise.datasets.axis_proposal",
    "propose_axis": "structnoise.datasets.axis_proposal",
    "VolumeAxisProposal": "structnoise.datasets.axis_proposal",
    "propose_volume_axis": "structnoise.datasets.axis_proposal",
    "autocorrelation": "structnoise.datasets.noise_stats",
    "noise_residual": "structnoise.datasets.noise_stats",
    "variance_vs_signal": "structnoise.datasets.noise_stats",
    "plot_noise_analysis": "structnoise.datasets.analysis",
}

__all__ = [
    "DataUnavailableError",
    "DatasetInfo",
    "DownloadError",
    "NoisyDataset",
    "checkerboard",
    "checkerboard_volume",
    "convallaria_a",
    "convallaria_b",
    "data_dir",
    "embedded_checkerboard",
    "embedded_stripe",
    "embedded_volume",
    "fetch_dataset",
    "ffhq_checkerboard",
    "ffhq_stripe",
    "get_entry",
    "list_datasets",
    "load_dataset",
    "mouse_actin",
    "mouse_nuclei",
    "readout_volume",
    "stripe",
    "stripe_volume",
    "structured_noise",
    *_ANALYSIS,
]


def __getattr__(name: str):
    if name in _ANALYSIS:
        import importlib

        return getattr(importlib.import_module(_ANALYSIS[name]), name)
    raise AttributeError(f"module 'structnoise.datasets' has no attribute {name!r}")
