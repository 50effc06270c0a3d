"""Datasets: real microscopy data (pooch), FFHQ, synthetic structured noise, embedded data.

Every loader returns a :class:`NoisyDataset`. The synthetic generators live in
:mod:`structnoise.datasets.synthetic`, the noise analysis in
:mod:`structnoise.datasets.analysis`.
"""

from structnoise.datasets.base import NoisyDataset
from structnoise.datasets.embedded import embedded_checkerboard, embedded_stripe
from structnoise.datasets.synthetic import checkerboard, stripe, structured_noise

__all__ = [
    "NoisyDataset",
    "checkerboard",
    "embedded_checkerboard",
    "embedded_stripe",
    "stripe",
    "structured_noise",
]
