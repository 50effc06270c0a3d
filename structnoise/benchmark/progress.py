"""Run-level progress on stderr: cells done / total, the cell in flight and an ETA."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from structnoise.benchmark.cells import CellPlan


class RunProgress:
    """Run-level progress: cells done / total, the cell in flight and an ETA.

    The ETA scales the training budgets of the remaining cells by how long the finished
    cells took compared with their budgets (a classical method counts as 5 s).
    """

    def __init__(self, plans: list[CellPlan], done: set[str], enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.enabled = enabled
        # a bar only on a terminal; in a log file, plain lines
        self.use_bar = enabled and sys.stderr.isatty()
        self.total = len(plans)
        self.estimates = {p.cell_id: self._estimate(p) for p in plans}
        self.remaining = {p.cell_id for p in plans if p.cell_id not in done}
        self.spent = 0.0
        self.estimated_done = 0.0
        self.bar = tqdm(
            total=len(plans),
            initial=len(plans) - len(self.remaining),
            desc="cells",
            unit="cell",
            disable=not self.use_bar,
            dynamic_ncols=True,
            bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| [{elapsed}{postfix}]",
        )

    @staticmethod
    def _estimate(plan: CellPlan) -> float:
        if getattr(plan, "max_steps", None) is not None:
            return 1.0 * plan.max_steps + 10.0  # a guess (1 s a step): the ratio corrects it
        if plan.max_minutes is None:
            return 5.0 if not plan.info.learns else 3600.0
        return 60.0 * plan.max_minutes + 10.0

    def eta_seconds(self) -> float:
        """Estimated seconds left."""
        left = sum(self.estimates[c] for c in self.remaining)
        # measured / planned time so far, pulled towards 1 while little has run
        ratio = (self.spent + 60.0) / (self.estimated_done + 60.0)
        return left * ratio

    def start(self, index: int, plan: CellPlan) -> None:
        """Announce the cell in flight."""
        budget = f", training budget {plan.max_minutes:g} min" if plan.max_minutes else ""
        if getattr(plan, "max_steps", None) is not None:
            budget = f", training budget {plan.max_steps} steps"
        self.write(
            f"[{index}/{self.total}] {plan.cell.label} on {plan.cell.dataset}, "
            f"seed {plan.cell.seed}{budget} (run eta {self._eta()})"
        )
        self.bar.set_postfix_str(f"now {plan.cell.label}/{plan.cell.dataset}, eta {self._eta()}")

    def finish(self, plan: CellPlan, rec: dict, seconds: float) -> None:
        """Count a finished cell."""
        self.remaining.discard(plan.cell_id)
        self.spent += seconds
        self.estimated_done += self.estimates[plan.cell_id]
        value = rec.get("metrics", {}).get("psnr")
        what = f"PSNR {value:.2f} dB" if value is not None else (rec.get("reason") or "")
        done = self.total - len(self.remaining)
        self.write(f"    {rec['status']}: {what} ({seconds:.1f} s; {done}/{self.total} cells done)")
        self.bar.update(1)
        self.bar.set_postfix_str(f"eta {self._eta()}")

    def _eta(self) -> str:
        seconds = int(self.eta_seconds())
        return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"

    def write(self, text: str) -> None:
        """Print a line above the bar (nothing when progress is off)."""
        if not self.enabled:
            return
        if self.use_bar:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()
