"""How long a run's remaining cells will take: calibrated rates, corrected as cells finish.

Each cell is first estimated from what is known before it runs
(:meth:`CellTimeEstimator.planned_seconds`):

* a learnt method with a step budget: its steps over the method's calibrated steps per
  idle minute (:mod:`.step_rates`), plus a fixed allowance for set-up, the final
  denoising and each curve mark's evaluation (:data:`EVALUATION_S` each);
* a learnt method without a calibrated rate: one second a step (a guess the correction
  below soon replaces);
* a wall-clock budget: its minutes; a classical method: :data:`CLASSICAL_S`.

As cells finish, the machine's measured speed (seconds taken over seconds planned, summed
over the cells finished in this call) scales every remaining estimate; it starts at 1 and
is pulled towards it by :data:`PRIOR_S` planned seconds, so one odd cell does not swing
the ETA.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from structnoise.benchmark.step_rates import steps_per_minute

if TYPE_CHECKING:
    from structnoise.benchmark.cells import CellPlan

#: Seconds for set-up plus one evaluation of the test images (the end, each mark).
EVALUATION_S = 10.0
#: Seconds of a classical method's cell.
CLASSICAL_S = 5.0
#: Seconds of a learnt method with neither a step nor a time budget (unknown).
UNBOUNDED_S = 3600.0
#: The uncalibrated guess: seconds per training step.
GUESS_S_PER_STEP = 1.0
#: Planned seconds that pull the measured speed towards 1 while little has run.
PRIOR_S = 60.0


class CellTimeEstimator:
    """Estimated seconds per cell, and the run's measured speed against them.

    Parameters
    ----------
    rate : callable, optional
        ``method -> steps per minute or None`` (default: the shipped calibration,
        :func:`structnoise.benchmark.step_rates.steps_per_minute`).
    """

    def __init__(self, rate: Callable[[str], float | None] | None = None) -> None:
        self.rate = rate or steps_per_minute
        self.spent = 0.0
        self.planned_done = 0.0

    def planned_seconds(self, plan: CellPlan) -> float:
        """The estimate of one cell before it runs (see the module doc)."""
        if not plan.info.learns:
            return CLASSICAL_S
        evaluations = EVALUATION_S * (1 + len(getattr(plan, "marks", None) or []))
        steps = getattr(plan, "max_steps", None)
        if steps is not None:
            rate = self.rate(plan.cell.method)
            per_step = 60.0 / rate if rate else GUESS_S_PER_STEP
            return steps * per_step + evaluations
        if plan.max_minutes is not None:
            return 60.0 * plan.max_minutes + evaluations
        return UNBOUNDED_S

    def finished(self, planned: float, seconds: float) -> None:
        """Count a cell that took ``seconds`` against its ``planned`` estimate."""
        self.spent += float(seconds)
        self.planned_done += float(planned)

    @property
    def speed(self) -> float:
        """Measured over planned seconds so far, pulled towards 1 (see the module doc)."""
        return (self.spent + PRIOR_S) / (self.planned_done + PRIOR_S)

    def eta_seconds(self, remaining_planned: float) -> float:
        """Seconds left for cells whose planned seconds add up to ``remaining_planned``."""
        return remaining_planned * self.speed
