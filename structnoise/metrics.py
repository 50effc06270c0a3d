"""Image-quality metrics with the paper's conventions."""

from __future__ import annotations

import numpy as np

from structnoise._validate import as_stack, check_same_shape


def psnr(gt, pred) -> float:
    """Peak signal-to-noise ratio of one image with the paper's data range convention.

    ``20 log10(gt.max() - gt.min()) - 10 log10(MSE)``, i.e. scikit-image's
    ``peak_signal_noise_ratio(gt, pred, data_range=gt.max() - gt.min())``, as used by
    DVLAE, HDN and PPN2V.

    Parameters
    ----------
    gt, pred : array_like
        The clean reference and the estimate, same shape.

    Returns
    -------
    float
        PSNR in dB (``inf`` when the images are identical).
    """
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    check_same_shape(gt, pred, ("gt", "pred"))
    data_range = gt.max() - gt.min()
    if data_range <= 0:
        raise ValueError("gt is constant: PSNR with data_range = max - min is undefined")
    mse = np.mean((gt - pred) ** 2)
    if mse == 0:
        return float("inf")
    return float(20 * np.log10(data_range) - 10 * np.log10(mse))


def psnr_stack(gt, pred) -> np.ndarray:
    """Per-image PSNR of two stacks (see :func:`psnr`); average it for the paper's figure.

    Parameters
    ----------
    gt, pred : array_like
        ``(Y, X)`` or ``(N, Y, X)`` stacks of the same shape.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` PSNR values in dB.
    """
    g, _ = as_stack(gt, name="gt")
    p, _ = as_stack(pred, name="pred")
    check_same_shape(g, p, ("gt", "pred"))
    return np.array([psnr(a, b) for a, b in zip(g, p, strict=True)])
