"""Training profiles of the careamics baselines and the user's overrides of them.

Training profiles (:data:`PROFILES`) set patch, batch, steps, network size and learning
rate; ``max_minutes`` (default from the profile, :data:`BUDGETS`: smoke 2, quick 5, paper
none) stops training early through Lightning's ``max_time``. The paper does not state the
training settings of its SN2V/CARE baselines; ``paper`` uses the n2v reference scale
(64 x 64 patches, batch 128, 200 epochs x 400 steps, learning rate 4e-4, UNet depth 2 with
32 initial filters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["BUDGETS", "OVERRIDES", "PROFILES", "CareamicsProfile", "check_overrides", "resolve"]


@dataclass(frozen=True)
class CareamicsProfile:
    """Training settings of one profile (every field can be overridden per method).

    Attributes
    ----------
    patch : int
        Training patch side (a power of two >= 8; clipped to the images).
    batch : int
        Patches per batch.
    max_steps : int
        Optimiser steps (the budget in minutes may stop training earlier).
    depth : int
        UNet depth (number of poolings).
    n_filters : int
        UNet channels at the first level.
    lr : float
        Adam learning rate.
    mask_percent : float
        N2V family: percentage of pixels that are blind spots (careamics'
        ``masked_pixel_percentage``, 0.05..10); each also masks its struct line.
    lr_patience_steps : int, optional
        ReduceLROnPlateau (factor 0.5) patience in optimiser steps; None never reduces.
    """

    patch: int
    batch: int
    max_steps: int
    depth: int = 2  # careamics' and n2v's default UNet
    n_filters: int = 32
    lr: float = 4e-4  # n2v's default learning rate
    mask_percent: float = 0.2  # N2V blind spots per patch in percent (n2v's 0.198)
    lr_patience_steps: int | None = None


#: ``smoke``: seconds, for tests; ``quick``: a few minutes on 2 CPU cores; ``paper``: the
#: n2v reference scale (the paper does not give its baselines' training settings).
PROFILES: dict[str, CareamicsProfile] = {
    "smoke": CareamicsProfile(patch=32, batch=4, max_steps=4, n_filters=8, lr=1e-3),
    # quick: the minutes budget decides (about 20 steps/s on 2 idle cores); 1500 steps
    # (70 s) left sn2v with the paper's span-9 mask below the noisy input on
    # embedded-stripe (26.50 vs 26.94 dB), 4000 steps reached 28.01 dB (measured).
    "quick": CareamicsProfile(patch=64, batch=8, max_steps=6000, n_filters=16, lr=1e-3),
    "paper": CareamicsProfile(patch=64, batch=128, max_steps=80_000, lr_patience_steps=4000),
}

#: Wall-clock caps in minutes (smoke: a safety cap that its 4 steps never reach, so that
#: tests stay step-bound and reproducible on a loaded machine).
BUDGETS: dict[str, float | None] = {"smoke": 2.0, "quick": 5.0, "paper": None}

#: Profile fields a method's parameters may override.
OVERRIDES = ("patch", "batch", "max_steps", "depth", "n_filters", "lr", "mask_percent")

_FLOAT_FIELDS = ("lr", "mask_percent")

#: Upper limits of the overrides (beyond them a setting only allocates without end).
_LIMITS = {"patch": 4096, "batch": 4096, "depth": 8, "n_filters": 1024, "mask_percent": 100}


def check_overrides(params: dict[str, Any]) -> None:
    """Refuse override values careamics cannot train with.

    Parameters
    ----------
    params : dict
        A method's parameters; the keys of :data:`OVERRIDES` among them are checked
        (None means "the profile's value").

    Raises
    ------
    ValueError
        For a value that is not positive, or a patch that is not a power of two >= 8.
    """
    for key in OVERRIDES:
        value = params.get(key)
        if value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        whole = key in _FLOAT_FIELDS or (number and float(value).is_integer())
        if not number or not whole or not math.isfinite(value) or not value > 0:
            kind = "a positive number" if key in _FLOAT_FIELDS else "a positive whole number"
            raise ValueError(f"{key} must be {kind}, got {value!r}")
        if key in _LIMITS and value > _LIMITS[key]:
            raise ValueError(f"{key} must be at most {_LIMITS[key]:g}, got {value!r}")
    patch = params.get("patch")
    if patch is not None and (int(patch) < 8 or int(patch) & (int(patch) - 1)):
        raise ValueError(f"patch must be a power of two >= 8 (careamics), got {patch}")


def resolve(profile: str, params: dict[str, Any]) -> CareamicsProfile:
    """The settings of ``profile`` with the overrides among ``params`` applied.

    Parameters
    ----------
    profile : {"smoke", "quick", "paper"}
        The profile's name.
    params : dict
        A method's parameters (keys of :data:`OVERRIDES` set to None are not overrides).

    Returns
    -------
    CareamicsProfile
    """
    changes: dict[str, Any] = {}
    for key in OVERRIDES:
        value = params.get(key)
        if value is not None:
            changes[key] = float(value) if key in _FLOAT_FIELDS else int(value)
    return replace(PROFILES[profile], **changes)
