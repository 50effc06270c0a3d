"""The tidy results table of a run, and its provenance file.

One row per (cell, evaluation, metric), for every cell recorded in the run folder's ``cells/``,
including cells of earlier ``structnoise run`` calls with other methods, datasets or
seeds (:func:`table_records` says which record is listed when a cell was recorded
with other settings). ``results.parquet``, ``results.csv`` and the reports all use
this table. Columns:

========================  =====================================================
run_id                    the run (kept across restarts of the same folder)
cell_id                   the cell (method, params, dataset, seed, settings hash)
method, params, label     registered name, grid parameters (JSON), ``name[k=v]``
dataset, seed, cell_seed  dataset name, repetition, the seed the method got
profile                   smoke / quick / paper
metric, value             a metric of :data:`structnoise.metrics.METRICS` (e.g.
                          ``psnr``, dB) and its mean over the test images; NaN unless ok
n_images                  number of test images scored
fit_s, denoise_s          seconds spent in ``fit`` and ``denoise``
peak_rss_mb, peak_gpu_mb  peak memory of the cell (see :mod:`.memory`)
device                    where the method ran
status, reason            ``ok`` / ``failed`` (error) / ``skipped`` (why)
max_minutes               the training budget the cell had
method_kwargs             every parameter the method got (JSON, incl. axis, span)
denoise_options           options of ``denoise`` (JSON, e.g. n_samples)
finished                  UTC time the cell was recorded
steps, train_minutes      optimisation steps and minutes of training (learnt methods)
stopped_by                why training stopped: ``max_steps`` / ``time_budget`` /
                          ``early_stopping`` / ``completed`` (learnt methods)
mark_step                 the training step of this evaluation (the final one: the
                          steps done; empty for methods that do not train)
final                     True for the cell's final evaluation (what Table 1 uses);
                          False for a point of the quality-vs-compute curve
train_cpu_s, train_wall_s process CPU and wall seconds of training up to this
                          evaluation (evaluations at marks excluded)
max_steps                 the step budget (empty: a wall-clock budget or none)
threads                   torch's intra-op threads during the cell
short                     True when the cell stopped before its step budget
protocol                  ``paper`` / ``held-out``: which noisy images ``fit`` got
                          (:mod:`.protocols`)
========================  =====================================================

The columns are a public contract: a column is never renamed or removed, new ones are
added at the end.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from structnoise.benchmark.runfolder import (
    TABLE_CSV,
    TABLE_PARQUET,
    read_records,
)
from structnoise.metrics import METRICS
from structnoise.utils import atomic_path

COLUMNS = [
    "run_id",
    "cell_id",
    "method",
    "params",
    "label",
    "dataset",
    "seed",
    "cell_seed",
    "profile",
    "metric",
    "value",
    "n_images",
    "fit_s",
    "denoise_s",
    "peak_rss_mb",
    "peak_gpu_mb",
    "device",
    "status",
    "reason",
    "max_minutes",
    "method_kwargs",
    "denoise_options",
    "finished",
    "steps",
    "train_minutes",
    "stopped_by",
    "mark_step",
    "final",
    "train_cpu_s",
    "train_wall_s",
    "max_steps",
    "threads",
    "short",
    "protocol",
]


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


#: Keys every cell record has (other JSON files in ``cells/`` are ignored).
_RECORD_KEYS = ("cell_id", "method", "params", "label", "dataset", "seed", "cell_seed", "status")


def _identity(method: str, params: Any, dataset: str, seed: Any, protocol: Any = None) -> tuple:
    params = json.dumps(params or {}, sort_keys=True)
    return (method, params, dataset, int(seed), str(protocol or "paper"))


def table_records(records: dict[str, dict], plans) -> list[dict]:
    """The cell records a run's results table lists, in table order.

    Every recorded cell of the folder is listed: first the cells of ``plans`` (the
    configuration of the latest call) that have a record, in plan order, then the cells
    recorded by earlier calls (other methods, datasets or seeds), sorted by dataset,
    label and seed. One exception keeps one row per method, parameters, dataset and seed:
    an earlier record of the same method, parameters, dataset and seed as a planned
    cell but with other settings (profile, budget, denoise options, ``n_samples``,
    ``max_test_images``, base seed) is superseded by the planned cell and left out; of
    several such earlier records of a cell that is not planned, the last one finished is
    listed. Left-out records stay in ``cells/``.

    Parameters
    ----------
    records : dict
        ``{cell_id: record}`` (:func:`structnoise.benchmark.runfolder.read_records`).
    plans : list of CellPlan
        The cells of the current configuration.

    Returns
    -------
    list of dict
    """
    records = {
        cid: r
        for cid, r in records.items()
        if isinstance(r, dict) and all(k in r for k in _RECORD_KEYS)
    }
    planned_ids = {p.cell_id for p in plans}
    planned_keys = {
        _identity(
            p.cell.method, p.cell.params, p.cell.dataset, p.cell.seed, getattr(p, "protocol", None)
        )
        for p in plans
    }
    listed = [records[p.cell_id] for p in plans if p.cell_id in records]
    latest: dict[tuple, dict] = {}
    others = sorted(
        (r for cid, r in records.items() if cid not in planned_ids),
        key=lambda r: (str(r.get("finished") or ""), str(r.get("cell_id"))),
    )
    for rec in others:
        key = _identity(
            rec["method"], rec.get("params"), rec["dataset"], rec["seed"], rec.get("protocol")
        )
        if key not in planned_keys:
            latest[key] = rec  # the last one finished wins
    listed += sorted(
        latest.values(), key=lambda r: (str(r["dataset"]), str(r["label"]), int(r["seed"]))
    )
    return listed


def build_table(run_dir: Path, plans, run_id: str) -> pd.DataFrame:
    """The tidy table of every recorded cell of a run folder.

    Parameters
    ----------
    run_dir : pathlib.Path
        The run folder.
    plans : list of CellPlan
        The cells of the current configuration: listed first, in plan order; the cells
        recorded by earlier calls follow (see :func:`table_records` for the one case in
        which an earlier record is left out).
    run_id : str
        The run id.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`; one row per listed cell, evaluation (each mark during
        training and the final one) and metric.
    """
    rows = []
    for rec in table_records(read_records(run_dir), plans):
        common = _common_fields(rec, run_id)
        for point in _evaluations(rec):
            for metric in METRICS:
                row = dict(common)
                row.update(
                    metric=metric,
                    value=_num(point["metrics"].get(metric)),
                    mark_step=point["mark_step"],
                    final=point["final"],
                    train_cpu_s=_num(point.get("train_cpu_s")),
                    train_wall_s=_num(point.get("train_wall_s")),
                )
                rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("steps", "mark_step", "max_steps", "threads"):
        table[col] = table[col].astype("Int64")  # integers, missing where they do not apply
    table["final"] = table["final"].astype(bool)
    table["short"] = table["short"].astype("boolean")
    return table


def _evaluations(rec: dict) -> list[dict]:
    """The evaluations of a cell: its marks during training, then the final one."""
    points = [
        {
            "metrics": m.get("metrics", {}),
            "mark_step": m.get("mark_step"),
            "final": False,
            "train_cpu_s": m.get("train_cpu_s"),
            "train_wall_s": m.get("train_wall_s"),
        }
        for m in rec.get("marks") or []
    ]
    points.append(
        {
            "metrics": rec.get("metrics", {}),
            "mark_step": rec.get("steps"),
            "final": True,
            "train_cpu_s": rec.get("train_cpu_s"),
            "train_wall_s": rec.get("train_wall_s"),
        }
    )
    return points


def _common_fields(rec: dict, run_id: str) -> dict[str, Any]:
    """The columns a cell's rows share."""
    return {
        "run_id": run_id,
        "cell_id": rec["cell_id"],
        "method": rec["method"],
        "params": json.dumps(rec["params"], sort_keys=True),
        "label": rec["label"],
        "dataset": rec["dataset"],
        "seed": int(rec["seed"]),
        "cell_seed": int(rec["cell_seed"]),
        "profile": rec["profile"],
        "n_images": int(rec.get("n_images") or 0),
        "fit_s": _num(rec.get("fit_s")),
        "denoise_s": _num(rec.get("denoise_s")),
        "peak_rss_mb": _num(rec.get("peak_rss_mb")),
        "peak_gpu_mb": _num(rec.get("peak_gpu_mb")),
        "device": rec.get("device") or "",
        "status": rec["status"],
        "reason": rec.get("reason") or "",
        "max_minutes": _num(rec.get("max_minutes")),
        "method_kwargs": json.dumps(rec.get("method_kwargs", {}), sort_keys=True),
        "denoise_options": json.dumps(rec.get("denoise_options", {}), sort_keys=True),
        "finished": rec.get("finished") or "",
        "steps": rec.get("steps"),
        "train_minutes": _num(rec.get("train_minutes")),
        "stopped_by": rec.get("stopped_by") or "",
        "max_steps": rec.get("max_steps"),
        "threads": rec.get("threads"),
        "short": rec.get("short"),
        "protocol": rec.get("protocol") or "paper",
    }


def write_table(run_dir: Path, table: pd.DataFrame) -> None:
    """Write the table as parquet and CSV, each atomically."""
    with atomic_path(run_dir / TABLE_PARQUET) as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_path(run_dir / TABLE_CSV) as tmp:
        table.to_csv(tmp, index=False)


def read_table(run_dir: str | os.PathLike) -> pd.DataFrame:
    """Read a run's results table (parquet, else CSV).

    Parameters
    ----------
    run_dir : path-like
        The run folder.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    FileNotFoundError
        If the folder holds no results table.
    """
    run_dir = Path(run_dir)
    if (run_dir / TABLE_PARQUET).is_file():
        return pd.read_parquet(run_dir / TABLE_PARQUET)
    if (run_dir / TABLE_CSV).is_file():
        return pd.read_csv(run_dir / TABLE_CSV)
    raise FileNotFoundError(
        f"{run_dir} holds no results table ({TABLE_PARQUET} or {TABLE_CSV}); "
        "is it a folder written by `structnoise run`?"
    )
