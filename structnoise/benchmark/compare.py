"""Merge the cells of several run folders: ``structnoise report RUN_DIR --with OTHER``.

A method developer runs only a new method and puts it beside a committed reference run
instead of re-running the reference's methods. :func:`merge_runs` reads the results
table and the cell records of ``RUN_DIR`` and of every ``--with`` folder and returns one
table with a ``run`` column (the folder's name) saying where each row came from. Only
``RUN_DIR`` is written to (by :func:`structnoise.benchmark.report.report`); the other
folders are only read, so they may be committed or read-only.

Runs are comparable only when their numbers mean the same; otherwise a
:class:`CompareError` names the first difference in one line:

* **profile**: every run must hold the same set of profiles (``smoke``, ``quick``,
  ``paper``);
* **data**: a dataset name present in two runs must hold the same test data: the same
  ``dataset_fingerprint`` of the cell records where both runs record one, else the same
  number of test images scored;
* **metric conventions**: a metric scored in two runs must follow the same convention
  (the records' ``metric_convention``, e.g. ``psnr=paper-v1;ssim=skimage-v1``; records
  without one used ``psnr=paper-v1``). A metric that only one run scored is no conflict:
  the other run's rows simply lack it.

A cell present in several runs (same method, parameters, dataset and seed) is kept once:
the one of the first folder in the order ``RUN_DIR``, then the ``--with`` folders as
given; the left-out cells are listed in :attr:`Merged.dropped`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from structnoise.benchmark.choices import Status
from structnoise.benchmark.results import read_table
from structnoise.benchmark.runfolder import RUN_MARKER, is_run_folder, read_json, read_records
from structnoise.utils import atomic_path

#: The convention of records written before conventions were recorded.
DEFAULT_CONVENTION = "psnr=paper-v1"
#: Suffix of the merged table's files (``results_merged.parquet`` / ``.csv``).
MERGED_STEM = "results_merged"


class CompareError(ValueError):
    """Runs that cannot be put in one table; the message is one line."""


@dataclass
class RunSource:
    """One run folder of a comparison.

    Attributes
    ----------
    label : str
        The value of the merged table's ``run`` column (the folder's name, made unique).
    shown : str
        The folder as reports name it: as given when relative, else its name (reports
        never hold a machine's absolute paths).
    path : pathlib.Path
        The folder as given (what error messages name).
    run_id : str
        The id in its ``run.json``.
    table : pandas.DataFrame
        Its results table.
    records : dict
        Its cell records listed in the table, by cell id.
    """

    label: str
    shown: str
    path: Path
    run_id: str
    table: pd.DataFrame
    records: dict[str, dict] = field(default_factory=dict)


@dataclass
class Merged:
    """The merged table and records of several runs.

    Attributes
    ----------
    table : pandas.DataFrame
        The rows of every kept cell, ``RUN_DIR``'s columns first, then columns only the
        other runs have, then ``run``.
    records : dict
        ``{cell_id: record}`` of the kept cells; each record holds ``_root``, the folder
        its relative paths (denoised images, noise samples, models) start from, and
        ``_run``, its run label.
    runs : list of RunSource
        ``RUN_DIR`` first.
    dropped : list of str
        One line per cell left out because an earlier folder has it.
    """

    table: pd.DataFrame
    records: dict[str, dict]
    runs: list[RunSource]
    dropped: list[str]


def _shown(path: str | os.PathLike) -> str:
    p = Path(path)
    return p.as_posix() if not p.is_absolute() else (p.resolve().name or p.as_posix())


def _source(path: str | os.PathLike, label: str) -> RunSource:
    folder = Path(path)
    if not folder.is_dir() or not is_run_folder(folder):
        raise CompareError(
            f"{path} is not a structnoise run folder (it has no {RUN_MARKER} with a run_id)"
        )
    table = read_table(folder)
    cells = set(table["cell_id"])
    records = {cid: rec for cid, rec in read_records(folder).items() if cid in cells}
    run_id = read_json(folder / RUN_MARKER)["run_id"]
    return RunSource(label, _shown(path), folder, run_id, table, records)


def _labels(paths: list[Path]) -> list[str]:
    out: list[str] = []
    for p in paths:
        base = p.resolve().name or "run"
        label, n = base, 2
        while label in out:
            label, n = f"{base}#{n}", n + 1
        out.append(label)
    return out


def parse_convention(text: str | None) -> dict[str, str]:
    """``"psnr=paper-v1;ssim=skimage-v1"`` as ``{"psnr": "paper-v1", "ssim": "skimage-v1"}``.

    A value may carry a description in brackets after its version, as
    :data:`structnoise.metrics.METRIC_CONVENTION` does (``paper-v1(data_range=...)``): the
    version before the bracket is what is compared.

    Parameters
    ----------
    text : str or None
        A record's ``metric_convention`` (None or empty: :data:`DEFAULT_CONVENTION`).

    Returns
    -------
    dict
    """
    out = {}
    for item in (text or DEFAULT_CONVENTION).split(";"):
        name, _, value = item.strip().partition("=")
        if name:
            out[name.strip()] = value.split("(", 1)[0].strip()
    return out


def _conventions(src: RunSource) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rec in src.records.values():
        for metric, value in parse_convention(rec.get("metric_convention")).items():
            out.setdefault(metric, set()).add(value)
    return out


def _data_keys(src: RunSource) -> dict[str, tuple[set, set]]:
    """Per dataset: the fingerprints and the numbers of test images of its scored cells."""
    out: dict[str, tuple[set, set]] = {}
    for rec in src.records.values():
        if rec.get("status") != Status.OK or not rec.get("n_images"):
            continue
        fps, ns = out.setdefault(rec["dataset"], (set(), set()))
        if rec.get("dataset_fingerprint"):
            fps.add(str(rec["dataset_fingerprint"]))
        ns.add(int(rec["n_images"]))
    return out


def _fmt(values: set) -> str:
    return ", ".join(sorted(str(v) for v in values))


def check_comparable(first: RunSource, other: RunSource) -> None:
    """Refuse two runs whose numbers do not mean the same (see the module's rules).

    Parameters
    ----------
    first, other : RunSource
        ``RUN_DIR`` and one ``--with`` folder.

    Raises
    ------
    CompareError
        With a one-line reason naming both folders.
    """
    what = f"cannot compare {first.path} with {other.path}"
    pa, pb = set(first.table["profile"].dropna()), set(other.table["profile"].dropna())
    if pa and pb and pa != pb:  # a run without any cell yet has no profile to differ
        raise CompareError(f"{what}: different profiles ({_fmt(pa)} vs {_fmt(pb)})")
    da, db = _data_keys(first), _data_keys(other)
    for dataset in sorted(set(da) & set(db)):
        (fa, na), (fb, nb) = da[dataset], db[dataset]
        if fa and fb:
            if fa != fb:
                raise CompareError(
                    f"{what}: different data for {dataset} (fingerprint {_fmt(fa)} vs {_fmt(fb)})"
                )
        elif na != nb:
            raise CompareError(
                f"{what}: different data for {dataset} ({_fmt(na)} vs {_fmt(nb)} test images)"
            )
    ca, cb = _conventions(first), _conventions(other)
    for metric in sorted(set(ca) | set(cb)):
        for conv, src in ((ca, first), (cb, other)):
            if len(conv.get(metric, ())) > 1:
                raise CompareError(
                    f"{what}: {src.path} mixes metric conventions for {metric} "
                    f"({_fmt(conv[metric])})"
                )
        if metric in ca and metric in cb and ca[metric] != cb[metric]:
            raise CompareError(
                f"{what}: different metric conventions for {metric} "
                f"({_fmt(ca[metric])} vs {_fmt(cb[metric])})"
            )


def _identity(rec: dict) -> tuple:
    params = json.dumps(rec.get("params") or {}, sort_keys=True)
    return (rec["method"], params, rec["dataset"], int(rec["seed"]), rec.get("protocol") or "paper")


def _concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate tables whose columns differ: union of columns, first table's order."""
    columns: list[str] = []
    dtypes: dict[str, object] = {}
    for t in tables:
        for c in t.columns:
            if c not in dtypes:
                columns.append(c)
                dtypes[c] = t[c].dtype
    frames = [t.reindex(columns=columns) for t in tables if len(t)]
    if not frames:
        return pd.DataFrame(columns=columns)
    out = pd.concat(frames, ignore_index=True)
    if "final" in out.columns:  # tables written before curves had final rows only
        out["final"] = out["final"].astype("boolean").fillna(True).astype(bool)
    for c, dtype in dtypes.items():
        if c != "final" and isinstance(dtype, pd.api.extensions.ExtensionDtype):
            try:
                out[c] = out[c].astype(dtype)
            except (TypeError, ValueError):
                pass
    return out


def merge_runs(run_dir: str | os.PathLike, others: list[str | os.PathLike]) -> Merged:
    """The cells of ``run_dir`` and of ``others`` in one table.

    Parameters
    ----------
    run_dir : path-like
        The run the report is written into.
    others : list of path-like
        Run folders to put beside it (only read).

    Returns
    -------
    Merged

    Raises
    ------
    CompareError
        If a folder is not a run folder, is ``run_dir`` itself or is given twice, or
        if two runs are not comparable (:func:`check_comparable`).
    FileNotFoundError
        If a folder holds no results table.
    """
    given = [run_dir, *others]
    paths = [Path(p) for p in given]
    seen = {paths[0].resolve()}
    for p, g in zip(paths[1:], given[1:], strict=True):
        if p.resolve() == paths[0].resolve():
            raise CompareError(f"--with {g} is the run folder itself")
        if p.resolve() in seen:
            raise CompareError(f"--with {g} is given twice")
        seen.add(p.resolve())
    sources = [_source(g, label) for g, label in zip(given, _labels(paths), strict=True)]
    for i, other in enumerate(sources[1:], start=1):
        for previous in sources[:i]:
            check_comparable(previous, other)

    kept: dict[tuple, str] = {}
    records: dict[str, dict] = {}
    tables, dropped = [], []
    for src in sources:
        keep_ids = []
        for cid in dict.fromkeys(src.table["cell_id"]):
            rec = src.records.get(cid)
            if rec is None:  # a table row without its record: keep the row as it is
                keep_ids.append(cid)
                continue
            ident = _identity(rec)
            if ident in kept or cid in records:
                dropped.append(
                    f"{rec['label']} on {rec['dataset']}, seed {rec['seed']}: kept the cell "
                    f"of {kept.get(ident, '?')}, left out the one of {src.label}"
                )
                continue
            kept[ident] = src.label
            records[cid] = dict(rec, _root=str(src.path), _run=src.label)
            keep_ids.append(cid)
        t = src.table[src.table["cell_id"].isin(keep_ids)].copy()
        t["run"] = src.label
        tables.append(t)
    table = _concat(tables)
    table = table[[c for c in table.columns if c != "run"] + ["run"]]
    return Merged(table=table, records=records, runs=sources, dropped=dropped)


def write_merged_table(run_dir: str | os.PathLike, table: pd.DataFrame) -> list[Path]:
    """Write the merged table as ``results_merged.parquet`` and ``.csv`` into ``run_dir``.

    Parameters
    ----------
    run_dir : path-like
        The run folder the comparison's reports go into.
    table : pandas.DataFrame
        :attr:`Merged.table`.

    Returns
    -------
    list of pathlib.Path
    """
    out = []
    for suffix in (".parquet", ".csv"):
        path = Path(run_dir) / f"{MERGED_STEM}{suffix}"
        with atomic_path(path) as tmp:
            if suffix == ".parquet":
                table.to_parquet(tmp, index=False)
            else:
                table.to_csv(tmp, index=False)
        out.append(path)
    return out


def describe_runs(merged: Merged) -> list[dict]:
    """One entry per run of a comparison, for ``report.json`` and the reports.

    Parameters
    ----------
    merged : Merged
        The comparison.

    Returns
    -------
    list of dict
        ``run`` (the table's label), ``run_id``, ``path`` (as given, never absolute),
        ``commit`` and ``cells`` (cells kept from it).
    """
    counts = merged.table.drop_duplicates("cell_id")["run"].value_counts()
    out = []
    for src in merged.runs:
        prov = read_json(src.path / "provenance.json")
        out.append(
            {
                "run": src.label,
                "run_id": src.run_id,
                "path": src.shown,
                "commit": (prov.get("git") or {}).get("commit"),
                "cells": int(counts.get(src.label, 0)),
            }
        )
    return out
