"""Image-quality metrics with the paper's conventions."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def ssim(gt, pred) -> float:
    """Structural similarity of one image, data range as for :func:`psnr`.

    scikit-image's ``structural_similarity(gt, pred, data_range=gt.max() - gt.min())``
    with its defaults (7 x 7 uniform window, K1 = 0.01, K2 = 0.03): the data range is the
    clean image's, the paper's convention for PSNR.

    Parameters
    ----------
    gt, pred : array_like
        The clean reference and the estimate, same 2-D shape.

    Returns
    -------
    float
        SSIM in [-1, 1].
    """
    from skimage.metrics import structural_similarity

    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    check_same_shape(gt, pred, ("gt", "pred"))
    data_range = gt.max() - gt.min()
    if data_range <= 0:
        raise ValueError("gt is constant: SSIM with data_range = max - min is undefined")
    return float(structural_similarity(gt, pred, data_range=data_range))


def ssim_stack(gt, pred) -> np.ndarray:
    """Per-image SSIM of two stacks (see :func:`ssim`).

    Parameters
    ----------
    gt, pred : array_like
        ``(Y, X)`` or ``(N, Y, X)`` stacks of the same shape.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` SSIM values.
    """
    g, _ = as_stack(gt, name="gt")
    p, _ = as_stack(pred, name="pred")
    check_same_shape(g, p, ("gt", "pred"))
    return np.array([ssim(a, b) for a, b in zip(g, p, strict=True)])


def microssim_stack(gt, pred) -> np.ndarray:
    """Per-image MicroSSIM of two stacks (the ``microssim`` package).

    The package's own convention: one :class:`microssim.MicroSSIM` is fitted on the whole
    stack pair (background offsets at the 3rd percentile, the maximum of the
    background-subtracted reference, and the range-invariant factor that maximises the
    scaled SSIM over the stack), then every image is scored with it. A method's score
    therefore depends on its whole test stack, as the package intends.

    Parameters
    ----------
    gt, pred : array_like
        ``(Y, X)`` or ``(N, Y, X)`` stacks of the same shape.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` MicroSSIM values.
    """
    from microssim import MicroSSIM

    g, _ = as_stack(gt, name="gt")
    p, _ = as_stack(pred, name="pred")
    check_same_shape(g, p, ("gt", "pred"))
    g = g.astype(np.float64)
    p = p.astype(np.float64)
    metric = MicroSSIM()
    with contextlib.redirect_stderr(io.StringIO()):  # the package's fit draws a tqdm bar
        metric.fit(g, p)
    return np.array([float(metric.score(a, b)) for a, b in zip(g, p, strict=True)])


@dataclass(frozen=True)
class Metric:
    """One image-quality metric: what tables, claims, curves and ``report.html`` read.

    Attributes
    ----------
    name : str
        The key in records and in the results table's ``metric`` column.
    title : str
        How tables, figure axes and the page name it (``"PSNR (dB)"``).
    fn : callable
        ``fn(gt, pred) -> (N,) array``: the metric per image of two stacks.
    higher_is_better : bool
        Which way is better: the best of a row, the order of a ranking.
    convention : str
        How it is computed, with a version; runs whose conventions differ are not
        compared. Change it whenever the computation changes.
    decimals : int
        Decimals shown in tables and rankings.
    """

    name: str
    title: str
    fn: Callable[[Any, Any], np.ndarray]
    higher_is_better: bool
    convention: str
    decimals: int = 3

    def best(self, values):
        """The best of some values (max or min as the metric says; NaN when empty)."""
        values = [v for v in values if not np.isnan(v)]
        if not values:
            return float("nan")
        return max(values) if self.higher_is_better else min(values)


def _registry(*metrics: Metric) -> dict[str, Metric]:
    return {m.name: m for m in metrics}


#: Every metric a benchmark cell scores, per test image and averaged, in the order the
#: reports show them (the first is the primary one: Table 1's headline, the page's bold
#: row). A new metric is one entry here.
METRICS: dict[str, Metric] = _registry(
    Metric(
        "psnr",
        "PSNR (dB)",
        psnr_stack,
        higher_is_better=True,
        convention="paper-v1(data_range=gt.max-gt.min)",
        decimals=2,
    ),
    Metric(
        "ssim",
        "SSIM",
        ssim_stack,
        higher_is_better=True,
        convention="skimage-v1(win7,data_range=gt.max-gt.min)",
    ),
    Metric(
        "microssim",
        "MicroSSIM",
        microssim_stack,
        higher_is_better=True,
        convention="microssim-v1(fit on the test stack,bg_percentile=3)",
    ),
)

#: How the metrics are computed (``name=convention;...``); runs with another convention
#: are not compared (``structnoise report --with``).
METRIC_CONVENTION = ";".join(f"{m.name}={m.convention}" for m in METRICS.values())


def get_metric(name: str) -> Metric:
    """The :class:`Metric` of a name; a metric not registered here gets a plain entry.

    Parameters
    ----------
    name : str
        A metric name of a results table (other runs may hold metrics this version does
        not define).

    Returns
    -------
    Metric
        Unknown names: title = name, higher is better, 3 decimals.
    """
    known = METRICS.get(name)
    if known is not None:
        return known
    return Metric(name, name, _unknown, higher_is_better=True, convention="unknown")


def _unknown(gt, pred):  # pragma: no cover - a placeholder never called
    raise KeyError("metric not defined in this version of structnoise")


def metric_order(names) -> list[str]:
    """Metric names in :data:`METRICS` order, the others after them in their own order.

    Parameters
    ----------
    names : iterable of str

    Returns
    -------
    list of str
    """
    present = list(dict.fromkeys(n for n in names if isinstance(n, str)))
    return [m for m in METRICS if m in present] + [m for m in present if m not in METRICS]


def score_stack(gt, pred) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS`, per image.

    Parameters
    ----------
    gt, pred : array_like
        ``(Y, X)`` or ``(N, Y, X)`` stacks of the same shape.

    Returns
    -------
    dict
        ``{metric: (N,) array}``.
    """
    return {name: metric.fn(gt, pred) for name, metric in METRICS.items()}
