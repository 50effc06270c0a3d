"""Run every cell of a benchmark, record each one atomically, resume after interruption.

:func:`run` validates the configuration, prepares the run folder (:mod:`.runfolder`),
plans the cells (:mod:`.cells`), runs those not yet recorded, locally one after another
(:func:`structnoise.benchmark.execute.execute_cell`, which documents how a cell calls its
method) or as slurm jobs (:mod:`.slurm`), and writes the results table
(:mod:`.results`) and the reports (:mod:`.report`).

Each finished cell is written to ``RUN_DIR/cells/<cell_id>.json`` atomically; a restart
with the same configuration reuses every recorded cell (``retry=True`` re-runs the failed
and skipped ones). The table (``results.parquet``/``results.csv``) is rebuilt from the
records after every cell, so it never holds duplicate rows; it lists every recorded cell
of the folder, also those of earlier calls with other methods (see
:func:`structnoise.benchmark.results.table_records`).

A run folder is marked by ``run.json`` (with the run id, written first); ``run`` refuses
an output folder that is neither empty nor a run folder (:func:`check_run_folder`), and
keeps an earlier, different ``config.yaml`` as ``config.<n>.yaml``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from structnoise.benchmark.cells import CellPlan, plan_cells
from structnoise.benchmark.choices import Executor, Status
from structnoise.benchmark.config import load_config
from structnoise.benchmark.execute import execute_cell
from structnoise.benchmark.loading import load_dataset, load_for_run
from structnoise.benchmark.progress import RunProgress
from structnoise.benchmark.records import skipped_record
from structnoise.benchmark.runfolder import (
    check_run_folder,
    prepare_run_dir,
    read_records,
    write_provenance,
    write_record,
)
from structnoise.benchmark.schema import RunConfig
from structnoise.benchmark.validation import import_plugins, validate_names
from structnoise.threads import use_threads

#: The statuses of a cell record, in the order the run's counts list them.
STATUSES = tuple(Status)


@dataclass
class RunResult:
    """What :func:`run` returns.

    Attributes
    ----------
    run_dir : pathlib.Path
        The run folder.
    run_id : str
        The run's id (kept across restarts).
    table : pandas.DataFrame
        The tidy results table.
    counts : dict
        Number of cells per status, plus ``reused`` (recorded before this call).
    wall_s : float
        Seconds this call took.
    reports : dict
        Paths written by the report (empty when ``report`` is off).
    """

    run_dir: Path
    run_id: str
    table: Any
    counts: dict[str, int]
    wall_s: float
    reports: dict


def run(
    config: RunConfig | str | Path | dict,
    *,
    progress: bool = True,
    retry: bool = False,
    threads: int | None = None,
    **overrides: Any,
) -> RunResult:
    """Run a benchmark: every cell of ``config``, resuming what an earlier call recorded.

    Parameters
    ----------
    config : RunConfig, str, path or dict
        A configuration, or anything :func:`load_config` reads.
    progress : bool
        Show run and cell progress on stderr.
    retry : bool
        Re-run cells recorded as ``failed`` or ``skipped`` (finished ``ok`` cells are
        always reused).
    threads : int, optional
        CPU threads of each cell (default: :func:`structnoise.threads.use_threads`'s
        choice; the slurm executor's local jobs divide the cores among them).
    **overrides
        Configuration keys to replace (as the CLI flags do).

    Returns
    -------
    RunResult

    Raises
    ------
    ConfigError
        For an invalid configuration or unknown method/dataset names (before any cell
        runs). Dataset names, and method names when the config lists no plugins, are
        checked before the plugins are imported.
    RunFolderError
        If the output folder is not empty and is not a run folder (checked before the
        plugins are imported; nothing is written).

    Notes
    -----
    The config's ``plugins`` are imported, i.e. run, as Python code: a configuration
    (and a run folder's ``config.yaml``) is to be trusted like a script.
    """
    from structnoise.benchmark.results import build_table, write_table

    t_start = time.perf_counter()
    if isinstance(config, RunConfig):
        cfg = config.with_overrides(**overrides) if overrides else config
    else:
        cfg = load_config(config, **overrides)
    # names that do not depend on the plugins, and the output folder, are checked
    # before any plugin code runs
    validate_names(cfg, before_plugins=True)
    check_run_folder(cfg.out_dir)
    import_plugins(cfg.plugins)
    validate_names(cfg)
    plans = plan_cells(cfg)
    notes: list = []
    run_dir, run_id = prepare_run_dir(cfg, echo=notes.append)
    write_provenance(run_dir, cfg, run_id, finished=False)

    records = read_records(run_dir)
    keep = (Status.OK,) if retry else STATUSES
    done = {p.cell_id for p in plans if records.get(p.cell_id, {}).get("status") in keep}
    done -= changed_cells(cfg, [p for p in plans if p.cell_id in done], records, notes.append)
    todo = [p for p in plans if p.cell_id not in done]
    bar = RunProgress(plans, done, progress)
    for msg in notes:
        bar.write(msg)
    if done:
        bar.write(f"resuming {run_dir}: {len(done)} of {len(plans)} cells already recorded")

    def on_finish(plan: CellPlan, rec: dict, seconds: float) -> None:
        write_record(run_dir, rec)
        bar.finish(plan, rec, seconds)
        write_table(run_dir, build_table(run_dir, plans, run_id))

    try:
        if cfg.executor == Executor.SLURM and todo:
            from structnoise.benchmark.slurm import run_slurm  # submitit's job arrays

            run_slurm(cfg, run_dir, todo, bar, on_finish, threads=threads)
        else:
            use_threads(threads)
            _run_local(cfg, run_dir, plans, todo, bar, on_finish, progress)
    finally:
        bar.close()

    table = build_table(run_dir, plans, run_id)
    write_table(run_dir, table)
    write_provenance(run_dir, cfg, run_id, finished=True, wall_s=time.perf_counter() - t_start)
    final = read_records(run_dir)
    counts = {
        s.value: sum(final.get(p.cell_id, {}).get("status") == s for p in plans) for s in STATUSES
    }
    counts["reused"] = len(done)
    reports: dict = {}
    if cfg.report:
        from structnoise.benchmark.report import report

        try:
            reports = report(run_dir, echo=bar.write if progress else None)
        except Exception as exc:  # the results are safe; say so rather than crash
            msg = f"the reports failed ({type(exc).__name__}: {exc}); the results table is "
            msg += f"complete: run `structnoise report {run_dir}` after fixing the cause"
            print(msg, file=sys.stderr)
            reports = {"error": msg}
    return RunResult(run_dir, run_id, table, counts, time.perf_counter() - t_start, reports)


def changed_cells(cfg, plans: list[CellPlan], records: dict, echo) -> set[str]:
    """The recorded cells whose data or settings are no longer those of this run.

    A record keeps its dataset's fingerprint (:func:`~.records.dataset_fingerprint`) and
    its method's settings; each dataset with recorded cells is loaded (one at a time)
    and fingerprinted again, and every cell whose data or settings changed is re-run
    (its record replaced). A dataset that cannot be loaded now is not checked (its
    cells are then skipped or re-run when they are).

    Parameters
    ----------
    cfg : RunConfig
        The configuration.
    plans : list of CellPlan
        The cells that have a record this run would reuse.
    records : dict
        ``{cell_id: record}``.
    echo : callable
        Where to say which cells are re-run and why.

    Returns
    -------
    set of str
        The ids of the cells to run again.
    """
    from structnoise.benchmark.records import dataset_fingerprint, settings_changed

    changed: set[str] = set()
    for plan in plans:
        why = settings_changed(plan, records[plan.cell_id])
        if why is not None:
            changed.add(plan.cell_id)
            echo(f"re-running {plan.cell_id}: its {why} changed since it was recorded")
    by_dataset: dict[str, list[CellPlan]] = {}
    for plan in plans:
        if records[plan.cell_id].get("dataset_fingerprint") and plan.cell_id not in changed:
            by_dataset.setdefault(plan.cell.dataset, []).append(plan)
    for name, cells in by_dataset.items():
        try:
            now = dataset_fingerprint(load_dataset(cfg, name))
        except Exception:  # noqa: BLE001 - unavailable now: its cells say so when they run
            continue
        stale = [p for p in cells if records[p.cell_id]["dataset_fingerprint"] != now]
        if stale:
            changed.update(p.cell_id for p in stale)
            echo(
                f"re-running {len(stale)} cell(s) of dataset {name!r}: its test images "
                f"changed since they were recorded (fingerprint "
                f"{records[stale[0].cell_id]['dataset_fingerprint']}, now {now})"
            )
    return changed


def _run_local(cfg, run_dir, plans, todo, bar, on_finish, progress) -> None:
    """Run the cells one after another in this process, one dataset in memory at a time."""
    current_name, current, reason = None, None, None
    index = {p.cell_id: i + 1 for i, p in enumerate(plans)}
    for plan in todo:
        if plan.cell.dataset != current_name:
            current_name = plan.cell.dataset
            current, reason = load_for_run(cfg, current_name, run_dir)
        bar.start(index[plan.cell_id], plan)
        t0 = time.perf_counter()
        if current is None:
            rec = skipped_record(plan, reason or "dataset unavailable")
        else:
            rec = execute_cell(plan, current, run_dir, progress=progress)
        on_finish(plan, rec, time.perf_counter() - t0)
