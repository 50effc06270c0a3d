"""What every dataset loader returns (:class:`NoisyDataset`) and the errors loaders raise."""

from __future__ import annotations

from dataclasses import dataclass

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
        code does).
    test_noisy : numpy.ndarray
        ``(M, Y, X)`` noisy test images.
    test_clean : numpy.ndarray or None
        ``(M, Y, X)`` ground truth of the test images, or None (e.g. STEM).
    train_clean : numpy.ndarray or None
        Clean targets of the training images, for supervised methods (CARE), or None.
    axis : {"horizontal", "vertical"} or None
        Direction of the structured noise ("horizontal" = correlated along rows);
        None for unstructured noise.
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


class DownloadError(RuntimeError):
    """A download failed (network, HTTP error or a hash mismatch)."""


class DataUnavailableError(LookupError):
    """A dataset has no public copy (e.g. the paper's STEM data)."""
