"""What every learnt method reports about its training: :class:`TrainSummary`.

One summary for every learnt method (DVLAE, HDN, the careamics baselines), kept as
``train_summary`` on the method, saved in ``method.json``, printed by ``structnoise train``
and kept in every cell record of a benchmark run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class StopReason(StrEnum):
    """Why training stopped."""

    #: The step limit (``max_steps``) was reached.
    MAX_STEPS = "max_steps"
    #: The wall-clock budget (``max_minutes``) ran out.
    TIME_BUDGET = "time_budget"
    #: Early stopping on the validation loss.
    EARLY_STOPPING = "early_stopping"
    #: The planned epochs ran to their end.
    COMPLETED = "completed"

    @classmethod
    def parse(cls, value: str | None) -> StopReason | None:
        """Read a reason, also in the spellings older saved models and run records use.

        Parameters
        ----------
        value : str or None
            ``"max_steps"``, ``"time budget"``, ``"max_minutes"``, ``"early stopping"`` ...

        Returns
        -------
        StopReason or None
        """
        if value is None or value == "":
            return None
        key = str(value).strip().lower().replace(" ", "_").replace("-", "_")
        legacy = {
            "max_minutes": cls.TIME_BUDGET,
            "time_budget": cls.TIME_BUDGET,
            "budget": cls.TIME_BUDGET,
            "early_stopping": cls.EARLY_STOPPING,
            "max_steps": cls.MAX_STEPS,
            "steps": cls.MAX_STEPS,
            "max_epochs": cls.COMPLETED,
            "completed": cls.COMPLETED,
            "epochs": cls.COMPLETED,
        }
        if key in legacy:
            return legacy[key]
        raise ValueError(f"unknown stop reason {value!r}: expected one of {[r.value for r in cls]}")


@dataclass
class TrainSummary:
    """How a learnt method's training went.

    Attributes
    ----------
    steps : int
        Optimisation steps (forward passes for DVLAE/HDN, as the paper counts).
    minutes : float
        Wall-clock minutes of training.
    stopped_by : StopReason
        Why it stopped.
    final : dict
        Final losses by name (e.g. ``{"train_loss": ..., "val_loss": ...}``).
    extra : dict
        Method-specific facts (precision, noise-model source, ...).
    """

    steps: int
    minutes: float
    stopped_by: StopReason
    final: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``stopped_by`` as its string value), extras flattened in.

        Returns
        -------
        dict
        """
        out = asdict(self)
        out["stopped_by"] = str(self.stopped_by.value)
        extra = out.pop("extra")
        return {**extra, **out}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TrainSummary | None:
        """Read a summary written by :meth:`to_dict` or by an earlier version.

        Parameters
        ----------
        data : dict or None
            The saved summary.

        Returns
        -------
        TrainSummary or None
            None when ``data`` holds no summary (an unfitted or non-learning method).
        """
        if not data or "steps" not in data:
            return None
        known = {"steps", "minutes", "stopped_by", "final"}
        reason = StopReason.parse(data.get("stopped_by")) or StopReason.COMPLETED
        return cls(
            steps=int(data["steps"]),
            minutes=float(data.get("minutes", 0.0) or 0.0),
            stopped_by=reason,
            final={k: float(v) for k, v in dict(data.get("final", {})).items()},
            extra={k: v for k, v in data.items() if k not in known},
        )

    def line(self) -> str:
        """One line for the ``train`` command.

        Returns
        -------
        str
        """
        return (
            f"trained {self.steps} steps in {self.minutes:.1f} min "
            f"(stopped by {self.stopped_by.value})"
        )
