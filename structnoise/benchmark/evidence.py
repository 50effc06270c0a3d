"""The report's evidence beyond Table 1: plateau verdicts, paired comparison, Fig. 5 numbers.

:func:`gather` computes, from a run's results table and cell records,

* whether each learnt method was trained to plateau (:mod:`.plateau`),
* each method's PSNR difference against DVLAE on the same test images, with a
  bootstrap interval (:mod:`.paired`),
* the statistics of the noise sampled from the fitted models against the real noise,
  checked against ``tests/test_quality.py``'s tolerances (:mod:`.fig5_stats`),
* the protocol(s) the cells were fitted under (:mod:`.protocols`),

and :class:`Evidence` renders them as Markdown sections (``report.md``) and HTML
sections (``report.html``).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from structnoise.benchmark.fig5_stats import SampleRow, fig5_markdown, sample_row
from structnoise.benchmark.paired import PairedDiff, paired_comparisons, paired_markdown
from structnoise.benchmark.plateau import MIN_GAIN_DB, Verdict, plateau_markdown
from structnoise.benchmark.protocols import PROTOCOLS, protocols_of


@dataclass
class Evidence:
    """What :func:`gather` found (each list may be empty)."""

    plateau: list[Verdict] = field(default_factory=list)
    paired: list[PairedDiff] = field(default_factory=list)
    fig5: list[SampleRow] = field(default_factory=list)
    protocols: dict[str, list[str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ Markdown
    def protocol_markdown(self) -> str:
        """Which protocol the cells were fitted under (empty: no record says)."""
        if not self.protocols:
            return ""
        lines = [
            f"- **{name}** ({PROTOCOLS.get(name, 'unknown protocol')}): {', '.join(labels)}"
            for name, labels in self.protocols.items()
        ]
        return "\n".join(lines) + "\n"

    def markdown_sections(self) -> dict[str, str]:
        """``{title: markdown}`` of the sections that have content, in report order."""
        sections = {
            "Protocol": self.protocol_markdown(),
            "Trained to plateau?": plateau_markdown(self.plateau),
            "Paired comparison against DVLAE": paired_markdown(self.paired),
            "Fig. 5 as numbers: sampled against real noise": fig5_markdown(self.fig5),
        }
        return {k: v for k, v in sections.items() if v}

    # ------------------------------------------------------------------ HTML
    def html_sections(self) -> list[str]:
        """The same sections as HTML (headings, tables, notes)."""
        parts = []
        if self.protocols:
            items = "".join(
                f"<li><b>{_e(n)}</b> ({_e(PROTOCOLS.get(n, 'unknown protocol'))}): "
                f"{_e(', '.join(labels))}</li>"
                for n, labels in self.protocols.items()
            )
            parts += ['<h2 id="sec-protocol">Protocol</h2>', f"<ul>{items}</ul>"]
        if self.plateau:
            rows = [
                [
                    v.label,
                    v.dataset,
                    v.verdict,
                    _fmt(v.gain, "+.2f"),
                    "" if v.last_mark is None else str(v.last_mark),
                    "" if v.final_step is None else str(v.final_step),
                    str(v.n),
                    _fmt(v.sd, ".2f"),
                    f"{v.threshold:.2f}",
                ]
                for v in self.plateau
            ]
            parts += [
                '<h2 id="sec-plateau">Trained to plateau?</h2>',
                _table(
                    "plateau",
                    [
                        "method",
                        "dataset",
                        "verdict",
                        "gain (dB)",
                        "from step",
                        "to step",
                        "seeds",
                        "sd of final (dB)",
                        "threshold (dB)",
                    ],
                    rows,
                ),
                "<p>Trained to plateau: the final PSNR minus the PSNR at the largest earlier "
                f"curve mark, averaged over seeds, is below max({MIN_GAIN_DB:g} dB, the sd of "
                "the seeds' final PSNR); else budget-limited. The other cells are left out "
                "of the rankings.</p>",
            ]
        if self.paired:
            rows = [
                [
                    d.dataset,
                    d.reference,
                    d.label,
                    f"{d.mean:+.2f}",
                    f"[{d.low:+.2f}, {d.high:+.2f}]",
                    str(d.n_pairs),
                    str(d.n_seeds),
                    d.verdict,
                ]
                for d in self.paired
            ]
            parts += [
                '<h2 id="sec-paired">Paired comparison against DVLAE</h2>',
                _table(
                    "paired",
                    [
                        "dataset",
                        "against",
                        "method",
                        "mean difference (dB)",
                        "95 % interval (dB)",
                        "pairs",
                        "seeds",
                        "verdict",
                    ],
                    rows,
                ),
                "<p>PSNR of the method minus the reference's on the same test image and seed; "
                "percentile bootstrap interval of the mean over the pairs.</p>",
            ]
        if self.fig5:
            rows = []
            for r in self.fig5:
                for name, s, verdict in (
                    ("real", r.real, ""),
                    (
                        f"{r.label}, seed {r.seed}",
                        r.sampled,
                        "pass" if not r.failures else "fail: " + "; ".join(r.failures),
                    ),
                ):
                    rows.append(
                        [
                            r.dataset,
                            name,
                            *(f"{v:.4g}" for v in s.variance),
                            f"{s.slope:.2f}",
                            f"{s.along1:.2f}",
                            f"{s.along2:.2f}",
                            f"{s.across1:.2f}",
                            f"{s.across2:.2f}",
                            verdict,
                        ]
                    )
            parts += [
                '<h2 id="sec-fig5-numbers">Fig. 5 as numbers</h2>',
                _table(
                    "fig5-numbers",
                    [
                        "dataset",
                        "noise",
                        "var low",
                        "var mid",
                        "var high",
                        "high/low",
                        "lag-1 along",
                        "lag-2 along",
                        "lag-1 across",
                        "lag-2 across",
                        "tolerances",
                    ],
                    rows,
                ),
            ]
        return parts


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _fmt(x: float, spec: str) -> str:
    return "" if x is None or math.isnan(x) else format(x, spec)


def _table(table_id: str, headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return (
        f'<div class="scroll"><table class="sortable" id="{_e(table_id)}"><thead><tr>{head}'
        f"</tr></thead><tbody>{body}</tbody></table></div>"
    )


def gather(
    table: pd.DataFrame,
    records: list[dict],
    run_dir: Path,
    plateau: list[Verdict] | None = None,
) -> Evidence:
    """The evidence of a run (see the module doc).

    Parameters
    ----------
    table : pandas.DataFrame
        The results table (the report's, merged for a comparison).
    records : list of dict
        The records of the table's cells (``_root`` where another run folder holds
        their files).
    run_dir : pathlib.Path
        The run folder.
    plateau : list of Verdict, optional
        Verdicts already computed (Table 1's); computed from ``table`` otherwise.

    Returns
    -------
    Evidence
    """
    from structnoise.benchmark.plateau import plateau_verdicts

    rows = []
    for rec in records:
        rel = rec.get("noise_sample_path")
        if rec.get("status") != "ok" or not rel:
            continue
        path = Path(rec.get("_root") or run_dir) / rel
        if not path.exists():
            continue
        try:
            row = sample_row(path, str(rec["dataset"]), str(rec["label"]), int(rec["seed"]))
        except (OSError, ValueError, KeyError):
            continue
        if row is not None:
            rows.append(row)
    order = list(dict.fromkeys(str(d) for d in table["dataset"]))
    rows.sort(key=lambda r: order.index(r.dataset) if r.dataset in order else len(order))
    return Evidence(
        plateau=plateau_verdicts(table) if plateau is None else plateau,
        paired=paired_comparisons(records),
        fig5=rows,
        protocols=protocols_of(records),
    )
