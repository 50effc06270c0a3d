"""Quality against training time: ``fig_curves_<dataset>`` from the marks of a run.

Every learnt cell with a step budget is evaluated on the test images at step marks during
its training (:func:`~structnoise.benchmark.cells.curve_marks`) and at its end; the tidy
table holds one row per evaluation (``final`` False for the marks). A figure per dataset
draws every metric of :data:`structnoise.metrics.METRICS` the run has, a panel each,
against training time (log x: wall-clock seconds spent in ``fit`` up to the mark,
set-up such as HDN's noise-model fit included, the evaluations left out), one line
per method through the mean over seeds at each step mark, the band spanning the seeds'
minimum to maximum; methods that do not train are drawn as horizontal lines.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from structnoise.benchmark.choices import Status
from structnoise.benchmark.plots import _pyplot, budget_label, save_figure
from structnoise.benchmark.runfolder import safe_name
from structnoise.metrics import get_metric, metric_order


def curve_points(table: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Per (dataset, label, step mark): mean, min, max over seeds and the median time.

    Parameters
    ----------
    table : pandas.DataFrame
        A tidy results table with ``mark_step`` and ``train_wall_s`` columns.
    metric : str, optional
        Which metric (default: the first of the table in
        :data:`~structnoise.metrics.METRICS` order).

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, label, mark_step, seconds, mean, min, max, n``; only cells
        that trained (a step count) and succeeded.
    """
    cols = ["dataset", "label", "mark_step", "seconds", "mean", "min", "max", "n"]
    if "mark_step" not in table.columns:
        return pd.DataFrame(columns=cols)
    if metric is None:
        metric = (metric_order(table["metric"]) or ["psnr"])[0]
    t = table[
        (table["metric"] == metric)
        & (table["status"] == Status.OK)
        & table["value"].notna()
        & table["mark_step"].notna()
    ]
    if t.empty:
        return pd.DataFrame(columns=cols)
    g = t.groupby(["dataset", "label", "mark_step"], sort=False)
    out = g.agg(
        seconds=("train_wall_s", "median"),
        mean=("value", "mean"),
        min=("value", "min"),
        max=("value", "max"),
        n=("seed", "nunique"),
    ).reset_index()
    return out[cols].sort_values(["dataset", "label", "mark_step"]).reset_index(drop=True)


def _flat_lines(table: pd.DataFrame, dataset: str, metric: str) -> pd.Series:
    """The mean of each method that does not train (no step count) on a dataset."""
    t = table[
        (table["metric"] == metric)
        & (table["dataset"] == dataset)
        & (table["status"] == Status.OK)
        & table["value"].notna()
    ]
    if "mark_step" in t.columns:
        t = t[t["mark_step"].isna()]
    return t.groupby("label", sort=False)["value"].mean()


def plot_curves(table: pd.DataFrame, run_dir: Path) -> list[Path] | str:
    """Write ``fig_curves_<dataset>.png/.svg`` for every dataset with curve marks.

    Parameters
    ----------
    table : pandas.DataFrame
        The run's tidy table.
    run_dir : pathlib.Path
        Where the figures go.

    Returns
    -------
    list of pathlib.Path or str
        The written files, or the reason no figure was drawn.
    """
    points = curve_points(table)
    if points.empty or not (points.groupby(["dataset", "label"]).size() > 1).any():
        return (
            "quality-vs-compute curves skipped: no learnt cell was evaluated during its "
            "training (give learnt methods max_steps and the run curve_marks)"
        )
    plt = _pyplot()
    metrics = metric_order(table["metric"])
    written: list[Path] = []
    for dataset in dict.fromkeys(points["dataset"]):
        fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.0), squeeze=False)
        for ax, metric in zip(axes[0], metrics, strict=True):
            _panel(ax, table, dataset, metric)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
        seeds = int(points[points["dataset"] == dataset]["n"].max())
        fig.suptitle(
            f"{dataset}: quality against training time (line: mean over {seeds} seed(s); "
            "band: min-max over seeds)"
        )
        rows = table[(table["dataset"] == dataset) & table["mark_step"].notna()]
        fig.text(0.5, -0.02, budget_label(rows), ha="center", va="top", fontsize=8)
        fig.tight_layout()
        written += save_figure(fig, run_dir / f"fig_curves_{safe_name(dataset)}")
    return written


def _panel(ax, table: pd.DataFrame, dataset: str, metric: str) -> None:
    """One metric's curves on one dataset."""
    pts = curve_points(table, metric)
    pts = pts[pts["dataset"] == dataset]
    colours = iter(_pyplot().rcParams["axes.prop_cycle"].by_key()["color"] * 4)
    for label, sub in pts.groupby("label", sort=False):
        colour = next(colours)
        x = np.maximum(sub["seconds"].to_numpy(float), 1e-2)
        ax.plot(x, sub["mean"], marker="o", ms=3, color=colour, label=label)
        if (sub["n"] > 1).any():
            ax.fill_between(x, sub["min"], sub["max"], color=colour, alpha=0.2, lw=0)
    for label, value in _flat_lines(table, dataset, metric).items():
        ax.axhline(value, ls="--", lw=1, color=next(colours), label=f"{label} (no training)")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training time: seconds in fit, wall clock (log scale)")
    ax.set_ylabel(get_metric(metric).title)
    ax.grid(True, which="both", alpha=0.3)
