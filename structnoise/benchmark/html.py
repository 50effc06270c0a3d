"""``report.html``: one self-contained page per run folder (no external URL, no CDN).

Written by :func:`structnoise.benchmark.report.report` after the other reports, into the
run folder. It holds

* the run's provenance (commit, machine, profile) and, for a comparison
  (``structnoise report RUN_DIR --with OTHER``), the runs it merges;
* the results summary (mean and sd over seeds of every metric the run scored, per
  dataset and method), the per-cell table (steps, why training stopped, cells that
  stopped short, timings, memory) and, per dataset and metric, the per-image table
  (``metrics_per_image`` of the records, else their ``per_image``): every table sorts
  by a click on its header, by the plain script at the end of the page;
* every PNG figure the report wrote (quality-vs-compute curves, Fig. 3, 4, 5), embedded
  as data URIs;
* per dataset, the same crop of the first test image for every method (:mod:`.crops`).

Sorting can also be asked for in the address: ``report.html#sort=<table id>:<column
index from 0>:<asc|desc>`` sorts that table on load (the tests use it in a headless
browser). Every table gets ``data-sortable`` on its header cells when the script has
run, and the page's ``body`` gets ``data-sort-ready``.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import pandas as pd

from structnoise.benchmark.choices import Status
from structnoise.benchmark.crops import Grid, build_grids
from structnoise.benchmark.runfolder import PROVENANCE_FILE, RUN_MARKER, read_json, write_text
from structnoise.benchmark.tables import final_rows
from structnoise.metrics import get_metric, metric_order

#: The page's file name in the run folder.
REPORT_HTML = "report.html"


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _num(value, decimals: int = 3) -> str:
    """A ``<td>`` holding a number (empty when missing), sortable by its value."""
    if _missing(value):
        return '<td data-v=""></td>'
    return f'<td data-v="{float(value):.10g}">{float(value):.{decimals}f}</td>'


def _text(value, cls: str = "t", title: str = "") -> str:
    shown = "" if _missing(value) else str(value)
    extra = f' title="{_e(title)}"' if title else ""
    return f'<td class="{cls}"{extra}>{_e(shown)}</td>'


def _table(table_id: str, headers: list[str], rows: list[str], foot: str = "") -> str:
    head = "".join(
        f'<th class="{"t" if i < 1 else ""}">{_e(h)}</th>' for i, h in enumerate(headers)
    )
    foot = f"<tfoot>{foot}</tfoot>" if foot else ""
    return (
        f'<div class="scroll"><table class="sortable" id="{_e(table_id)}"><thead><tr>{head}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody>{foot}</table></div>"
    )


def _title(metric: str) -> str:
    return get_metric(metric).title


def _decimals(metric: str) -> int:
    return get_metric(metric).decimals


def _summary(
    table: pd.DataFrame, metrics: list[str], merged: bool, untrained: set = frozenset()
) -> str:
    t = final_rows(table)
    rows = []
    for dataset, by_dataset in t.groupby("dataset", sort=False):
        best = None
        if metrics:  # the first metric decides the bold row
            first = get_metric(metrics[0])
            ok = by_dataset[
                (by_dataset["metric"] == first.name) & (by_dataset["status"] == Status.OK)
            ]
            means = ok.groupby("label")["value"].mean().dropna()
            if len(means):
                best = means.idxmax() if first.higher_is_better else means.idxmin()
        for label, group in by_dataset.groupby("label", sort=False):
            ok = group[(group["status"] == Status.OK) & group["value"].notna()]
            mark = " †" if (dataset, label) in untrained else ""
            cells = [_text(dataset), _text(f"{label}{mark}")]
            if merged:
                cells.append(_text(", ".join(dict.fromkeys(group["run"].astype(str)))))
            for metric in metrics:
                vals = ok[ok["metric"] == metric]["value"].astype(float)
                d = _decimals(metric)
                cells.append(_num(vals.mean() if len(vals) else math.nan, d))
                cells.append(_num(vals.std(ddof=1) if len(vals) > 1 else math.nan, d))
            n = ok["cell_id"].nunique()
            status = "ok" if n else ", ".join(dict.fromkeys(group["status"].astype(str)))
            cells += [_num(n, 0), _text(status)]
            cls = ' class="best"' if label == best else ""
            rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    headers = ["dataset", "method"] + (["runs"] if merged else [])
    for metric in metrics:
        headers += [f"{_title(metric)} mean", f"{_title(metric)} sd"]
    headers += ["seeds ok", "status"]
    return _table("summary", headers, rows)


def _cells(table: pd.DataFrame, metrics: list[str], merged: bool) -> str:
    t = final_rows(table)
    values = {
        (cid, metric): value
        for cid, metric, value in zip(t["cell_id"], t["metric"], t["value"], strict=True)
    }
    first = t.drop_duplicates("cell_id")
    optional = [
        ("steps", "steps", 0),
        ("max_steps", "max steps", 0),
        ("stopped_by", "stopped by", None),
        ("short", "short", None),
        ("fit_s", "fit s", 1),
        ("train_cpu_s", "train CPU s", 1),
        ("denoise_s", "denoise s", 1),
        ("threads", "threads", 0),
        ("peak_rss_mb", "peak RSS MB", 0),
        ("device", "device", None),
    ]
    optional = [o for o in optional if o[0] in first.columns]
    headers = (["run"] if merged else []) + ["dataset", "method", "seed", "status"]
    headers += [_title(m) for m in metrics] + [o[1] for o in optional]
    rows = []
    for rec in first.to_dict("records"):
        cells = [_text(rec["run"])] if merged else []
        cells += [_text(rec["dataset"]), _text(rec["label"]), _num(rec["seed"], 0)]
        reason = str(rec.get("reason") or "")
        if rec["status"] == Status.OK:
            cells.append(_text("ok"))
        else:
            cells.append(_text(f"{rec['status']}: {reason[:60]}", "t warn", reason))
        for metric in metrics:
            v = values.get((rec["cell_id"], metric), math.nan)
            cells.append(_num(v, _decimals(metric)))
        for col, _, decimals in optional:
            v = rec.get(col)
            if col == "short":
                short = not _missing(v) and str(v).lower() in ("true", "1", "1.0")
                cells.append(_text("stopped short" if short else "", "t warn"))
            elif decimals is None:
                cells.append(_text(v))
            else:
                cells.append(_num(v, decimals))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return _table("cells", headers, rows)


def _per_image(records: list[dict], datasets: list[str], metrics: list[str]) -> list[str]:
    parts = []
    for dataset in datasets:
        for metric in metrics:
            by_label: dict[str, list[list[float]]] = {}
            for rec in records:
                if rec.get("dataset") != dataset or rec.get("status") != Status.OK:
                    continue
                per = rec.get("metrics_per_image") or rec.get("per_image") or {}
                values = per.get(metric)
                if values:
                    by_label.setdefault(rec["label"], []).append([float(v) for v in values])
            lengths = {len(v) for seeds in by_label.values() for v in seeds}
            if not by_label or len(lengths) != 1:
                continue
            labels = list(by_label)
            n = lengths.pop()
            means = {
                lab: [sum(s[i] for s in by_label[lab]) / len(by_label[lab]) for i in range(n)]
                for lab in labels
            }
            d = _decimals(metric)
            rows = [
                "<tr>" + _num(i, 0) + "".join(_num(means[lab][i], d) for lab in labels) + "</tr>"
                for i in range(n)
            ]
            foot = (
                "<tr><td>mean</td>"
                + "".join(f"<td>{sum(means[lab]) / n:.{d}f}</td>" for lab in labels)
                + "</tr>"
            )
            headers = ["test image"] + [f"{lab} ({len(by_label[lab])} seeds)" for lab in labels]
            table_id = f"img-{_slug(dataset)}-{_slug(metric)}"
            parts.append(f"<h3>{_e(dataset)}: {_e(_title(metric))} per test image</h3>")
            parts.append('<p class="muted">Mean over the seeds of each method, per test image.</p>')
            parts.append(_table(table_id, headers, rows, foot))
    return parts


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in str(text)).strip("-").lower()


def _figures(out: dict) -> list[str]:
    parts = []
    for key, files in out.items():
        if key in ("table1", "report", "html", "merged_table") or not isinstance(files, list):
            continue
        for path in files:
            if not isinstance(path, str | Path):
                continue
            path = Path(path)
            if path.suffix != ".png" or not path.exists():
                continue
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append(
                f'<figure><img class="fig" alt="{_e(path.stem)}" '
                f'src="data:image/png;base64,{data}"><figcaption>{_e(path.name)}'
                "</figcaption></figure>"
            )
    return parts


def _grid_html(grid: Grid) -> str:
    y, x, side = grid.window
    h, w = grid.shape
    scale = 192 / max(h, w)
    rect = (
        f'<svg width="192" height="192" viewBox="0 0 192 192"><rect x="{x * scale:.1f}" '
        f'y="{y * scale:.1f}" width="{side * scale:.1f}" height="{side * scale:.1f}" '
        'fill="none" stroke="#f30" stroke-width="2"/></svg>'
    )
    items = [
        f'<figure><div class="overview"><img alt="whole noisy image" src="{grid.overview}" '
        f'style="width:{w * scale:.0f}px;height:{h * scale:.0f}px">{rect}</div>'
        f"<figcaption>whole noisy image; the crop: {side}x{side} px at y={y}, x={x}"
        "</figcaption></figure>"
    ]
    for panel in grid.panels:
        note = f"<br>{_e(panel.note)}" if panel.note else ""
        items.append(
            f'<figure><img alt="{_e(panel.caption)}" src="{panel.uri}">'
            f"<figcaption>{_e(panel.caption)}{note}</figcaption></figure>"
        )
    missing = ""
    if grid.missing:
        missing = (
            '<p class="muted">No denoised images saved for: '
            + _e(", ".join(grid.missing))
            + ".</p>"
        )
    return f'<h3>{_e(grid.dataset)}</h3><div class="grid">{"".join(items)}</div>{missing}'


def _header(run_dir: Path, table: pd.DataFrame, compared: list[dict] | None) -> list[str]:
    meta = read_json(run_dir / RUN_MARKER)
    prov = read_json(run_dir / PROVENANCE_FILE)
    git = prov.get("git") or {}
    machine = prov.get("machine") or {}
    cpu = machine.get("cpu_model") or machine.get("processor") or "?"
    cores = machine.get("cpu_affinity", machine.get("cpu_count", "?"))
    gpus = ", GPUs: " + ", ".join(machine["gpus"]) if machine.get("gpus") else ", no GPU"
    profiles = ", ".join(sorted(set(table["profile"].dropna().astype(str))))
    commit = git.get("commit") or "unknown"
    commit += " (uncommitted changes)" if git.get("dirty") else ""
    items = [
        f"profile: {profiles}; cells: {table['cell_id'].nunique()}",
        f"code: commit {commit}",
        f"machine: {cpu}, {cores} CPU cores{gpus}",
    ]
    parts = [
        f"<h1>Benchmark report: {_e(meta.get('run_id', run_dir.name))}</h1>",
        "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>",
    ]
    if compared:
        rows = [
            "<tr>"
            + "".join(_text(c.get(k)) for k in ("run", "run_id", "path", "commit"))
            + _num(c.get("cells"), 0)
            + "</tr>"
            for c in compared
        ]
        parts += [
            "<h2>Runs compared</h2>",
            "<p>The first run is this folder; its cells win over the same cells (method, "
            "parameters, dataset, seed) of the others.</p>",
            _table("runs", ["run", "run id", "folder", "commit", "cells kept"], rows),
        ]
    return parts


def write_html(
    run_dir: Path,
    table: pd.DataFrame,
    records: list[dict],
    out: dict,
    *,
    compared: list[dict] | None = None,
    dropped: list[str] | None = None,
    sections: list[str] | None = None,
    untrained: set[tuple[str, str]] | None = None,
) -> Path:
    """Write ``report.html`` into the run folder.

    Parameters
    ----------
    run_dir : pathlib.Path
        The run folder (the page is written there).
    table : pandas.DataFrame
        The results table (merged, with a ``run`` column, for a comparison).
    records : list of dict
        The records of the table's cells, in table order (``_root`` where a record
        comes from another run folder).
    out : dict
        The report's written files by kind; its PNG files are embedded.
    compared : list of dict, optional
        :func:`structnoise.benchmark.compare.describe_runs` of a comparison.
    dropped : list of str, optional
        Cells left out of a comparison.
    sections : list of str, optional
        HTML sections placed after the results summary (plateau verdicts, paired
        comparison, Fig. 5 numbers, protocol: :mod:`.evidence`).
    untrained : set of (dataset, label), optional
        Cells not trained to plateau: marked † in the results summary.

    Returns
    -------
    pathlib.Path
    """
    merged = "run" in table.columns
    metrics = metric_order(final_rows(table)["metric"])
    datasets = list(dict.fromkeys(table["dataset"]))
    body = _header(run_dir, table, compared)
    body += [
        '<h2 id="sec-summary">Results</h2>',
        "<p>Mean and sample sd over the seeds whose cell succeeded (final evaluation of "
        f"each cell); best mean {_e(_title(metrics[0])) if metrics else ''} per dataset in "
        "bold. Click a column header to sort.</p>",
        _summary(table, metrics, merged, untrained or set()),
    ]
    if untrained:
        body.append("<p>† not trained to plateau (see below): left out of the rankings.</p>")
    body += list(sections or [])
    figures = _figures(out)
    if figures:
        body += ['<h2 id="sec-figures">Figures</h2>', *figures]
    grids = build_grids(run_dir, records, datasets)
    if grids:
        body.append('<h2 id="sec-grids">The same crop for every method</h2>')
        body += [_grid_html(g) for g in grids]
    body += ['<h2 id="sec-cells">Cells</h2>', _cells(table, metrics, merged)]
    per_image = _per_image(records, datasets, metrics)
    if per_image:
        body += ['<h2 id="sec-per-image">Per test image</h2>', *per_image]
    notes = list(out.get("skipped") or []) + list(dropped or [])
    if notes:
        body += ["<h2>Notes</h2>", "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"]
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>structnoise report</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + f"<script>{_JS}</script></body></html>\n"
    )
    return write_text(Path(run_dir) / REPORT_HTML, page)


# --------------------------------------------------------------------------- assets
# The style sheet and the sorting script of ``report.html``, inline.
#
# The script makes every ``table.sortable`` sort by a click on a header cell (numbers by
# value, text alphabetically, empty cells last in both directions), marks each header cell
# ``data-sortable`` and its state in ``aria-sort``, sorts the table named in the address's
# ``#sort=<table id>:<column>:<asc|desc>`` on load and finally sets ``data-sort-ready``
# (the number of sortable tables) on ``body``.

#: The page's style sheet.
_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1400px;color:#222;
padding:0 1em}
h1{font-size:1.5em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}th{text-align:left}
td.t,th.t{text-align:left}thead th{background:#f0f0f0;position:sticky;top:0}
th[data-sortable]{cursor:pointer}th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
tr.best td{font-weight:bold}.warn{color:#b00}.muted{color:#777}
tfoot td{font-style:italic;background:#fafafa}
figure{display:inline-block;margin:.5em;vertical-align:top;max-width:calc(100% - 1em)}
figure img.fig{max-width:100%;height:auto;border:1px solid #ddd}
.scroll{overflow-x:auto;max-width:100%}
.grid{display:flex;flex-wrap:wrap;gap:.6em;align-items:flex-start}
.grid figure{margin:0;text-align:center;font-size:.8em;width:200px}
.grid img{width:192px;height:192px;image-rendering:pixelated;border:1px solid #999}
.overview{position:relative;width:192px;height:192px}
.overview svg{position:absolute;left:0;top:0}
"""

#: The sorting script (plain JavaScript, no library), run at the end of the page.
_JS = """
(function () {
  function key(cell) {
    var v = cell.hasAttribute('data-v') ? cell.getAttribute('data-v') : cell.textContent;
    var n = parseFloat(v);
    if (v !== '' && isFinite(n) && String(n) !== 'NaN' && /^[-+0-9.eE]+$/.test(v.trim()))
      return {num: true, v: n};
    return {num: false, v: v.trim().toLowerCase(), empty: v.trim() === ''};
  }
  function sortTable(table, col, dir) {
    var body = table.tBodies[0];
    if (!body) return;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      if (!!x.empty !== !!y.empty) return x.empty ? 1 : -1;
      var c = (x.num && y.num) ? x.v - y.v : (x.v < y.v ? -1 : x.v > y.v ? 1 : 0);
      if (x.num !== y.num) c = x.num ? -1 : 1;
      return dir === 'desc' ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    var heads = table.tHead.rows[0].cells;
    var state = dir === 'desc' ? 'descending' : 'ascending';
    for (var i = 0; i < heads.length; i++)
      heads[i].setAttribute('aria-sort', i === col ? state : 'none');
    table.setAttribute('data-sorted', col + ':' + dir);
  }
  var tables = document.querySelectorAll('table.sortable');
  tables.forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, i) {
      th.setAttribute('data-sortable', '1');
      th.setAttribute('aria-sort', 'none');
      th.title = 'click to sort';
      th.addEventListener('click', function () {
        sortTable(table, i, th.getAttribute('aria-sort') === 'ascending' ? 'desc' : 'asc');
      });
    });
  });
  var m = /sort=([A-Za-z0-9_-]+):(\\d+):(asc|desc)/.exec(decodeURIComponent(location.hash));
  if (m) { var t = document.getElementById(m[1]); if (t) sortTable(t, +m[2], m[3]); }
  document.body.setAttribute('data-sort-ready', String(tables.length));
})();
"""
