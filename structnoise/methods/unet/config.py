"""The careamics configuration of one training run (careamics 0.3.5's own factories).

:func:`build_config` calls ``create_advanced_n2v_config`` (``n2v``, ``sn2v``) or
``create_advanced_care_config`` (``care``) with the profile's settings, the project's
choices (no Lightning checkpoints, no early stopping, step- and time-bound training,
mean/std normalisation with the statistics of the training data) and the struct mask.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, Literal

from structnoise.datasets.noise_stats import CAREAMICS_MAX_SPAN
from structnoise.methods.unet.profiles import CareamicsProfile
from structnoise.methods.unet.struct_mask import Span

__all__ = ["Algorithm", "Augment", "build_config"]

#: careamics' algorithm: the N2V family (``n2v``, ``sn2v``) or supervised ``care``.
Algorithm = Literal["n2v", "care"]


class Augment(StrEnum):
    """Training augmentations (the ``augment`` parameter)."""

    #: None.
    NONE = "none"
    #: Random flips along X (keeps a horizontal or vertical 1-D struct mask).
    X_FLIP = "x_flip"
    #: Random flips along X and Y.
    FLIPS = "flips"
    #: Flips and 90-degree rotations (careamics' default; not with a 1-D struct mask).
    ALL = "all"

    @classmethod
    def parse(cls, value: str) -> Augment:
        """Read an augmentation name.

        Parameters
        ----------
        value : str
            ``"none"``, ``"x_flip"``, ``"flips"`` or ``"all"``.

        Returns
        -------
        Augment

        Raises
        ------
        ValueError
            For any other name, with the accepted ones.
        """
        try:
            return cls(value)
        except ValueError:
            raise ValueError(
                f"unknown augment {value!r}: expected one of {', '.join(cls)}"
            ) from None

    @property
    def careamics(self) -> list[str]:
        """The names careamics gives these transforms."""
        return {
            Augment.NONE: [],
            Augment.X_FLIP: ["x_flip"],
            Augment.FLIPS: ["x_flip", "y_flip"],
            Augment.ALL: ["x_flip", "y_flip", "rotate_90"],
        }[self]


def build_config(
    algorithm: Algorithm,
    prof: CareamicsProfile,
    *,
    n_pixels: int,
    patch: int,
    n_val: int,
    seed: int,
    budget_minutes: float | None,
    cuda: bool,
    augment: Augment,
    residual: bool,
    batch_norm: bool,
    norm: dict[str, float],
    struct: tuple[str, Span | None] = ("none", 0),
):
    """Build the careamics configuration of one run.

    Parameters
    ----------
    algorithm : {"n2v", "care"}
        careamics' algorithm.
    prof : CareamicsProfile
        The training settings (overrides applied).
    n_pixels : int
        Pixels of the training stack (sets the patches per epoch).
    patch : int
        Training patch side (a power of two, clipped to the images).
    n_val : int
        Validation patches careamics takes out of the training data (at least 1).
    seed : int
        careamics' seed (> 0).
    budget_minutes : float, optional
        Wall-clock cap (Lightning's ``max_time``); None: steps only.
    cuda : bool
        Train on one GPU, else on the CPU.
    augment : Augment
        The augmentations.
    residual : bool
        The UNet predicts a correction added to its input.
    batch_norm : bool
        Batch normalisation in the UNet.
    norm : dict
        ``mean`` and ``std`` of the inputs; for ``care`` also ``t_mean`` and ``t_std`` of
        the targets.
    struct : tuple
        ``(struct_n2v_axes, span)`` of the N2V family: ``("none", 0)`` for no struct
        mask, a span of 1 is none either; ``"full"`` masks whole rows/columns.

    Returns
    -------
    careamics.config.Configuration
    """
    from careamics.config import create_advanced_care_config, create_advanced_n2v_config

    trainer: dict[str, Any] = {
        "accelerator": "gpu" if cuda else "cpu",
        "devices": 1,
        "max_steps": prof.max_steps,
        "max_epochs": -1,
        "num_sanity_val_steps": 0,
        "enable_model_summary": False,
        "log_every_n_steps": 1,
    }
    if budget_minutes is not None:
        trainer["max_time"] = {"seconds": max(1.0, 60.0 * float(budget_minutes))}
    # careamics' stratified patching: about one patch per patch-area of data per epoch
    per_epoch = max(1, math.ceil(max(1, n_pixels // patch**2 - n_val) / prof.batch))
    patience = prof.lr_patience_steps
    patience_epochs = 10**9 if patience is None else max(1, math.ceil(patience / per_epoch))
    common = dict(
        experiment_name=algorithm,
        data_type="array",
        axes="SYX",
        patch_size=[patch, patch],
        batch_size=prof.batch,
        num_epochs=None,
        augmentations=augment.careamics,
        n_val_patches=n_val,
        num_workers=0,
        trainer_params=trainer,
        model_params={
            "depth": prof.depth,
            "num_channels_init": prof.n_filters,
            "residual": residual,
            "use_batch_norm": batch_norm,
        },
        optimizer="Adam",
        optimizer_params={"lr": prof.lr},
        lr_scheduler="ReduceLROnPlateau",
        lr_scheduler_params={"factor": 0.5, "patience": patience_epochs},
        checkpoint_params={"save_top_k": 0, "save_last": False},
        seed=seed,
    )
    normalization = {"input_means": [norm["mean"]], "input_stds": [norm["std"]]}
    if algorithm == "care":
        normalization.update(target_means=[norm["t_mean"]], target_stds=[norm["t_std"]])
        return create_advanced_care_config(
            **common,
            normalization="mean_std",
            normalization_params=normalization,
            # no early stopping (careamics' default for care): training is step- and
            # time-bound like n2v's; an EarlyStopping on val_loss asked for the metric
            # at the end of a training epoch cut short by max_steps, before any
            # validation ran, and failed (smoke profile on larger images)
            early_stopping_params={},
        )
    axes, span = struct
    full = span == "full"
    cfg = create_advanced_n2v_config(
        **common,
        normalization="mean_std",
        normalization_params=normalization,
        masked_pixel_percentage=prof.mask_percent,
        struct_n2v_axes=axes if span not in (0, 1) else "none",
        struct_n2v_span=CAREAMICS_MAX_SPAN if full else max(3, int(span or 3)),
    )
    if full:
        # careamics validates span <= 15 at creation only; StructMaskConfig does not
        # validate assignment, so a whole-line mask is set here (see struct_mask's docs)
        cfg.algorithm_config.n2v_config.struct_mask.span = 2 * patch - 1
    return cfg
