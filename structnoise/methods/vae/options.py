"""The named choices of the ladder-VAE methods (their values are saved in ``method.json``)."""

from __future__ import annotations

import math
from enum import StrEnum

__all__ = ["LRSchedule", "Precision", "parse_choice"]


class Precision(StrEnum):
    """Arithmetic of the convolutions."""

    FLOAT32 = "32"
    #: bfloat16 autocast (loss terms and output layers stay float32).
    BF16 = "bf16"
    #: bfloat16 where it is faster on the device, else float32.
    AUTO = "auto"


class LRSchedule(StrEnum):
    """How the learning rate changes during training."""

    #: ReduceLROnPlateau on the validation loss (the papers).
    PLATEAU = "plateau"
    #: Linear decay to 0 over the budget (steps or time, whichever runs out first).
    LINEAR = "linear"
    #: Cosine decay to 1 % over the budget.
    COSINE = "cosine"

    def factor(self, fraction: float) -> float | None:
        """The learning rate's factor when ``fraction`` of the budget is spent.

        Parameters
        ----------
        fraction : float
            Spent fraction of the budget, in ``[0, 1]``.

        Returns
        -------
        float or None
            None for :attr:`PLATEAU` (the schedule follows the validation loss).
        """
        if self is LRSchedule.LINEAR:
            return max(0.0, 1.0 - fraction)
        if self is LRSchedule.COSINE:
            return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * fraction))
        return None


def parse_choice(kind: type[StrEnum], value, name: str) -> StrEnum:
    """``value`` as a member of ``kind``, or a ValueError listing the choices.

    Parameters
    ----------
    kind : type of StrEnum
        The choices.
    value : str
        The value given.
    name : str
        The option's name, for the message.

    Returns
    -------
    StrEnum
    """
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise ValueError(f"unknown {name} {value!r}: expected one of {choices}") from None
