"""``--executor slurm``: one job per cell, submitted as a job array through submitit.

Every job runs :func:`run_cell_job` (it reads the run's
``config.yaml``, runs its cell and writes the cell's record into ``cells/`` exactly as
the local executor does); this process waits, shows progress, and records a ``failed``
cell for a job that died without writing its record (time limit, out of memory, node
failure), with submitit's error. submitit's files (scripts, logs, pickles) go to
``RUN_DIR/submitit/``. ``slurm.cluster: local`` runs the jobs as local processes (tests).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from structnoise.benchmark.cells import CellPlan, plan_cells
from structnoise.benchmark.choices import Status
from structnoise.benchmark.config import load_config
from structnoise.benchmark.execute import execute_cell
from structnoise.benchmark.loading import load_for_run
from structnoise.benchmark.records import ended_record, skipped_record
from structnoise.benchmark.runfolder import (
    CONFIG_FILE,
    SUBMITIT_DIR,
    read_record,
    write_record,
)
from structnoise.benchmark.validation import import_plugins
from structnoise.interrupt import interruptible
from structnoise.threads import default_threads, env_threads, use_threads

#: Job time limit (minutes) for cells whose method has no budget (paper profile).
UNBOUNDED_TIME_MIN = 26 * 60


def job_time_min(cfg, todo: list[CellPlan]) -> int:
    """The array's time limit: the config's, else twice the longest budget + 15 min."""
    if cfg.slurm.time_min is not None:
        return int(cfg.slurm.time_min)
    worst = 0.0
    for plan in todo:
        if plan.max_minutes is None:
            if plan.info.learns:
                return UNBOUNDED_TIME_MIN
            continue
        worst = max(worst, plan.max_minutes)
    return int(2 * worst + 15)


def make_executor(cfg, run_dir: Path, todo: list[CellPlan]):
    """A configured ``submitit.AutoExecutor`` for the run's cells."""
    import submitit

    opts = cfg.slurm
    executor = submitit.AutoExecutor(folder=run_dir / SUBMITIT_DIR / "%j", cluster=opts.cluster)
    params = {
        "name": f"structnoise-{cfg.name}",
        "timeout_min": job_time_min(cfg, todo),
        "cpus_per_task": opts.cpus_per_task,
        "nodes": 1,
        "tasks_per_node": 1,
        "slurm_array_parallelism": opts.array_parallelism,
    }
    if opts.gpus_per_node:
        params["gpus_per_node"] = opts.gpus_per_node
    if opts.mem_gb is not None:
        params["mem_gb"] = opts.mem_gb
    if opts.partition:
        params["slurm_partition"] = opts.partition
    if opts.additional:
        params["slurm_additional_parameters"] = dict(opts.additional)
    executor.update_parameters(**params)
    return executor


def job_threads(cfg, todo: list[CellPlan], threads: int | None = None) -> int | None:
    """Threads of each job: ``threads``, else a share of the cores for local jobs.

    Jobs of ``cluster: local`` run side by side on this machine (up to
    ``array_parallelism`` at once), so each gets its share of the cores this process is
    given (or ``OMP_NUM_THREADS`` where set); a slurm job (None) counts the cores slurm
    gives it itself.
    """
    if threads is not None or cfg.slurm.cluster != "local":
        return threads
    at_once = min(cfg.slurm.array_parallelism, max(1, len(todo)))
    return env_threads() or default_threads(at_once)


def run_slurm(
    cfg,
    run_dir: Path,
    todo: list[CellPlan],
    bar,
    on_finish,
    poll_s: float = 2.0,
    threads: int | None = None,
):
    """Submit the cells as a job array and collect their records as they finish.

    Parameters
    ----------
    cfg : RunConfig
        The configuration.
    run_dir : pathlib.Path
        The run folder (already holding ``config.yaml``).
    todo : list of CellPlan
        Cells to run.
    bar : RunProgress
        Progress display.
    on_finish : callable
        ``on_finish(plan, record, seconds)`` for every finished cell.
    poll_s : float
        Seconds between status checks.
    threads : int, optional
        CPU threads of each job (see :func:`job_threads`).
    """
    executor = make_executor(cfg, run_dir, todo)
    run_dir = Path(run_dir).resolve()
    n = len(todo)
    each = job_threads(cfg, todo, threads)
    jobs = executor.map_array(
        run_cell_job, [str(run_dir)] * n, [p.cell_id for p in todo], [each] * n
    )
    bar.write(
        f"submitted {len(jobs)} job(s) ({jobs[0].job_id.split('_')[0] if jobs else '-'}); "
        f"logs in {run_dir / SUBMITIT_DIR}"
    )
    pending = dict(zip([p.cell_id for p in todo], zip(todo, jobs, strict=True), strict=True))
    t0 = time.perf_counter()
    try:
        while pending:
            finished = [cid for cid, (_, job) in pending.items() if job.done()]
            for cid in finished:
                plan, job = pending.pop(cid)
                rec = read_record(run_dir, cid)
                if rec is None:
                    try:
                        job.result()
                        error = "the job ended without writing the cell's record"
                    except Exception as exc:
                        error = f"job {job.job_id}: {type(exc).__name__}: {exc}"
                    rec = ended_record(plan, Status.FAILED, error[-2000:])
                spent = [rec.get("fit_s"), rec.get("denoise_s")]
                spent = [float(v) for v in spent if v is not None and v == v]
                on_finish(plan, rec, sum(spent) if spent else time.perf_counter() - t0)
            if pending:
                time.sleep(poll_s)
    except BaseException:
        if cfg.slurm.cluster == "local":  # this machine's processes: stop them too
            for _, job in pending.values():
                with contextlib.suppress(Exception):
                    job.cancel(check=False)
        raise


def run_cell_job(run_dir: str, cell_id: str, threads: int | None = None) -> str:
    """Run one cell of a prepared run folder (what each slurm job executes).

    Parameters
    ----------
    run_dir : str
        The run folder (its ``config.yaml`` describes the run).
    cell_id : str
        The cell to run.
    threads : int, optional
        CPU threads (None: :func:`structnoise.threads.use_threads` chooses from the
        cores the job is given).

    Returns
    -------
    str
        The cell's status.
    """
    use_threads(threads)
    with interruptible():  # a cancelled job records nothing (not a short "ok" cell)
        return _run_cell(Path(run_dir), cell_id)


def _run_cell(run_path: Path, cell_id: str) -> str:
    cfg = load_config(run_path / CONFIG_FILE)
    import_plugins(cfg.plugins)
    plan = {p.cell_id: p for p in plan_cells(cfg)}[cell_id]
    dataset, reason = load_for_run(cfg, plan.cell.dataset, run_path)
    if dataset is None:
        rec = skipped_record(plan, reason)
    else:
        rec = execute_cell(plan, dataset, run_path, progress=False)
    write_record(run_path, rec)
    return str(rec["status"])
