"""Scoring a cell's test images, at the end of training and at its curve marks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from structnoise.benchmark.cells import CellPlan
    from structnoise.benchmark.records import TrainClock


def score_images(dataset, denoised: np.ndarray) -> dict[str, np.ndarray] | None:
    """Every metric of :data:`structnoise.metrics.METRICS` per test image (None: no truth)."""
    from structnoise.metrics import score_stack

    if dataset.test_clean is None:
        return None
    return score_stack(dataset.test_clean, denoised)


def mark_hook(plan: CellPlan, dataset, rec: dict, clock: TrainClock):
    """The ``snapshot_hook`` function that evaluates the test images at a step mark.

    The time the evaluation takes is kept out of the cell's training CPU and wall time
    (``clock``); a failing evaluation only adds a note (the cell's result stands).
    """

    def hook(method, info: dict) -> None:
        train = clock.now()  # the training time so far, evaluations excluded
        with clock.paused():
            try:
                den = np.asarray(
                    method.denoise(dataset.test_noisy, **plan.denoise_options), dtype=np.float32
                )
                scores = score_images(dataset, den) or {}
            except Exception as exc:  # the curve misses a point, the cell goes on
                rec["notes"].append(
                    f"evaluation at step {info.get('steps')} failed: {type(exc).__name__}: {exc}"
                )
                return
            rec["marks"].append(
                {
                    "mark_step": int(info.get("mark", info.get("steps"))),
                    "steps": int(info.get("steps")),
                    "train_wall_s": train["train_wall_s"],
                    "train_cpu_s": train["train_cpu_s"],
                    "metrics": {k: float(np.mean(v)) for k, v in scores.items()},
                    "per_image": {k: [float(x) for x in v] for k, v in scores.items()},
                }
            )

    return hook
