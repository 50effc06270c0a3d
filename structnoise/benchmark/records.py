"""A cell's record: the keys every record has, filled from its plan and its method.

Records are written to ``cells/<cell_id>.json`` (:mod:`.runfolder`) and are the source of
the results table (:mod:`.results`). The names follow one concept each from the plan to
the table: ``params`` (the grid parameters), ``method_kwargs`` (every parameter the
factory got), ``denoise_options``, ``max_minutes`` (the training budget);
``method_params`` is the method's own ``get_params()`` (defaults included).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from structnoise.benchmark.choices import Status
from structnoise.benchmark.runfolder import now

if TYPE_CHECKING:
    from structnoise.benchmark.cells import CellPlan
    from structnoise.benchmark.schema import RunConfig


def base_record(plan: CellPlan, cfg: RunConfig) -> dict[str, Any]:
    """The identity part of a cell's record, every other key empty.

    Parameters
    ----------
    plan : CellPlan
        The cell.
    cfg : RunConfig
        The configuration.

    Returns
    -------
    dict
    """
    cell = plan.cell
    return {
        "cell_id": plan.cell_id,
        "method": cell.method,
        "params": cell.params,
        "label": cell.label,
        "dataset": cell.dataset,
        "seed": cell.seed,
        "cell_seed": cell.cell_seed,
        "profile": cfg.profile,
        "method_kwargs": dict(plan.method_kwargs),
        "max_minutes": plan.max_minutes,
        "denoise_options": plan.denoise_options,
        "status": None,
        "reason": None,
        "metrics": {},
        "per_image": {},
        "n_images": 0,
        "fit_s": math.nan,
        "denoise_s": math.nan,
        "peak_rss_mb": math.nan,
        "peak_gpu_mb": None,
        "memory_method": None,
        "device": None,
        "started": None,
        "finished": None,
        "denoised_path": None,
        "model_path": None,
        "noise_sample_path": None,
        "fit_call": None,
        "method_params": None,
        "steps": None,
        "train_minutes": None,
        "stopped_by": None,
        "notes": [],
    }


def ended_record(plan: CellPlan, cfg: RunConfig, status: Status, reason: str) -> dict[str, Any]:
    """The record of a cell that did not run (``skipped``) or whose job died (``failed``).

    Parameters
    ----------
    plan : CellPlan
        The cell.
    cfg : RunConfig
        The configuration.
    status : Status
        How it ended.
    reason : str
        Why.

    Returns
    -------
    dict
    """
    rec = base_record(plan, cfg)
    rec.update(status=status, reason=reason, finished=now())
    return rec


def skipped_record(plan: CellPlan, cfg: RunConfig, reason: str) -> dict[str, Any]:
    """The record of a cell that could not run (see :func:`ended_record`)."""
    return ended_record(plan, cfg, Status.SKIPPED, reason)


def train_summary_fields(method) -> dict[str, Any]:
    """``steps``, ``train_minutes`` and ``stopped_by`` of a fitted method (None if unknown).

    Read from the method's ``train_summary`` (a
    :class:`~structnoise.methods.summary.TrainSummary` or its dict, also in the
    spellings of earlier versions).

    Parameters
    ----------
    method : Denoiser
        A fitted method.

    Returns
    -------
    dict
    """
    from structnoise.methods.summary import TrainSummary

    raw = getattr(method, "train_summary", None)
    summary = raw if isinstance(raw, TrainSummary) else TrainSummary.from_dict(raw)
    if summary is None:
        return {"steps": None, "train_minutes": None, "stopped_by": None}
    return {
        "steps": summary.steps,
        "train_minutes": summary.minutes,
        "stopped_by": summary.stopped_by.value,
    }
