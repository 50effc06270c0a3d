"""A cell's record: the keys every record has, filled from its plan and its method.

Records are written to ``cells/<cell_id>.json`` (:mod:`.runfolder`) and are the source of
the results table (:mod:`.results`). The names follow one concept each from the plan to
the table: ``params`` (the grid parameters), ``method_kwargs`` (every parameter the
factory got), ``denoise_options``, ``max_minutes`` (the training budget);
``method_params`` is the method's own ``get_params()`` (defaults included).

What a learnt cell's record says of its training: ``max_steps`` (the step budget, if
any), ``steps`` and ``stopped_by`` (from the method's ``train_summary``), ``short``
(stopped before its step budget), ``train_cpu_s`` and ``train_wall_s`` (process CPU and
wall seconds of ``fit``, evaluations at marks excluded), ``threads`` (torch's intra-op
threads), ``load_before`` / ``load_after`` (the machine's 1-minute load average), and
``marks``: one entry per evaluation during training (``mark_step``, ``steps``,
``train_cpu_s``, ``train_wall_s``, ``metrics``, ``per_image``).
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any

from structnoise.benchmark.choices import Status
from structnoise.benchmark.runfolder import now
from structnoise.metrics import METRIC_CONVENTION

if TYPE_CHECKING:
    from structnoise.benchmark.cells import CellPlan


def base_record(plan: CellPlan) -> dict[str, Any]:
    """The identity part of a cell's record, every other key empty.

    Parameters
    ----------
    plan : CellPlan
        The cell.

    Returns
    -------
    dict
    """
    cell = plan.cell
    return {
        "cell_id": plan.cell_id,
        "method": cell.method,
        "params": cell.params,
        "label": getattr(plan, "label", cell.label),
        "protocol": getattr(plan, "protocol", "paper"),
        "dataset": cell.dataset,
        "seed": cell.seed,
        "cell_seed": cell.cell_seed,
        "profile": plan.profile,
        "method_kwargs": dict(plan.method_kwargs),
        "max_minutes": plan.max_minutes,
        "max_steps": plan.max_steps,
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
        "short": None,
        "train_cpu_s": None,
        "train_wall_s": None,
        "threads": None,
        "load_before": None,
        "load_after": None,
        "marks": [],
        "metric_convention": METRIC_CONVENTION,
        "dataset_fingerprint": None,
        "notes": [],
    }


def ended_record(plan: CellPlan, status: Status, reason: str) -> dict[str, Any]:
    """The record of a cell that did not run (``skipped``) or whose job died (``failed``).

    Parameters
    ----------
    plan : CellPlan
        The cell.
    status : Status
        How it ended.
    reason : str
        Why.

    Returns
    -------
    dict
    """
    rec = base_record(plan)
    rec.update(status=status, reason=reason, finished=now())
    return rec


def skipped_record(plan: CellPlan, reason: str) -> dict[str, Any]:
    """The record of a cell that could not run (see :func:`ended_record`)."""
    return ended_record(plan, Status.SKIPPED, reason)


def train_summary_fields(method) -> dict[str, Any]:
    """``steps``, ``train_minutes`` and ``stopped_by`` of a fitted method (None if unknown).

    Read from the method's ``train_summary`` (a
    :class:`~structnoise.methods.summary.TrainSummary` or its dict, also in the
    older spellings that saved models hold).

    Parameters
    ----------
    method : Denoiser
        A fitted method.

    Returns
    -------
    dict
    """
    from structnoise.methods import TrainSummary

    raw = getattr(method, "train_summary", None)
    summary = raw if isinstance(raw, TrainSummary) else TrainSummary.from_dict(raw)
    if summary is None:
        return {"steps": None, "train_minutes": None, "stopped_by": None}
    return {
        "steps": summary.steps,
        "train_minutes": summary.minutes,
        "stopped_by": summary.stopped_by.value,
    }


def is_short(rec: dict[str, Any], plan: CellPlan) -> bool | None:
    """Whether a cell with a step budget stopped before it (None: no step budget).

    Parameters
    ----------
    rec : dict
        The record, with ``steps`` filled in.
    plan : CellPlan
        The cell (``max_steps``).

    Returns
    -------
    bool or None
    """
    budget = plan.max_steps
    if budget is None:
        return None
    steps = rec.get("steps")
    return steps is None or int(steps) < int(budget)


def dataset_fingerprint(dataset) -> str:
    """A short sha256 of a dataset's test images: runs compared must share it.

    Parameters
    ----------
    dataset : NoisyDataset
        The loaded dataset (``test_noisy`` and, if any, ``test_clean``).

    Returns
    -------
    str
        16 hex digits.
    """
    import numpy as np

    digest = hashlib.sha256()
    for arr in (dataset.test_noisy, dataset.test_clean):
        if arr is None:
            digest.update(b"none")
            continue
        a = np.ascontiguousarray(arr, dtype=np.float32)
        digest.update(repr(a.shape).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()[:16]


def settings_changed(plan: CellPlan, rec: dict[str, Any]) -> str | None:
    """Which of a cell's settings its record does not match (None: all match).

    The method, its parameters (a record also holds the dataset's ``axis`` where the
    method takes it), the denoise options and the step budget; a key that a record of
    an earlier version does not have is not compared (the cell id already names every
    setting, see :func:`~.cells.plan_cells`; this check guards against records edited
    or copied between folders).

    Parameters
    ----------
    plan : CellPlan
        The cell as this run plans it.
    rec : dict
        Its record (read from JSON).

    Returns
    -------
    str or None
        A short name of what differs.
    """
    import json

    def plain(value: Any) -> Any:  # as the record holds it
        return json.loads(json.dumps(value, default=str))

    planned = plain(dict(plan.method_kwargs))
    recorded = rec.get("method_kwargs", planned)
    if not isinstance(recorded, dict):
        return "method parameters"
    extra = set(recorded) - set(planned)
    if extra - {"axis"} or any(recorded.get(k) != v for k, v in planned.items()):
        return "method parameters"
    if "denoise_options" in rec and plain(plan.denoise_options) != rec["denoise_options"]:
        return "denoise options"
    if "max_steps" in rec and getattr(plan, "max_steps", None) != rec["max_steps"]:
        return "step budget"
    if plan.cell.method != rec.get("method"):
        return "method"
    return None
