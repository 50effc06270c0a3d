"""Table 1 of the paper from a results table: markdown and LaTeX, with the paper's numbers.

The paper's numbers are data, not code: ``paper_table1.csv`` in this package holds every
cell of the paper's Table 1 with the paper's dataset and method names, the names this
suite uses for them, and the suite's datasets that are built with the same noise model
(``analogue_datasets``: the embedded datasets use the FFHQ noise on other images, so
their numbers are comparable in ranking, not in value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd

from structnoise.benchmark.choices import Status
from structnoise.metrics import get_metric, metric_order
from structnoise.utils import markdown_escape


def paper_table1() -> pd.DataFrame:
    """The paper's Table 1 (PSNR, dB) with the mapping to this suite's names.

    Returns
    -------
    pandas.DataFrame
        Columns ``paper_dataset, paper_method, psnr, dataset, method,
        analogue_datasets``; one row per cell the paper reports.
    """
    with (resources.files("structnoise.benchmark") / "paper_table1.csv").open() as fh:
        df = pd.read_csv(fh, keep_default_na=False, na_values=[""])
    df["analogue_datasets"] = df["analogue_datasets"].fillna("")
    return df


@dataclass
class Table1:
    """Table 1 of a run.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per (dataset, label): ``mean``, ``std``, ``n`` (seeds with status ok),
        ``status`` (ok / failed / skipped when no seed succeeded), ``paper``, ``diff``,
        ``best``.
    datasets, labels : list of str
        Row and column order.
    markdown, latex : str
        The rendered table.
    ranking : str
        Markdown comparing our ranking of methods with the paper's on the paper's own
        datasets and on analogous ones (empty when there is nothing to compare).
    summaries : dict
        ``{metric: summary}`` for every metric of the run (``psnr`` is ``summary``).
    claims : str
        Markdown: per dataset and metric, the methods ranked where the seed spread allows
        and "not distinguishable" where it does not (:mod:`.claims`).
    plateau : list of Verdict
        Whether each learnt method was trained to plateau (:mod:`.plateau`); the cells
        that were not are marked † and left out of ``ranking`` and ``claims``.
    """

    summary: pd.DataFrame
    datasets: list[str]
    labels: list[str]
    markdown: str
    latex: str
    ranking: str
    summaries: dict = field(default_factory=dict)
    claims: str = ""
    plateau: list = field(default_factory=list)


def _ordered_unique(values) -> list:
    seen, out = set(), []
    for v in values:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def summarise(table: pd.DataFrame, metric: str = "psnr") -> pd.DataFrame:
    """Mean, std and count over seeds for each (dataset, method label).

    Parameters
    ----------
    table : pandas.DataFrame
        The run's tidy table.
    metric : str
        Which metric.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, label, method, params, mean, std, n, status, reason, min,
        max`` (over the seeds' final evaluations; rows of curve marks are left out).
    """
    t = final_rows(table)
    t = t[t["metric"] == metric]
    rows = []
    for (dataset, label), group in t.groupby(["dataset", "label"], sort=False):
        ok = group[(group["status"] == Status.OK) & group["value"].notna()]
        vals = ok["value"].to_numpy(dtype=float)
        if len(vals):
            status = Status.OK.value
        elif (group["status"] == Status.FAILED).any():
            status = Status.FAILED.value
        elif (group["status"] == Status.OK).any():
            status = "no ground truth"
        else:
            status = Status.SKIPPED.value
        rows.append(
            {
                "dataset": dataset,
                "label": label,
                "method": group["method"].iloc[0],
                "params": group["params"].iloc[0],
                "mean": float(vals.mean()) if len(vals) else math.nan,
                "std": float(vals.std(ddof=1)) if len(vals) > 1 else math.nan,
                "n": len(vals),
                "status": status,
                "reason": "; ".join(_ordered_unique(r for r in group["reason"] if r)),
                "min": float(vals.min()) if len(vals) else math.nan,
                "max": float(vals.max()) if len(vals) else math.nan,
            }
        )
    columns = ["dataset", "label", "method", "params", "mean", "std", "n", "status", "reason"]
    return pd.DataFrame(rows, columns=[*columns, "min", "max"])


def final_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the cells' final evaluations (tables written before curves: all rows).

    Parameters
    ----------
    table : pandas.DataFrame
        A tidy results table.

    Returns
    -------
    pandas.DataFrame
    """
    if "final" not in table.columns:
        return table
    return table[table["final"].astype("boolean").fillna(True).astype(bool)]


def _paper_lookup(paper: pd.DataFrame, metric: str) -> dict[tuple[str, str], float]:
    """The paper's numbers of a metric by (dataset, method); empty if it does not report it."""
    if metric not in paper.columns:
        return {}
    return {
        (d, m): float(v)
        for d, m, v in zip(paper["dataset"], paper["method"], paper[metric], strict=True)
    }


def build_table1(table: pd.DataFrame, paper: pd.DataFrame | None = None, decimals: int = 2):
    """Table 1 of a run: mean ± std over seeds, best per row bold, paper beside ours.

    A method's paper number is shown where the run has the paper's dataset, the method
    ran with its default parameters (no grid parameters) and the paper reports the metric
    (a column of :func:`paper_table1`: PSNR). Every metric of the run gets a table, in
    the order, with the titles, decimals and "best" direction of
    :data:`structnoise.metrics.METRICS`; the first metric's summary is ``summary``.

    Parameters
    ----------
    table : pandas.DataFrame
        The run's tidy table.
    paper : pandas.DataFrame, optional
        :func:`paper_table1` (default).
    decimals : int
        Decimals shown.

    Returns
    -------
    Table1
    """
    from structnoise.benchmark.claims import claims_markdown
    from structnoise.benchmark.plateau import plateau_verdicts, untrained

    paper = paper_table1() if paper is None else paper
    verdicts = plateau_verdicts(table)
    left_out = untrained(verdicts)
    datasets = _ordered_unique(table["dataset"])
    labels = _ordered_unique(table["label"])
    seeds = sorted(set(table["seed"]))
    summaries, md, tex = {}, [], []
    metrics = metric_order(table["metric"])
    for metric in metrics:
        info = get_metric(metric)
        lookup = _paper_lookup(paper, metric)
        summary = summarise(table, metric)
        summary["paper"] = [
            lookup.get((d, m), math.nan) if p in ("{}", "") else math.nan
            for d, m, p in zip(
                summary["dataset"], summary["method"], summary["params"], strict=True
            )
        ]
        summary["diff"] = summary["mean"] - summary["paper"]
        summary["untrained"] = [
            (d, lab) in left_out
            for d, lab in zip(summary["dataset"], summary["label"], strict=True)
        ]
        dec = info.decimals + decimals - 2
        best = []
        for d in summary["dataset"]:
            row = summary[(summary["dataset"] == d) & summary["mean"].notna()]
            best.append(round(info.best(row["mean"]), dec) if len(row) else math.nan)
        summary["best"] = [
            bool(not math.isnan(m) and round(m, dec) == b)
            for m, b in zip(summary["mean"], best, strict=True)
        ]
        summaries[metric] = summary
        head = "" if metric == metrics[0] else f"**{info.title}**\n\n"
        md.append(head + _markdown(summary, datasets, labels, dec, len(seeds), info, bool(lookup)))
        tex.append(_latex(summary, datasets, labels, dec, len(seeds), info, bool(lookup)))
    summary = summaries[metrics[0]] if metrics else summarise(table)
    trained = summary[~summary["untrained"]] if "untrained" in summary else summary
    ranking = _ranking(trained, paper, datasets, metrics[0], left_out) if metrics else ""
    claims = claims_markdown(
        {m: s[~s["untrained"]] for m, s in summaries.items()}, datasets, left_out=left_out
    )
    return Table1(
        summary,
        datasets,
        labels,
        "\n".join(md),
        "\n".join(tex),
        ranking,
        summaries,
        claims,
        verdicts,
    )


def _cell(summary: pd.DataFrame, dataset: str, label: str):
    row = summary[(summary["dataset"] == dataset) & (summary["label"] == label)]
    return None if row.empty else row.iloc[0]


def _fmt_value(r, decimals: int) -> str:
    text = f"{r['mean']:.{decimals}f}"
    if not math.isnan(r["std"]):
        text += f" ± {r['std']:.{decimals}f}"
    return text


class _MarkdownCell:
    """How one cell of Table 1 is written in Markdown."""

    def __init__(self, decimals: int) -> None:
        self.decimals = decimals

    def status(self, status: str) -> str:
        return f"*{status}*"

    def value(self, r) -> str:
        text = _fmt_value(r, self.decimals)
        if r["best"]:
            text = f"**{text}**"
        if r.get("untrained", False):
            text += " †"
        if not math.isnan(r["paper"]):
            text += f" (paper {r['paper']:.2f}, Δ {r['diff']:+.2f})"
        return text


class _LatexCell:
    """How one cell of Table 1 is written in LaTeX."""

    def __init__(self, decimals: int) -> None:
        self.decimals = decimals

    def status(self, status: str) -> str:
        return rf"\textit{{{_tex_escape(status)}}}"

    def value(self, r) -> str:
        text = f"{r['mean']:.{self.decimals}f}"
        if not math.isnan(r["std"]):
            text += rf"$\pm${r['std']:.{self.decimals}f}"
        if r["best"]:
            text = rf"\textbf{{{text}}}"
        if r.get("untrained", False):
            text += r"$^\dagger$"
        if not math.isnan(r["paper"]):
            text += rf" {{\scriptsize ({r['paper']:.2f}, ${r['diff']:+.2f}$)}}"
        return text


def _row_cells(summary, dataset: str, labels, fmt) -> list[str]:
    """The cells of one dataset's row: empty, a status, or a formatted value."""
    cells = []
    for label in labels:
        r = _cell(summary, dataset, label)
        if r is None:
            cells.append("")
        elif r["status"] != Status.OK:
            cells.append(fmt.status(r["status"]))
        else:
            cells.append(fmt.value(r))
    return cells


def _markdown(summary, datasets, labels, decimals, n_seeds, metric, paper: bool) -> str:
    header = "| dataset | " + " | ".join(markdown_escape(x) for x in labels) + " |"
    sep = "| --- | " + " | ".join("---" for _ in labels) + " |"
    lines = [header, sep]
    for d in datasets:
        cells = _row_cells(summary, d, labels, _MarkdownCell(decimals))
        lines.append(f"| {markdown_escape(d)} | " + " | ".join(cells) + " |")
    note = (
        f"{metric.title}, mean ± std over {n_seeds} seed(s) (no ± with one seed); best per "
        f"row in bold{_direction(metric)}"
        + (
            "; where the paper reports the cell, its number and our difference "
            "(ours − paper) follow in brackets."
            if paper
            else "; the paper reports PSNR only."
        )
    )
    if "untrained" in summary and summary["untrained"].any():
        note += (
            " † not trained to plateau (budget-limited, or no curve marks to tell): left "
            "out of the rankings (see the plateau verdicts)."
        )
    problems = summary[summary["status"].isin([Status.FAILED.value, Status.SKIPPED.value])]
    extra = [
        f"- {markdown_escape(r.label)} on {markdown_escape(r.dataset)}: {r.status} "
        f"({markdown_escape(r.reason)})"
        for r in problems.itertuples()
    ]
    return "\n".join(lines) + "\n\n" + note + ("\n\n" + "\n".join(extra) if extra else "") + "\n"


_TEX = {
    "\\": r"\textbackslash{}",
    "_": r"\_",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "\n": " ",
}


def _tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def _direction(metric) -> str:
    """Said where a lower value is better (the tables assume higher otherwise)."""
    return "" if metric.higher_is_better else " (lower is better)"


def _latex(summary, datasets, labels, decimals, n_seeds, metric, paper: bool) -> str:
    cols = "l" + "c" * len(labels)
    lines = [
        r"% Table 1 written by `structnoise report`; needs \usepackage{booktabs}",
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\begin{{tabular}}{{{cols}}}",
        r"\toprule",
        "Dataset & " + " & ".join(_tex_escape(x) for x in labels) + r" \\",
        r"\midrule",
    ]
    for d in datasets:
        cells = _row_cells(summary, d, labels, _LatexCell(decimals))
        lines.append(_tex_escape(d) + " & " + " & ".join(cells) + r" \\")
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{_tex_escape(metric.title)}, mean$\pm$std over {n_seeds} seed(s); "
        f"best per row in bold{_direction(metric)}"
        + (
            r"; $^\dagger$ not trained to plateau"
            if "untrained" in summary and summary["untrained"].any()
            else ""
        )
        + (r"; in brackets the paper's number and ours minus the paper's.}" if paper else r".}"),
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def _ranking(
    summary: pd.DataFrame,
    paper: pd.DataFrame,
    datasets: list[str],
    metric: str,
    left_out: set[tuple[str, str]] | frozenset = frozenset(),
) -> str:
    """Our ranking of the methods the paper also reports, against the paper's (one metric).

    ``summary`` holds the cells trained to plateau only; ``left_out`` names the others
    (:mod:`.plateau`), listed under each dataset's comparison.
    """
    from scipy.stats import kendalltau

    from structnoise.benchmark.claims import ranking_chain

    if metric not in paper.columns:
        return ""
    info = get_metric(metric)
    sign = 1 if info.higher_is_better else -1
    default = summary[(summary["params"].isin(["{}", ""])) & summary["mean"].notna()]
    out = []
    for d in datasets:
        ours = default[default["dataset"] == d].set_index("method")["mean"]
        direct = paper[paper["dataset"] == d]
        kind = "same dataset"
        if direct.empty:
            direct = paper[paper["analogue_datasets"].str.split(";").apply(lambda x, d=d: d in x)]
            kind = "analogous dataset, same noise model, other images"
        if direct.empty:
            continue
        ref = direct.set_index("method")[metric]
        common = [m for m in ref.index if m in ours.index]
        dropped = sorted(m for m in ref.index if (d, m) in left_out)
        note = f"\n  - left out, not trained to plateau: {', '.join(dropped)}" if dropped else ""
        if len(common) < 2:
            if dropped:
                out.append(
                    f"- **{d}**: fewer than two of the paper's methods trained to plateau, "
                    f"no ranking compared{note}"
                )
            continue
        rows = default[(default["dataset"] == d) & default["method"].isin(common)]
        chain, claims = ranking_chain(rows.assign(label=rows["method"].map(markdown_escape)), info)
        paper_order = [markdown_escape(m) for m in sorted(common, key=lambda m: -sign * ref[m])]
        tau = kendalltau([ours[m] for m in common], [ref[m] for m in common]).statistic
        pname = direct["paper_dataset"].iloc[0]
        ours_line = chain if claims else f"no ranking claimed (one seed); means in order: {chain}"
        out.append(
            f"- **{markdown_escape(d)}** vs the paper's *{pname}* ({kind}):\n"
            f"  - ours: {ours_line}\n"
            f"  - paper: {' > '.join(paper_order)}\n"
            f"  - Kendall's tau of the means over {len(common)} methods: {tau:+.2f}" + note
        )
    if not out:
        return ""
    return (
        "Ranking of the methods the paper reports, ours against the paper's (ours: `>` only "
        "where the means differ by more than the sum of the seeds' standard deviations, `≈` "
        "where they do not):\n\n" + "\n".join(out) + "\n"
    )


def as_numeric_matrix(summary: pd.DataFrame) -> pd.DataFrame:
    """The mean PSNR as a dataset x label matrix (for quick inspection)."""
    return summary.pivot(index="dataset", columns="label", values="mean").astype(np.float64)
