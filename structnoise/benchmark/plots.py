"""The paper's figures as functions of a run folder (seaborn/matplotlib, PNG and SVG).

* :func:`plot_rf_ablation` (Fig. 4): PSNR against the AR decoder's receptive-field
  length, mean ± sd over seeds, from the rows whose method has an ``rf`` parameter.
* :func:`plot_noise_reconstruction` (Fig. 5): spatial autocorrelation and
  variance-versus-signal of the real noise of a test image against the noise of a new
  image drawn from the fitted model's AR decoder for the same image.
* :func:`plot_grid` (Fig. 3): the first test image of a dataset, noisy (with the noise
  autocorrelation inset, red positive, blue negative), denoised by each method, clean.

The noise statistics come from :mod:`structnoise.datasets.analysis`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from structnoise.benchmark.choices import Status

#: Half-width of the autocorrelation maps (lags -L..L in both directions).
MAX_LAG = 10


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "svg", "pdf", "cairo"):
        try:
            matplotlib.use("Agg", force=True)
        except Exception:  # pragma: no cover
            pass
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path_stem: Path) -> list[Path]:
    """Save a figure as PNG and SVG next to each other and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path_stem : pathlib.Path
        Path without suffix.

    Returns
    -------
    list of pathlib.Path
        The PNG and the SVG.
    """
    from structnoise.utils import atomic_path

    plt = _pyplot()
    out = []
    for suffix in (".png", ".svg"):
        path = path_stem.with_suffix(suffix)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=suffix[1:])
        out.append(path)
    plt.close(fig)
    return out


# --------------------------------------------------------------------------- Fig. 4
def rf_rows(table: pd.DataFrame, metric: str = "psnr") -> pd.DataFrame:
    """Rows of successful cells whose parameters include ``rf``, with an ``rf`` column.

    Only the cells' final evaluations (curve marks are left out).
    """
    if "final" in table.columns:
        table = table[table["final"].fillna(True).astype(bool)]
    t = table[(table["metric"] == metric) & (table["status"] == Status.OK) & table["value"].notna()]
    t = t.copy()
    t["rf"] = [json.loads(p).get("rf") if p else None for p in t["params"]]
    t = t[t["rf"].notna()]
    t["rf"] = t["rf"].astype(float)
    return t


def plot_rf_ablation(table: pd.DataFrame, path_stem: Path) -> list[Path] | str:
    """Fig. 4: PSNR versus receptive-field length, one panel per dataset.

    Parameters
    ----------
    table : pandas.DataFrame
        The run's tidy table.
    path_stem : pathlib.Path
        Output path without suffix.

    Returns
    -------
    list of pathlib.Path or str
        The written files, or the reason the figure was skipped.
    """
    import seaborn as sns

    plt = _pyplot()
    rows = rf_rows(table)
    if rows.empty or rows.groupby(["method", "dataset"])["rf"].nunique().max() < 2:
        return "Fig. 4 skipped: no method ran with two or more receptive-field lengths (rf)"
    datasets = list(dict.fromkeys(rows["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.6 * len(datasets), 3.8), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        sub = rows[rows["dataset"] == dataset]
        sns.lineplot(
            data=sub,
            x="rf",
            y="value",
            hue="method",
            marker="o",
            errorbar="sd",
            err_style="bars",
            err_kws={"capsize": 4},
            ax=ax,
        )
        sns.stripplot(
            data=sub,
            x="rf",
            y="value",
            hue="method",
            native_scale=True,
            legend=False,
            ax=ax,
            alpha=0.45,
            size=3,
            jitter=0.0,
        )
        ax.set_xlabel("AR receptive field (pixels along the noise axis)")
        ax.set_ylabel("PSNR (dB), test images")
        ax.set_title(dataset)
        ax.set_xticks(sorted(sub["rf"].unique()))
    seeds = rows.groupby(["method", "dataset", "rf"])["seed"].nunique().min()
    fig.suptitle(f"Receptive-field ablation: mean ± sd over {seeds} seed(s), dots = seeds")
    fig.text(0.5, -0.02, budget_label(rows), ha="center", va="top", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path_stem)


def budget_label(rows: pd.DataFrame) -> str:
    """What training the cells of a figure had, for a line under it.

    Parameters
    ----------
    rows : pandas.DataFrame
        Rows of the tidy table.

    Returns
    -------
    str
        e.g. ``"budget-limited: 400 training steps per cell (profile quick); the paper
        trains for days on a GPU"``.
    """
    profile = ", ".join(sorted(set(rows["profile"]))) if "profile" in rows else "?"
    steps = rows["max_steps"].dropna().unique() if "max_steps" in rows else []
    minutes = rows["max_minutes"].dropna().unique() if "max_minutes" in rows else []
    if len(steps):
        budget = "/".join(str(int(x)) for x in sorted(steps)) + " training steps per cell"
    elif len(minutes):
        budget = "/".join(f"{x:g}" for x in sorted(minutes)) + " wall-clock minutes per cell"
    else:
        budget = "the profile's default budget"
    if "paper" in profile:
        return f"{budget} (profile {profile})"
    return f"budget-limited: {budget} (profile {profile}); the paper trains each model far longer"


# --------------------------------------------------------------------------- Fig. 5
def _residual(noisy: np.ndarray, clean: np.ndarray | None) -> np.ndarray:
    from structnoise.datasets.noise_stats import noise_residual

    return np.asarray(noise_residual(noisy, clean), dtype=np.float64)


def _autocorr(residual: np.ndarray, max_lag: int = MAX_LAG) -> np.ndarray:
    from structnoise.datasets.noise_stats import autocorrelation

    return np.asarray(autocorrelation(residual, max_lag=max_lag), dtype=np.float64)


def _variance_curve(noisy: np.ndarray, clean: np.ndarray) -> pd.DataFrame:
    from structnoise.datasets.noise_stats import variance_vs_signal

    return variance_vs_signal(noisy, clean)


def _curve_xy(curve: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Pick the signal and variance columns of ``variance_vs_signal``'s frame."""
    cols = list(curve.columns)
    xcol = next((c for c in cols if "signal" in c.lower()), cols[0])
    ycol = next((c for c in cols if "var" in c.lower()), cols[1])
    return curve[xcol].to_numpy(float), curve[ycol].to_numpy(float), xcol, ycol


def _axis_label(column: str) -> str:
    """An axis label with units for a column of ``variance_vs_signal``."""
    labels = {
        "signal_pct": "clean signal (% of the clean maximum)",
        "variance": "noise variance (image units²)",
    }
    return labels.get(column, column.replace("_", " "))


def _show_autocorr(ax, acf: np.ndarray, title: str):
    lag = acf.shape[0] // 2
    im = ax.imshow(
        acf,
        cmap="RdBu_r",
        vmin=-1,
        vmax=1,
        extent=(-lag - 0.5, lag + 0.5, lag + 0.5, -lag - 0.5),
        interpolation="nearest",
    )
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x lag")
    ax.set_ylabel("y lag")
    return im


def plot_noise_reconstruction(sample_file: Path, path_stem: Path, title: str = ""):
    """Fig. 5: real noise against noise sampled from the model for the same image.

    Parameters
    ----------
    sample_file : pathlib.Path
        An ``.npz`` written by the runner (``noisy``, ``sampled``, optional ``clean``).
    path_stem : pathlib.Path
        Output path without suffix.
    title : str
        Figure title.

    Returns
    -------
    list of pathlib.Path or str
        The written files, or the reason the figure was skipped.
    """
    plt = _pyplot()
    data = np.load(sample_file)
    noisy, sampled = data["noisy"].astype(np.float64), data["sampled"].astype(np.float64)
    clean = data["clean"].astype(np.float64) if "clean" in data else None
    if not np.all(np.isfinite(sampled)):
        return f"Fig. 5 skipped for {sample_file.name}: the sampled image is not finite"
    real_res, samp_res = _residual(noisy, clean), _residual(sampled, clean)
    acf_real, acf_samp = _autocorr(real_res), _autocorr(samp_res)
    fig, axes = plt.subplots(1, 6, figsize=(24, 3.8))
    lo, hi = np.percentile(noisy, [1, 99])
    axes[0].imshow(noisy, cmap="gray", vmin=lo, vmax=hi)
    axes[0].set_title("real noisy image", fontsize=9)
    axes[1].imshow(sampled, cmap="gray", vmin=lo, vmax=hi)
    axes[1].set_title("sampled from the AR decoder", fontsize=9)
    for ax in axes[:2]:
        ax.set_axis_off()
    _show_autocorr(axes[2], acf_real, "autocorrelation, real noise")
    im = _show_autocorr(axes[3], acf_samp, "autocorrelation, sampled noise")
    fig.colorbar(im, ax=axes[3], fraction=0.046, pad=0.04)
    ax = axes[4]
    if clean is not None:
        for img, name in ((noisy, "real"), (sampled, "sampled")):
            x, y, xcol, ycol = _curve_xy(_variance_curve(img, clean))
            ax.plot(x, y, marker="o", ms=3, label=name)
        ax.set_xlabel(_axis_label(xcol))
        ax.set_ylabel(_axis_label(ycol))
        ax.set_title("noise variance vs signal", fontsize=9)
        ax.legend()
    else:
        ax.text(
            0.5,
            0.5,
            "no clean image:\nvariance vs signal\nneeds ground truth",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
    axis = str(data["axis"]) if "axis" in data.files else "none"
    _stats_panel(axes[5], noisy, sampled, clean, axis)
    corr = float(np.corrcoef(acf_real.ravel(), acf_samp.ravel())[0, 1])
    fig.suptitle(f"{title}  (correlation of the two autocorrelation maps: {corr:.2f})")
    fig.tight_layout()
    return save_figure(fig, path_stem)


def _stats_panel(ax, noisy, sampled, clean, axis: str) -> None:
    """Fig. 5's numbers (:mod:`.fig5_stats`) as a table: real against sampled noise."""
    ax.set_axis_off()
    if clean is None:
        ax.text(0.5, 0.5, "no clean image:\nno noise statistics", ha="center", va="center")
        return
    from structnoise.benchmark.fig5_stats import noise_statistics, sample_failures

    real = noise_statistics(noisy - clean, clean, axis)
    fake = noise_statistics(sampled - clean, clean, axis, real=noisy - clean)
    names = ["var low", "var mid", "var high", "high/low", "lag-1 along", "lag-2 along"]
    names += ["lag-1 across", "lag-2 across"]

    def col(s):
        return [*(f"{v:.3g}" for v in s.variance), f"{s.slope:.2f}"] + [
            f"{v:.2f}" for v in (s.along1, s.along2, s.across1, s.across2)
        ]

    cells = [[a, b] for a, b in zip(col(real), col(fake), strict=True)]
    table = ax.table(cellText=cells, rowLabels=names, colLabels=["real", "sampled"], loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    failures = sample_failures(real, fake)
    ax.set_title(
        f"noise statistics (axis {axis}): "
        + ("within tolerances" if not failures else f"{len(failures)} tolerance(s) missed"),
        fontsize=9,
    )


# --------------------------------------------------------------------------- Fig. 3
def plot_grid(
    example_file: Path,
    panels: list[tuple[str, Path, float]],
    path_stem: Path,
    title: str = "",
):
    """Fig. 3-style grid: noisy (autocorrelation inset), each method, clean.

    Parameters
    ----------
    example_file : pathlib.Path
        ``examples/<dataset>.npz`` (``noisy``, optional ``clean``) written by the runner.
    panels : list of (label, denoised TIFF, PSNR)
        One panel per method: the first image of the TIFF is shown.
    path_stem : pathlib.Path
        Output path without suffix.
    title : str
        Figure title.

    Returns
    -------
    list of pathlib.Path or str
        The written files, or the reason the figure was skipped.
    """
    import tifffile

    from structnoise.metrics import psnr

    plt = _pyplot()
    data = np.load(example_file)
    noisy = data["noisy"].astype(np.float64)
    clean = data["clean"].astype(np.float64) if "clean" in data else None
    images = [("noisy", noisy)]
    for label, tif, _ in panels:
        with tifffile.TiffFile(tif) as fh:
            img = fh.pages[0].asarray().astype(np.float64)
        if img.ndim == 3:
            img = img[0]
        images.append((label, img))
    if clean is not None:
        images.append(("clean", clean))
    n = len(images) + (1 if clean is not None else 0)  # + the variance-vs-signal panel
    ncols = min(n, 5)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.7 * nrows), squeeze=False)
    ref = clean if clean is not None else noisy
    lo, hi = np.percentile(ref, [0.5, 99.5])
    flat = axes.ravel()
    for ax, (label, img) in zip(flat, images, strict=False):
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
        text = label
        if clean is not None and label != "clean":
            text += f"\n{psnr(clean, img):.2f} dB"
        ax.set_title(text, fontsize=9)
        ax.set_axis_off()
    for ax in flat[len(images) :]:
        ax.set_axis_off()
    inset = flat[0].inset_axes([0.62, 0.62, 0.36, 0.36])
    acf = _autocorr(_residual(noisy, clean))
    inset.imshow(acf, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    lag = acf.shape[0] // 2
    ticks = [0, lag, 2 * lag]
    inset.set_xticks(ticks, [str(-lag), "0", str(lag)], fontsize=6)
    inset.set_yticks(ticks, [str(-lag), "0", str(lag)], fontsize=6)
    inset.set_xlabel("x lag (px)", fontsize=6, labelpad=1)
    inset.set_ylabel("y lag (px)", fontsize=6, labelpad=1)
    inset.set_title("noise autocorr. (-1..1)", fontsize=6, pad=2)
    if clean is not None:
        ax = flat[len(images)]
        ax.set_axis_on()
        x, y, xcol, ycol = _curve_xy(_variance_curve(noisy, clean))
        ax.plot(x, y, marker="o", ms=3)
        ax.set_xlabel(_axis_label(xcol))
        ax.set_ylabel(_axis_label(ycol))
        ax.set_title("noise variance vs signal", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path_stem)
