"""Datasets: real microscopy data (pooch), FFHQ, synthetic structured noise, embedded data."""

from structnoise.datasets.base import NoisyDataset

__all__ = ["NoisyDataset"]
