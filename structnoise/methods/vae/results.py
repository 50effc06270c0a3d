"""What a training run did (:class:`FitResult`) and its saved :class:`TrainSummary`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from structnoise.methods.summary import StopReason, TrainSummary
from structnoise.methods.vae.options import Precision


@dataclass
class FitResult:
    """What training did.

    Attributes
    ----------
    steps : int
        Training batches.
    seconds : float
        Training time (snapshot hooks not counted).
    stopped_by : StopReason
        Why training stopped.
    history : list of dict
        One row of losses per epoch.
    precision : Precision
        The arithmetic used.
    threads : dict
        Steps trained at each CPU thread count (``{n: -1}``: not tuned).
    skipped : int
        Batches skipped for a non-finite loss.
    """

    steps: int
    seconds: float
    stopped_by: StopReason
    history: list[dict]
    precision: Precision
    threads: dict
    skipped: int


def summarise(
    result: FitResult, *, device: str, n_train: int, n_val: int, **extra
) -> dict[str, Any]:
    """The :class:`TrainSummary` of a training run, as saved.

    Parameters
    ----------
    result : FitResult
        What training did.
    device : str
        Where it trained.
    n_train, n_val : int
        Training and held-out validation images (0: validated on training crops).
    **extra
        Method-specific facts.

    Returns
    -------
    dict
    """
    last = result.history[-1] if result.history else {}
    final = {
        k: float(v)
        for k, v in last.items()
        if isinstance(v, int | float) and k not in ("epoch", "steps")
    }
    common = {
        "device": device,
        "precision": result.precision,
        "n_train_images": int(n_train),
        "n_val_images": int(n_val),
        "skipped_batches": result.skipped,
        "steps_per_thread_count": result.threads,
    }
    summary = TrainSummary(
        steps=result.steps,
        minutes=result.seconds / 60.0,
        stopped_by=result.stopped_by,
        final=final,
        extra={**common, **extra},
    )
    return summary.to_dict()


def read_summary(data: dict | None) -> dict[str, Any]:
    """A saved train summary in today's form (older models' ``train_seconds`` read too).

    Parameters
    ----------
    data : dict or None
        The ``train`` entry of a saved ``method.json``.

    Returns
    -------
    dict
        Empty when nothing was saved.
    """
    if data and "minutes" not in data and "train_seconds" in data:
        data = {**data, "minutes": float(data["train_seconds"]) / 60.0}
    summary = TrainSummary.from_dict(data)
    return {} if summary is None else summary.to_dict()
