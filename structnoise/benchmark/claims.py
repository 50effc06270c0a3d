"""Which ranking of methods a run supports: a difference counts only beyond the seed spread.

Rule (the report's only source of "A is better than B"): two methods on a dataset are
**distinguishable** when both have at least two seeds and the difference of their means
exceeds the sum of their standard deviations over seeds (``|mean_a - mean_b| > sd_a +
sd_b``, sample standard deviations). Otherwise the report says "not distinguishable".
With one seed there is no spread to compare with, so a one-seed run makes no ranking
claim at all (it lists the means in order and says so).

The ranking is written as a chain over the methods from best to worst mean (the
direction and the decimals are the metric's: :data:`structnoise.metrics.METRICS`),
``a > b ≈ c > d``: ``>`` (better than) between neighbours that are distinguishable, ``≈``
between neighbours that are not.
"""

from __future__ import annotations

import math

import pandas as pd

from structnoise.metrics import Metric, get_metric
from structnoise.utils import markdown_escape


def distinguishable(a: pd.Series, b: pd.Series) -> bool | None:
    """Whether two summary rows differ beyond their seed spread (None: too few seeds).

    Parameters
    ----------
    a, b : pandas.Series
        Rows of :func:`~structnoise.benchmark.tables.summarise` (``mean``, ``std``,
        ``n``).

    Returns
    -------
    bool or None
    """
    if int(a["n"]) < 2 or int(b["n"]) < 2:
        return None
    if math.isnan(a["std"]) or math.isnan(b["std"]):
        return None
    return abs(float(a["mean"]) - float(b["mean"])) > float(a["std"]) + float(b["std"])


def ranking_chain(summary: pd.DataFrame, metric: Metric | None = None) -> tuple[str, bool]:
    """One dataset's methods from the best mean to the worst, joined by ``>`` or ``≈``.

    Parameters
    ----------
    summary : pandas.DataFrame
        The summary rows of one dataset and metric (status ok only).
    metric : Metric, optional
        Which way is better and the decimals shown (default: PSNR's).

    Returns
    -------
    chain : str
    claims : bool
        False when some method has fewer than two seeds (no ranking is claimed).
    """
    metric = get_metric("psnr") if metric is None else metric
    rows = summary.sort_values("mean", ascending=not metric.higher_is_better)
    rows = rows.reset_index(drop=True)
    dec = metric.decimals
    names = [f"{r['label']} ({r['mean']:.{dec}f})" for _, r in rows.iterrows()]
    verdicts = [distinguishable(rows.iloc[i - 1], rows.iloc[i]) for i in range(1, len(rows))]
    if any(v is None for v in verdicts):
        return ", ".join(names), False
    parts = [names[0]]
    for verdict, name in zip(verdicts, names[1:], strict=True):
        parts += [">" if verdict else "≈", name]
    return " ".join(parts), True


def claims_markdown(
    summaries: dict[str, pd.DataFrame],
    datasets: list[str],
    left_out: set[tuple[str, str]] | frozenset = frozenset(),
) -> str:
    """The ranking each dataset supports, per metric, as Markdown.

    Parameters
    ----------
    summaries : dict
        ``{metric: summary}`` (:func:`~structnoise.benchmark.tables.summarise` with the
        Table 1 columns).
    datasets : list of str
        Dataset order.
    left_out : set of (dataset, label)
        Cells already removed from ``summaries`` because they were not trained to
        plateau (:mod:`.plateau`): named under the rankings.

    Returns
    -------
    str
        Empty when no dataset has two methods with results.
    """
    lines = []
    for metric, summary in summaries.items():
        ok = summary[(summary["status"] == "ok") & summary["mean"].notna()]
        for d in datasets:
            rows = ok[ok["dataset"] == d]
            if len(rows) < 2:
                continue
            info = get_metric(metric)
            rows = rows.assign(label=rows["label"].map(markdown_escape))
            chain, claims = ranking_chain(rows, info)
            name = metric if info.higher_is_better else f"{metric} (lower is better)"
            dname = markdown_escape(d)
            if claims:
                lines.append(f"- {dname}, {name}: {chain}")
            else:
                lines.append(
                    f"- {dname}, {name}: no ranking claimed (fewer than two seeds for some "
                    f"method); means in order: {chain}"
                )
    if not lines:
        return ""
    for d in datasets:
        names = sorted(label for ds, label in left_out if ds == d)
        if names:
            lines.append(f"- {d}: left out, not trained to plateau: {', '.join(names)}")
    head = (
        "Rankings the seeds support: `>` where the difference of the means exceeds the sum "
        "of the two methods' standard deviations over seeds, `≈` where it does not (not "
        "distinguishable); with one seed no ranking is claimed.\n\n"
    )
    return head + "\n".join(lines) + "\n"
