"""Guards every method shares: diverged training, input unlike the training data, broken output."""

from __future__ import annotations

import warnings

import numpy as np


class TrainingDivergedError(RuntimeError):
    """Training produced a non-finite loss or non-finite weights and was stopped.

    Every learnt method raises this from ``fit`` instead of keeping a broken model; the
    ``train`` command prints its message and exits non-zero without writing a model.

    Parameters
    ----------
    step : int
        The optimisation step at which the divergence was detected.
    loss : float
        The loss at that step (``nan`` or ``inf``; a finite loss when the weights diverged).
    method : str, optional
        The method's name, for the message.
    what : str
        ``"loss"`` or ``"weights"``: what was found non-finite.
    """

    def __init__(
        self, step: int, loss: float, method: str | None = None, what: str = "loss"
    ) -> None:
        self.step = int(step)
        self.loss = float(loss)
        self.method = method
        self.what = what
        prefix = f"{method}: " if method else ""
        detail = f"loss {self.loss:g}"
        if what != "loss":
            detail = f"non-finite weights, {detail}"
        super().__init__(
            f"{prefix}training diverged at step {self.step} ({detail}): lower the learning rate"
        )


class DataRangeWarning(UserWarning):
    """Input unlike the training data (far outside its range, or constant images)."""


def check_data_range(
    x: np.ndarray, data_range: tuple[float, float] | None, name: str = "model"
) -> bool:
    """Warn when ``x`` lies far outside the range of the training data.

    "Far" means beyond the training range by more than its own width on either side
    (for training data in [0, 1]: below -1 or above 2). Learnt models normalise with the
    training statistics, so such input lands where the network never saw data.

    Parameters
    ----------
    x : numpy.ndarray
        The input.
    data_range : tuple of float or None
        ``(min, max)`` of the training data; None skips the check.
    name : str
        The method's name, for the message.

    Returns
    -------
    bool
        True when a warning was given.
    """
    if data_range is None or x.size == 0:
        return False
    lo, hi = data_range
    width = max(hi - lo, 1e-12 * max(abs(lo), abs(hi), 1.0))
    x_lo, x_hi = float(np.min(x)), float(np.max(x))
    if x_lo < lo - width or x_hi > hi + width:
        warnings.warn(
            f"{name}: input values span [{x_lo:.4g}, {x_hi:.4g}], far outside the training "
            f"data's [{lo:.4g}, {hi:.4g}]; the result is unreliable: scale the input like the "
            "training data or train on data like it",
            DataRangeWarning,
            stacklevel=3,
        )
        return True
    return False


def check_finite_output(out: np.ndarray, name: str = "model") -> None:
    """Raise when a method returned NaN or infinite values (its input was finite).

    Parameters
    ----------
    out : numpy.ndarray
        The method's output.
    name : str
        The method's name, for the message.
    """
    finite = np.isfinite(out)
    if not finite.all():
        bad = int(out.size - finite.sum())
        raise RuntimeError(
            f"{name} produced {bad} NaN/infinite value(s) from finite input: the model is "
            "broken (e.g. training diverged); retrain it with a lower learning rate"
        )
