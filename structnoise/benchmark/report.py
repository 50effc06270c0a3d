"""``structnoise report RUN_DIR``: Table 1 and the paper's figures, written next to the table.

Files written into the run folder:

* ``table1.md``, ``table1.tex``: Table 1 (mean ± std over seeds, best per row bold,
  the paper's number and our difference where the paper reports the cell);
* ``fig4_rf.png/.svg``: PSNR versus receptive-field length (cells with an ``rf`` grid);
* ``fig5_<dataset>_<method>_s<seed>.png/.svg``: real noise against noise sampled from the
  model's AR decoder (cells run with ``sample_noise``, or saved models that can sample);
* ``fig3_<dataset>.png/.svg``: noisy / each method / clean grid with the noise
  autocorrelation inset (needs the denoised TIFFs);
* ``report.md``: all of the above in one page, with per-cell timings and memory;
* ``report.html``: the same, self-contained, with sortable tables, the figures embedded,
  the same crop of a test image for every method and the per-image table (:mod:`.html`).

With ``with_runs`` (``structnoise report RUN_DIR --with OTHER``) the cells of the other
run folders are merged in (:mod:`.compare`: refused when profiles, data or metric
conventions differ): ``results_merged.parquet``/``.csv`` hold the merged table with a
``run`` column, and every report above is drawn from it. Only ``RUN_DIR`` is written to;
its own ``results.parquet``/``.csv`` are left as they are, and a later ``report`` without
``--with`` draws the reports from the run alone again.

A figure without data in the run is skipped with a message, never an error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from structnoise.benchmark.choices import Status
from structnoise.benchmark.compare import describe_runs, merge_runs, write_merged_table
from structnoise.benchmark.curves import plot_curves
from structnoise.benchmark.evidence import Evidence, gather
from structnoise.benchmark.html import write_html
from structnoise.benchmark.plots import (
    plot_grid,
    plot_noise_reconstruction,
    plot_rf_ablation,
)
from structnoise.benchmark.results import read_table
from structnoise.benchmark.runfolder import (
    PROVENANCE_FILE,
    REPORT_JSON,
    RUN_MARKER,
    TABLE1_MD,
    example_path,
    is_run_folder,
    noise_sample_relpath,
    read_json,
    read_records,
    safe_name,
    unreadable_records,
    write_json,
    write_text,
)
from structnoise.benchmark.tables import build_table1, final_rows
from structnoise.metrics import get_metric, metric_order
from structnoise.utils import atomic_path, remove_stale_temps

#: At most this many method panels in a Fig. 3 grid.
MAX_GRID_PANELS = 12


def _fig5_from_models(run_dir: Path, records: list[dict], echo) -> list[dict]:
    """Sample noise from saved models that have no noise sample yet (report time)."""
    from structnoise.methods import load

    done = []
    for rec in records:
        if rec.get("noise_sample_path") or not rec.get("model_path"):
            continue
        example = example_path(run_dir, rec["dataset"])
        rel = noise_sample_relpath(rec["cell_id"])
        if (run_dir / rel).exists():  # sampled by an earlier report
            done.append(dict(rec, noise_sample_path=str(rel)))
            continue
        if not example.exists():
            continue
        try:
            model = load(run_dir / rec["model_path"])
            if not hasattr(model, "sample_noisy"):
                continue
            data = np.load(example)
            sampled = np.asarray(model.sample_noisy(data["noisy"], seed=int(rec["cell_seed"])))
        except Exception as exc:
            if echo:
                echo(f"could not sample noise from {rec['model_path']}: {exc}")
            continue
        arrays = {k: data[k] for k in data.files}
        arrays["sampled"] = sampled
        with atomic_path(run_dir / rel) as tmp:
            np.savez_compressed(tmp, **arrays)
        rec = dict(rec, noise_sample_path=str(rel))
        done.append(rec)
    return done


def report(
    run_dir: str | os.PathLike,
    *,
    echo: Callable[[str], None] | None = print,
    with_runs: Sequence[str | os.PathLike] = (),
) -> dict[str, list[Path] | str]:
    """Write Table 1 and every figure the run has data for.

    Parameters
    ----------
    run_dir : path-like
        A folder written by ``structnoise run``.
    echo : callable, optional
        Where to print messages (``None``: silent).
    with_runs : sequence of path-like
        Other run folders whose cells are merged in (only read; see :mod:`.compare`).

    Returns
    -------
    dict
        ``{"table1": [...], "fig4": [...] or reason, "fig5": [...], "fig3": [...],
        "report": [...], "html": [...], "skipped": [reasons]}``, and for a comparison
        ``"merged_table": [...]``, ``"compared": [runs]`` and ``"dropped": [cells]``.

    Raises
    ------
    structnoise.benchmark.compare.CompareError
        If a ``with_runs`` folder cannot be compared with the run (one-line reason).
    """
    run_dir = Path(run_dir)
    say = echo or (lambda _msg: None)
    out: dict = {"skipped": []}
    if is_run_folder(run_dir):  # what an interrupted run or report left half-written
        remove_stale_temps(run_dir)
    # ---- the table: the run's own, or merged with other runs (structnoise report --with)
    merged = None
    if with_runs:
        merged = merge_runs(run_dir, list(with_runs))
        table = merged.table
        out["merged_table"] = write_merged_table(run_dir, table)
        out["compared"], out["dropped"] = describe_runs(merged), merged.dropped
    else:
        table = read_table(run_dir)
    if table.empty:
        raise ValueError(f"{run_dir}: the results table is empty (no cell has finished yet)")

    # ---- Table 1
    t1 = build_table1(table)
    md = t1.markdown + ("\n" + t1.ranking if t1.ranking else "")
    md += "\n" + t1.claims if t1.claims else ""
    out["table1"] = [
        write_text(run_dir / TABLE1_MD, md),
        write_text(run_dir / "table1.tex", t1.latex),
    ]
    summary = pd.concat(
        [t.drop(columns=["best"]).assign(metric=m) for m, t in t1.summaries.items()],
        ignore_index=True,
    )
    with atomic_path(run_dir / "table1.csv") as tmp:
        summary.to_csv(tmp, index=False)
    out["table1"].append(run_dir / "table1.csv")

    # ---- quality-vs-compute curves
    curves = plot_curves(table, run_dir)
    out["curves"] = curves if isinstance(curves, list) else []
    if isinstance(curves, str):
        out["skipped"].append(curves)

    # ---- Fig. 4
    fig4 = plot_rf_ablation(table, run_dir / "fig4_rf")
    out["fig4"] = fig4
    if isinstance(fig4, str):
        out["skipped"].append(fig4)

    all_records = merged.records if merged else read_records(run_dir)
    for bad in unreadable_records(run_dir):
        out["skipped"].append(
            f"{bad.relative_to(run_dir)} cannot be read (damaged or edited), its cell is "
            "left out of the figures: delete it and run `structnoise run` on this folder "
            "again to re-run that cell"
        )
    records = [all_records[c] for c in dict.fromkeys(table["cell_id"]) if c in all_records]

    # ---- Fig. 5
    out["fig5"] = []
    ok = [r for r in records if r.get("status") == Status.OK]
    with_samples = [r for r in ok if r.get("noise_sample_path")]
    with_samples += _fig5_from_models(run_dir, [r for r in ok if "_root" not in r], say)
    for rec in with_samples:
        path = _root(rec, run_dir) / rec["noise_sample_path"]
        if not path.exists():
            continue
        name = f"{safe_name(rec['dataset'])}_{safe_name(rec['label'])}_s{rec['seed']}"
        stem = run_dir / f"fig5_{name}"
        result = plot_noise_reconstruction(
            path, stem, title=f"{rec['label']} on {rec['dataset']} (seed {rec['seed']})"
        )
        if isinstance(result, str):
            out["skipped"].append(result)
        else:
            out["fig5"].extend(result)
    if not out["fig5"]:
        out["skipped"].append(
            "Fig. 5 skipped: no cell sampled noise from a fitted model (set sample_noise "
            "or save_model on a DVLAE method in the config)"
        )

    # ---- Fig. 3
    out["fig3"] = []
    first_seed = min(table["seed"]) if len(table) else 0
    for dataset in dict.fromkeys(table["dataset"]):
        example = next(
            (p for p in (example_path(r, dataset) for r in _roots(run_dir, records)) if p.exists()),
            example_path(run_dir, dataset),
        )
        panels = []
        for rec in records:
            if (
                rec["dataset"] == dataset
                and rec.get("status") == Status.OK
                and rec.get("seed") == first_seed
                and rec.get("denoised_path")
                and rec["method"] != "noisy"
                and (_root(rec, run_dir) / rec["denoised_path"]).exists()
            ):
                panels.append(
                    (
                        rec["label"],
                        _root(rec, run_dir) / rec["denoised_path"],
                        rec.get("metrics", {}).get("psnr", math.nan),
                    )
                )
        if not example.exists() or not panels:
            why = (
                f"no example image (examples/{example.name} is missing)"
                if not example.exists()
                else "no denoised images of its cells (save_denoised) in the run"
            )
            out["skipped"].append(f"Fig. 3 grid skipped for {dataset}: {why}")
            for old in run_dir.glob(f"fig3_{safe_name(dataset)}.*"):  # not this run's any more
                old.unlink(missing_ok=True)
            continue
        result = plot_grid(
            example,
            panels[:MAX_GRID_PANELS],
            run_dir / f"fig3_{safe_name(dataset)}",
            title=f"{dataset}: first test image (seed {first_seed})",
        )
        if isinstance(result, str):
            out["skipped"].append(result)
        else:
            out["fig3"].extend(result)

    # ---- plateau verdicts, paired comparison, Fig. 5 numbers, protocol (:mod:`.evidence`)
    evidence = gather(table, records, run_dir, plateau=t1.plateau)

    # ---- report.md
    out["report"] = [
        write_text(run_dir / "report.md", _report_md(run_dir, table, md, out, evidence))
    ]
    out["html"] = [
        write_html(
            run_dir,
            table,
            records,
            out,
            compared=out.get("compared"),
            dropped=out.get("dropped"),
            sections=evidence.html_sections(),
            untrained={(v.dataset, v.label) for v in t1.plateau if not v.trained},
        )
    ]
    write_json(
        run_dir / REPORT_JSON,
        {
            k: ([str(p) if isinstance(p, Path) else p for p in v] if isinstance(v, list) else v)
            for k, v in out.items()
        },
    )
    for msg in out["skipped"] + out.get("dropped", []):
        say(msg)
    return out


def _root(rec: dict, run_dir: Path) -> Path:
    """The folder a record's relative paths start from (another run's, when merged)."""
    return Path(rec.get("_root") or run_dir)


def _roots(run_dir: Path, records: list[dict]) -> list[Path]:
    return list(dict.fromkeys([Path(run_dir), *(_root(r, run_dir) for r in records)]))


def _report_md(
    run_dir: Path,
    table: pd.DataFrame,
    table1_md: str,
    out: dict,
    evidence: Evidence | None = None,
) -> str:
    meta = read_json(run_dir / RUN_MARKER)
    prov = read_json(run_dir / PROVENANCE_FILE)
    git = prov.get("git", {})
    machine = prov.get("machine", {})
    calls = prov.get("calls", [])
    wall = sum(c.get("wall_s") or 0 for c in calls)
    profile = ", ".join(sorted(set(table["profile"])))
    counts = table.drop_duplicates("cell_id")["status"].value_counts()
    cores = machine.get("cpu_affinity", machine.get("cpu_count", "?"))
    gpus = f", GPUs: {', '.join(machine['gpus'])}" if machine.get("gpus") else ", no GPU"
    lines = [
        f"# Benchmark report: {meta.get('run_id', run_dir.name)}",
        "",
        f"- profile: {profile}; cells: {table['cell_id'].nunique()} "
        f"({', '.join(f'{k} {v}' for k, v in counts.items())})",
        f"- code: commit {git.get('commit') or 'unknown'}"
        + (" (uncommitted changes)" if git.get("dirty") else ""),
        f"- machine: {machine.get('processor', '?')}, {cores} CPU cores, "
        f"{machine.get('memory_gb', '?')} GB{gpus}",
        f"- wall time of the run command(s): {wall / 60:.1f} min",
        "",
    ]
    if out.get("compared"):
        lines += ["## Runs compared (the table's `run` column)", ""]
        lines += [
            f"- `{c['run']}`: {c['path']}, run {c['run_id']}, commit {c['commit'] or 'unknown'}"
            f", {c['cells']} cells"
            for c in out["compared"]
        ]
        lines.append("")
    lines += [
        "## Table 1",
        "",
        table1_md,
        "",
    ]
    sections = evidence.markdown_sections() if evidence else {}
    fig5_numbers = sections.pop("Fig. 5 as numbers: sampled against real noise", "")
    for title, text in sections.items():
        lines += [f"## {title}", "", text]
    for key, title in (
        ("curves", "Quality against training time"),
        ("fig4", "Fig. 4: receptive field"),
        ("fig5", "Fig. 5: noise reconstruction"),
        ("fig3", "Fig. 3: examples"),
    ):
        files = out.get(key)
        if isinstance(files, list) and files:
            lines += [f"## {title}", ""]
            lines += [f"![{p.stem}]({p.name})" for p in files if p.suffix == ".png"]
            lines.append("")
        if key == "fig5" and fig5_numbers:
            lines += ["## Fig. 5 as numbers: sampled against real noise", "", fig5_numbers]
    if out["skipped"]:
        lines += ["## Not drawn", ""] + [f"- {m}" for m in out["skipped"]] + [""]
    final = final_rows(table)
    first = get_metric((metric_order(final["metric"]) or ["psnr"])[0])  # the table's column
    cells = final[final["metric"] == first.name].drop_duplicates("cell_id")
    if cells.empty:
        cells = final.drop_duplicates("cell_id")
    short = cells[cells["short"].fillna(False).astype(bool)] if "short" in cells else cells[:0]
    if len(short):
        lines += [
            "## Stopped short of their step budget",
            "",
            *(
                f"- {r.label} on {r.dataset}, seed {r.seed}: {_i(r.steps)} of "
                f"{_i(r.max_steps)} steps ({r.stopped_by})"
                for r in short.itertuples()
            ),
            "",
        ]
    lines += [
        "## Cells",
        "",
        f"| method | dataset | seed | status | {first.title} | steps | budget | stopped by | "
        "train CPU s "
        "| train s | threads | fit s | denoise s | peak RSS MB | device |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
        "| --- |",
    ]
    for r in cells.itertuples():
        value = "" if pd.isna(r.value) else f"{r.value:.{first.decimals}f}"
        status = r.status if r.status == Status.OK else f"{r.status}: {r.reason[:80]}"
        flag = " (short)" if getattr(r, "short", False) is True else ""
        lines.append(
            f"| {r.label} | {r.dataset} | {r.seed} | {status} | {value} | "
            f"{_i(getattr(r, 'steps', None))}{flag} | {_i(getattr(r, 'max_steps', None))} | "
            f"{getattr(r, 'stopped_by', '') or ''} | {_f(getattr(r, 'train_cpu_s', None), 0)} | "
            f"{_f(getattr(r, 'train_wall_s', None), 0)} | {_i(getattr(r, 'threads', None))} | "
            f"{_f(r.fit_s)} | {_f(r.denoise_s)} | {_f(r.peak_rss_mb, 0)} | {r.device} |"
        )
    return "\n".join(lines) + "\n"


def _i(x) -> str:
    return "" if x is None or pd.isna(x) else str(int(x))


def _f(x, decimals: int = 1) -> str:
    return "" if x is None or pd.isna(x) else f"{x:.{decimals}f}"
