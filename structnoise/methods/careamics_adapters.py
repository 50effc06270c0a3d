"""Baselines trained through CAREamics: ``sn2v``, ``n2v`` and ``care``.

Training runs through careamics' ``CAREamist`` with its own configuration factories
(``create_advanced_n2v_config`` / ``create_advanced_care_config``, careamics 0.3.5);
prediction applies the trained careamics ``UNet`` with the project's tiling
(:func:`structnoise.methods.tiling.predict_tiled`, reflect padding to a multiple of
``2**depth``, so any image size works).

- ``sn2v``: structured Noise2Void (Broaddus et al. 2020). The struct mask hides
  ``span`` pixels centred on each blind-spot pixel along the noise ``axis``
  (``"horizontal"``: along X, i.e. a row; ``"vertical"``: along Y). The paper's masks
  (supplement 1.3): ``span=9`` (4 pixels each side) for stripe-like noise; whole columns
  for FFHQ-Checkerboard: ``span="full"`` (see below). With ``span=None`` a span is
  proposed from the noise autocorrelation (:func:`propose_span`).
- ``n2v``: plain Noise2Void, single-pixel blind spot.
- ``care``: supervised CARE (Weigert et al. 2018), needs clean targets.

Struct-mask values: careamics 0.3.5 fills the struct mask with values drawn from
``[min, max]`` of each patch; the structN2V authors draw zero-mean values from
``[-2, 2]`` (normalised units). ``sn2v`` follows the authors
(:class:`StructMaskManipulate` replaces the careamics module's manipulation; the
blind spot itself stays careamics').

Batch normalisation: careamics' UNet normalises batches by default. ``sn2v`` and ``n2v``
train without it: the blind-spot and struct-mask values exist only in training inputs, and
statistics learnt with them degrade predictions the longer training runs (measured on
``embedded-stripe``, see :class:`StructN2V`); ``batch_norm=True`` restores careamics'
choice. ``care`` keeps it and uses a residual UNet (output = input + correction), the
default of CSBDeep's CARE when input and output channels match (careamics: not residual);
without it CARE's quick profile stayed below the noisy input after 300 steps.

``span="full"``: careamics 0.3.5 validates ``span <= 15``. A whole-line mask is set past
that validator: the mask is built with span ``2 * patch - 1``, so it covers the whole
row/column of every training patch whatever the blind-spot position (careamics drops
mask pixels outside the patch). Its saved careamics configuration therefore does not
pass careamics' own validation; this module never reloads it through careamics (the
network is rebuilt from the saved UNet parameters).

Files: careamics writes checkpoints and CSV logs only inside ``work_dir`` (a temporary
folder removed after ``fit`` when not given): never into the current directory. No
Lightning checkpoint files are written (``save_top_k=0``); ``save(path)`` writes
``model.pt`` (the UNet's ``state_dict``, loaded with ``torch.load(weights_only=True)``),
``unet.json`` (its constructor arguments) and ``careamics_config.yml`` (the full
careamics training configuration, for the record).

Divergence: training runs with
:func:`~structnoise.methods.lightning_utils.divergence_guard`; careamics steps the
optimiser on every loss, so the first non-finite training loss (or non-finite weights, or
a non-finite validation loss) stops training and ``fit`` raises
:class:`~structnoise.methods.base.TrainingDivergedError`. No method here stops early:
training ends at ``max_steps`` or the minutes budget.

Training profiles (:data:`PROFILES`) set patch, batch, steps, network size and learning
rate; ``max_minutes`` (default from the profile: smoke 2, quick 5, paper none) stops
training early through Lightning's ``max_time``. The paper does not state the training
settings of its SN2V/CARE baselines; ``paper`` uses the n2v reference scale (64 x 64
patches, batch 128, 200 epochs x 400 steps, learning rate 4e-4, UNet depth 2 with 32
initial filters).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from structnoise._validate import as_stack, check_axis
from structnoise.methods.base import BaseDenoiser, MethodInfo
from structnoise.methods.registry import register
from structnoise.methods.tiling import predict_tiled
from structnoise.utils import derive_seed, pick_device

__all__ = [
    "CARE",
    "PROFILES",
    "SPAN_SIGNIFICANCE",
    "SPAN_THRESHOLD",
    "CareamicsDenoiser",
    "CareamicsProfile",
    "N2V",
    "StructMaskManipulate",
    "StructN2V",
    "propose_span",
]

#: Largest span careamics 0.3.5 validates (``StructMaskConfig.span <= 15``).
CAREAMICS_MAX_SPAN = 15
#: Fraction of the peak autocorrelation below which a lag counts as uncorrelated
#: (see :func:`propose_span`).
SPAN_THRESHOLD = 0.1
#: Standard errors a correlation must exceed to count (see :func:`propose_span`).
SPAN_SIGNIFICANCE = 4.0


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
_BUDGETS = {"smoke": 2.0, "quick": 5.0, "paper": None}
_OVERRIDES = ("patch", "batch", "max_steps", "depth", "n_filters", "lr", "mask_percent")
_COMMON = ("seed", "profile", "max_minutes", "progress", "work_dir")
_AUGMENTS = {
    "none": [],
    "x_flip": ["x_flip"],
    "flips": ["x_flip", "y_flip"],
    "all": ["x_flip", "y_flip", "rotate_90"],
}


# ---------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _quiet(enabled: bool):
    """Silence careamics/Lightning loggers and warnings (and restore them afterwards)."""
    if not enabled:
        yield
        return
    prefixes = ("careamics", "lightning", "pytorch_lightning", "lightning_fabric")
    saved = {}
    for name in list(logging.Logger.manager.loggerDict):
        if name.split(".")[0] in prefixes:
            lg = logging.getLogger(name)
            saved[name] = lg.level
            lg.setLevel(logging.ERROR)
    for name in prefixes:
        lg = logging.getLogger(name)
        saved.setdefault(name, lg.level)
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _preserve_global_rng():
    """Careamics seeds Python's, NumPy's and torch's global generators; undo that after."""
    import torch

    py_state = random.getstate()
    np_state = np.random.get_state()  # noqa: NPY002 - restoring the legacy global state
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)  # noqa: NPY002


def _largest_pow2(n: int) -> int:
    return 1 << (int(n).bit_length() - 1)


def _read_history(work_dir: Path) -> list[dict[str, float]]:
    """Per-epoch losses from careamics' CSV logs (empty when absent)."""
    files = sorted(work_dir.glob("csv_logs/**/metrics.csv"), key=lambda p: p.stat().st_mtime)
    if not files:
        return []
    import pandas as pd

    df = pd.read_csv(files[-1])
    keep = [c for c in ("epoch", "step", "train_loss_epoch", "val_loss") if c in df.columns]
    if "epoch" not in keep:
        return []
    grouped = df[keep].groupby("epoch", as_index=False).last()
    return [
        {k: float(v) for k, v in row.items() if v == v}  # drop NaN
        for row in grouped.to_dict("records")
    ]


# ---------------------------------------------------------------------------- struct mask
class StructMaskManipulate:
    """The structN2V input manipulation as published: zero-mean random values on the mask.

    careamics' N2V blind spot (a random neighbour's value, ``N2VManipulate`` without its
    struct mask), then every pixel of the 1-D struct mask around each blind spot is
    replaced by a value drawn uniformly from ``[-2, 2]`` in normalised units (data mean
    0, standard deviation 1), as the structN2V authors' ``apply_structN2Vmask`` does.
    careamics 0.3.5 instead draws from ``[min, max]`` of each patch, whose mean is not
    the data mean; on ``embedded-stripe`` that biased the SN2V output by +0.01 to +0.03
    (intensities in [0, 1]) and cost 1-2 dB. Mask pixels outside the patch are dropped.

    Parameters
    ----------
    config : careamics N2VManipulateConfig
        The run's N2V configuration (its ``struct_mask`` gives axis and span; the span
        may exceed careamics' validated 15, see the module docstring).
    """

    def __init__(self, config) -> None:
        import torch
        from careamics.lightning.modules.n2v_utils import N2VManipulate

        self.struct = config.struct_mask
        blind = config.model_copy(update={"struct_mask": None})
        self.blind_spot = N2VManipulate(blind, device="cpu")
        self.seed = int(config.seed) + 1
        self._rng = None
        self._torch = torch

    def _generator(self, device):
        if self._rng is None or self._rng.device != device:
            self._rng = self._torch.Generator(device=device).manual_seed(self.seed)
        return self._rng

    def __call__(self, batch, *args: Any, **kwargs: Any):
        """Manipulate a ``(B, C, Y, X)`` batch; returns ``(masked, original, mask)``."""
        torch = self._torch
        if self.blind_spot.rng.device != batch.device:
            self.blind_spot.rng = torch.Generator(device=batch.device).manual_seed(self.seed - 1)
        masked, original, mask = self.blind_spot(batch)
        half = self.struct.span // 2
        offsets = torch.cat([torch.arange(-half, 0), torch.arange(1, half + 1)]).to(batch.device)
        dim = -1 if self.struct.axes == "horizontal" else -2
        size = batch.shape[dim]
        for c in range(batch.shape[1]):
            centres = torch.nonzero(mask[:, c])  # (n, 3): batch, y, x
            if centres.numel() == 0:
                continue
            pts = centres[:, None, :].repeat(1, offsets.numel(), 1)
            pts[..., dim] = pts[..., dim] + offsets[None, :]
            pts = pts.reshape(-1, 3)
            pts = pts[(pts[:, dim] >= 0) & (pts[:, dim] < size)]
            values = torch.rand(
                len(pts), generator=self._generator(batch.device), device=batch.device
            )
            masked[pts[:, 0], c, pts[:, 1], pts[:, 2]] = (values * 4 - 2).to(masked.dtype)
        return masked, original, mask


# ---------------------------------------------------------------------------- span
def propose_span(
    noisy,
    axis: str = "horizontal",
    *,
    clean=None,
    threshold: float = SPAN_THRESHOLD,
    max_lag: int = 20,
) -> int | str:
    """Propose a struct-mask span from the noise autocorrelation along ``axis``.

    Correlations along the axis, ``rho(k)`` for lags ``k = 1..max_lag``
    (:func:`structnoise.datasets.analysis.autocorrelation`, ``rho(0) = 1``), of

    - ``noisy - clean`` when ``clean`` is given
      (:func:`structnoise.datasets.analysis.noise_residual`);
    - otherwise (blind) the differences of neighbouring pixels *across* the axis (for
      ``"horizontal"``: ``x[y + 1] - x[y]``): differencing removes smooth signal and,
      for noise independent across the axis, keeps its correlation along the axis
      unchanged (the blind estimator of
      :func:`structnoise.datasets.analysis.propose_axis`).

    Rule: with ``peak = max_k |rho(k)|``, the correlation length ``L`` is the largest lag
    with ``|rho(L)| >= max(threshold * peak, floor)`` -- the lag beyond which the
    correlation stays below ``threshold`` (10 %) of its peak. ``floor`` is
    :data:`SPAN_SIGNIFICANCE` (4) standard errors of a correlation estimate: the larger
    of ``1 / sqrt(pixels)`` (white noise) and the root-mean-square of the
    autocorrelation off both axes (lags with ``|dy|, |dx| >= 2``, which are zero in
    expectation for axis-aligned noise; this accounts for heavy-tailed noise and signal
    leakage). The span hides ``L`` pixels on each side: ``2 L + 1``. If no lag is
    significant the answer is ``1`` (a single-pixel mask: plain N2V); if ``L`` reaches
    ``max_lag`` (e.g. a periodic pattern that never decays) or ``2 L + 1`` exceeds
    careamics' largest span (15), it is ``"full"`` (a whole-line mask).

    The threshold is relative to the peak because the structured component is often a
    small part of the total noise (on FFHQ-Stripe the row lag-1 correlation of the whole
    residual is below 0.1, although the structured component's own is 0.78); the mask
    must cover the lags where the structured noise is still predictive. The paper chose
    its masks by eye from such autocorrelation plots; this rule gives 7 on the paper's
    stripe noise (blur sigma 1: ``rho`` falls to 2 % of its peak at lag 4) where the
    paper used 9.

    Parameters
    ----------
    noisy : array_like
        ``(Y, X)`` or ``(N, Y, X)`` noisy images.
    axis : {"horizontal", "vertical"}
        The noise axis: ``"horizontal"`` looks along rows (X), ``"vertical"`` along Y.
    clean : array_like, optional
        Clean images for an exact residual.
    threshold : float
        Relative level in (0, 1) (default :data:`SPAN_THRESHOLD` = 0.1).
    max_lag : int
        Largest lag examined (clipped to a third of the image side).

    Returns
    -------
    int or str
        An odd span ``1 .. 15``, or ``"full"``.
    """
    from structnoise.datasets.analysis import autocorrelation, noise_residual

    check_axis(axis)
    if not 0 < float(threshold) < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    x, _ = as_stack(noisy, name="noisy", min_size=8)
    max_lag = int(max(2, min(int(max_lag), min(x.shape[1:]) // 3)))
    if clean is not None:
        residual = noise_residual(x, clean)
    else:
        residual = np.diff(x.astype(np.float64), axis=1 if axis == "horizontal" else 2)
    acf = np.asarray(autocorrelation(residual, max_lag=max_lag))
    if axis == "horizontal":
        line = acf[max_lag, max_lag + 1 :]
    else:
        line = acf[max_lag + 1 :, max_lag]
    mag = np.abs(line)
    # sampling noise of the estimate: spread of the correlations off both axes
    off = np.abs(np.arange(-max_lag, max_lag + 1)) >= 2
    noise = float(np.sqrt(np.mean(acf[np.ix_(off, off)] ** 2)))
    floor = SPAN_SIGNIFICANCE * max(noise, 1.0 / math.sqrt(residual.size))
    level = max(threshold * float(mag.max()), floor)
    significant = np.nonzero(mag >= level)[0]
    if significant.size == 0:
        return 1
    half = int(significant.max()) + 1  # lags start at 1
    if half >= max_lag or 2 * half + 1 > CAREAMICS_MAX_SPAN:
        return "full"
    return 2 * half + 1


def _check_span(span) -> int | str | None:
    if span is None or span == "full":
        return span
    if isinstance(span, str):
        try:
            span = int(span)
        except ValueError:
            raise ValueError(f"span must be an odd integer, 'full' or None, got {span!r}") from None
    if isinstance(span, float) and span.is_integer():
        span = int(span)
    if not isinstance(span, int | np.integer) or isinstance(span, bool):
        raise ValueError(f"span must be an odd integer, 'full' or None, got {span!r}")
    span = int(span)
    if span < 1 or span % 2 == 0:
        raise ValueError(f"span must be odd and >= 1 (1 = single pixel), got {span}")
    if span > CAREAMICS_MAX_SPAN:
        raise ValueError(
            f"span {span} exceeds careamics' largest mask ({CAREAMICS_MAX_SPAN}); "
            "use span='full' for a mask over the whole row/column of each patch"
        )
    return span


# ---------------------------------------------------------------------------- base
class CareamicsDenoiser(BaseDenoiser):
    """A careamics UNet method (N2V family or CARE) behind the structnoise interface.

    Parameters
    ----------
    patch, batch, max_steps, depth, n_filters, lr, mask_percent : optional
        Override the profile's training settings (:class:`CareamicsProfile`).
    augment : {"none", "x_flip", "flips", "all"}, optional
        careamics augmentations: none, random X flips, X and Y flips, or flips and
        90-degree rotations (the careamics default; not allowed with a 1-D struct mask).
    batch_norm : bool, optional
        Batch normalisation in the UNet (default: yes for ``care``, as careamics; no for
        ``sn2v`` and ``n2v``, see :class:`StructN2V`).
    tile : int
        Largest tile side at prediction (256); images are reflect-padded to a multiple
        of ``2**depth``.
    tile_overlap : int
        Overlap of prediction tiles in pixels (48, careamics' default).
    device : str, optional
        Torch device; None picks CUDA when available (also for training).
    **common
        ``seed``, ``profile``, ``max_minutes``, ``progress``, ``work_dir`` (see
        :class:`~structnoise.methods.base.BaseDenoiser`).
    """

    min_size: ClassVar[int] = 16
    #: careamics algorithm: "n2v" or "care".
    algorithm: ClassVar[str] = "n2v"
    #: augmentation when the user gives none.
    default_augment: ClassVar[str] = "all"
    #: UNet predicts a correction added to its input (CSBDeep's CARE default; n2v: no).
    residual: ClassVar[bool] = False
    #: Batch normalisation in the UNet unless the user says otherwise (careamics: yes).
    default_batch_norm: ClassVar[bool] = True

    def __init__(
        self,
        *,
        augment: str | None = None,
        batch_norm: bool | None = None,
        tile: int = 256,
        tile_overlap: int = 48,
        device: str | None = None,
        **params: Any,
    ) -> None:
        extra = self._method_params()
        unknown = set(params) - set(_OVERRIDES) - set(_COMMON) - set(extra)
        if unknown:
            known = ["augment", "batch_norm", "tile", "tile_overlap", "device"]
            known += [*_OVERRIDES, *extra]
            raise TypeError(
                f"unknown parameter(s) {sorted(unknown)} for {type(self).__name__}; "
                f"known: {', '.join(known)}"
            )
        if augment is not None and augment not in _AUGMENTS:
            raise ValueError(f"unknown augment {augment!r}: expected one of {', '.join(_AUGMENTS)}")
        if int(tile) < 16:
            raise ValueError(f"tile must be at least 16 pixels, got {tile}")
        if int(tile_overlap) < 0:
            raise ValueError(f"tile_overlap must be >= 0, got {tile_overlap}")
        for key in _OVERRIDES:
            value = params.get(key)
            if value is not None and not float(value) > 0:
                raise ValueError(f"{key} must be positive, got {value}")
        patch = params.get("patch")
        if patch is not None and (int(patch) < 8 or int(patch) & (int(patch) - 1)):
            raise ValueError(f"patch must be a power of two >= 8 (careamics), got {patch}")
        if batch_norm is not None and not isinstance(batch_norm, bool):
            raise ValueError(f"batch_norm must be true or false, got {batch_norm!r}")
        super().__init__(
            augment=augment,
            batch_norm=batch_norm,
            tile=int(tile),
            tile_overlap=int(tile_overlap),
            device=device,
            **params,
        )
        self.net = None
        self.unet_params: dict[str, Any] | None = None
        self.careamics_config: dict[str, Any] | None = None
        self.norm: dict[str, float] = {}
        self.train_summary: dict[str, Any] = {}

    # -------------------------------------------------------------- configuration
    @classmethod
    def _method_params(cls) -> tuple[str, ...]:
        """Names of the subclass's own parameters (beyond the common ones)."""
        return ()

    @property
    def training_profile(self) -> CareamicsProfile:
        """The profile's settings with the user's overrides applied."""
        from dataclasses import replace

        prof = PROFILES[self.profile]
        changes = {}
        for key in _OVERRIDES:
            value = self.params.get(key)
            if value is not None:
                changes[key] = float(value) if key in ("lr", "mask_percent") else int(value)
        return replace(prof, **changes)

    @property
    def device(self) -> str:
        """The torch device used for training and prediction."""
        return pick_device(self.params.get("device"))

    @property
    def batch_norm(self) -> bool:
        """Whether the UNet uses batch normalisation."""
        value = self.params.get("batch_norm")
        return self.default_batch_norm if value is None else bool(value)

    @property
    def augment(self) -> str:
        """The augmentation in use."""
        return self.params.get("augment") or self.default_augment

    def _struct_mask(self, noisy, clean) -> tuple[str, int | str]:
        """``(struct_n2v_axes, span)`` of the N2V family ("none", 0 for no mask)."""
        return "none", 0

    def _config(self, x: np.ndarray, clean: np.ndarray | None, patch: int, n_val: int):
        """Build the careamics configuration for this run."""
        from careamics.config import create_advanced_care_config, create_advanced_n2v_config

        prof = self.training_profile
        seed = derive_seed(self.seed, self.name, "careamics") + 1  # careamics wants > 0
        budget = self.budget_minutes
        cuda = self.device.startswith("cuda")
        trainer = {
            "accelerator": "gpu" if cuda else "cpu",
            "devices": 1,
            "max_steps": prof.max_steps,
            "max_epochs": -1,
            "num_sanity_val_steps": 0,
            "enable_model_summary": False,
            "log_every_n_steps": 1,
        }
        if budget is not None:
            trainer["max_time"] = {"seconds": max(1.0, 60.0 * float(budget))}
        # careamics' stratified patching: about one patch per patch-area of data per epoch
        per_epoch = max(1, math.ceil(max(1, x.size // patch**2 - n_val) / prof.batch))
        patience = prof.lr_patience_steps
        patience_epochs = 10**9 if patience is None else max(1, math.ceil(patience / per_epoch))
        common = dict(
            experiment_name=self.algorithm,
            data_type="array",
            axes="SYX",
            patch_size=[patch, patch],
            batch_size=prof.batch,
            num_epochs=None,
            augmentations=_AUGMENTS[self.augment],
            n_val_patches=n_val,
            num_workers=0,
            trainer_params=trainer,
            model_params={
                "depth": prof.depth,
                "num_channels_init": prof.n_filters,
                "residual": self.residual,
                "use_batch_norm": self.batch_norm,
            },
            optimizer="Adam",
            optimizer_params={"lr": prof.lr},
            lr_scheduler="ReduceLROnPlateau",
            lr_scheduler_params={"factor": 0.5, "patience": patience_epochs},
            checkpoint_params={"save_top_k": 0, "save_last": False},
            seed=seed,
        )
        norm = {"input_means": [self.norm["mean"]], "input_stds": [self.norm["std"]]}
        if self.algorithm == "care":
            norm.update(target_means=[self.norm["t_mean"]], target_stds=[self.norm["t_std"]])
            cfg = create_advanced_care_config(
                **common,
                normalization="mean_std",
                normalization_params=norm,
                # no early stopping (careamics' default for care): training is step- and
                # time-bound like n2v's; an EarlyStopping on val_loss asked for the metric
                # at the end of a training epoch cut short by max_steps, before any
                # validation ran, and failed (smoke profile on larger images)
                early_stopping_params={},
            )
        else:
            axes, span = self._struct_mask(x, clean)
            full = span == "full"
            cfg = create_advanced_n2v_config(
                **common,
                normalization="mean_std",
                normalization_params=norm,
                masked_pixel_percentage=prof.mask_percent,
                struct_n2v_axes=axes if span not in (0, 1) else "none",
                struct_n2v_span=CAREAMICS_MAX_SPAN if full else max(3, int(span or 3)),
            )
            if full:
                # careamics validates span <= 15 at creation only; StructMaskConfig does not
                # validate assignment, so a whole-line mask is set here (see module docs)
                cfg.algorithm_config.n2v_config.struct_mask.span = 2 * patch - 1
        return cfg

    # -------------------------------------------------------------- training
    def _fit(self, noisy: np.ndarray, clean: np.ndarray | None, val) -> None:
        prof = self.training_profile
        side = min(noisy.shape[1:])
        patch = min(prof.patch, _largest_pow2(side))
        if patch < 8:  # pragma: no cover - min_size guarantees 16
            raise ValueError(f"{self.name}: images of {side} pixels are too small")
        x_std = float(np.std(noisy, dtype=np.float64))
        if not x_std > 0:
            raise ValueError(f"{self.name}: the training images are constant; nothing to learn")
        self.norm = {"mean": float(np.mean(noisy, dtype=np.float64)), "std": x_std}
        if self.algorithm == "care":
            t_std = float(np.std(clean, dtype=np.float64))
            self.norm.update(
                t_mean=float(np.mean(clean, dtype=np.float64)), t_std=t_std if t_std > 0 else 1.0
            )

        val_kw: dict[str, Any] = {}
        if val is not None:
            vn, vc = val
            if self.algorithm == "care":
                if vc is not None:
                    val_kw = {"val_data": vn, "val_data_target": vc}
            else:
                val_kw = {"val_data": vn}
        # careamics takes n_val patches out of the training data when no val is given
        n_patches = max(1, noisy.size // patch**2)
        n_val = 0 if val_kw else int(min(8, max(1, n_patches // 5)))

        quiet = not self.progress
        with _quiet(quiet):  # careamics' import creates its loggers: import it first
            from careamics import CAREamist

            from structnoise.methods.lightning_utils import divergence_guard
        with _quiet(quiet):
            cfg = self._config(noisy, clean, patch, max(n_val, 1))
        with contextlib.ExitStack() as stack:
            if self.work_dir is None:
                wd = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="structnoise-")))
            else:
                wd = Path(self.work_dir)
                wd.mkdir(parents=True, exist_ok=True)
            stack.enter_context(_quiet(quiet))
            stack.enter_context(_preserve_global_rng())
            # careamics steps the optimiser on every loss: the first non-finite one stops
            guard = divergence_guard(self.name, patience=0, monitors=("val_loss",))
            careamist = CAREamist(
                cfg, work_dir=wd, enable_progress_bar=self.progress, callbacks=[guard]
            )
            n2v_cfg = getattr(cfg.algorithm_config, "n2v_config", None)
            if n2v_cfg is not None and n2v_cfg.struct_mask is not None:
                careamist.model.n2v_manipulate = StructMaskManipulate(n2v_cfg)
            kwargs: dict[str, Any] = {"train_data": noisy}
            if self.algorithm == "care":
                kwargs["train_data_target"] = clean
            start = time.perf_counter()
            careamist.train(**kwargs, **val_kw)
            guard.finish(careamist.model.model.state_dict().values())
            trainer = careamist.trainer
            seconds = time.perf_counter() - start
            steps = int(trainer.global_step)
            self.train_summary = {
                "steps": steps,
                "epochs": int(trainer.current_epoch),
                "patch": patch,
                "seconds": round(seconds, 2),
                "minutes": round(seconds / 60.0, 3),
                "stopped_by": "max_steps" if steps >= prof.max_steps else "max_minutes",
            }
            self.history = _read_history(wd)
            net = careamist.model.model
            self.careamics_config = careamist.config.model_dump(mode="json")
            self.unet_params = careamist.config.algorithm_config.model.model_dump(mode="json")
        net.eval()
        self.net = net.to("cpu")

    # -------------------------------------------------------------- prediction
    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        dev = self.device
        if next(self.net.parameters()).device.type != torch.device(dev).type:
            self.net.to(dev)
        mean, std = self.norm["mean"], self.norm["std"]
        out_mean = self.norm.get("t_mean", mean)
        out_std = self.norm.get("t_std", std)
        t = torch.from_numpy(((batch - mean) / std).astype(np.float32))[:, None].to(dev)
        with torch.no_grad():
            y = self.net(t)[:, 0].float().cpu().numpy()
        return y * out_std + out_mean

    def _denoise(
        self, noisy: np.ndarray, *, tile: int | None = None, tile_overlap: int | None = None
    ) -> np.ndarray:
        tile = int(self.params["tile"] if tile is None else tile)
        overlap = int(self.params["tile_overlap"] if tile_overlap is None else tile_overlap)
        if tile < 16 or overlap < 0:
            raise ValueError(f"{self.name}: tile must be >= 16 and tile_overlap >= 0")
        multiple = 2 ** int(self.unet_params.get("depth", 2))
        self.net.eval()
        return predict_tiled(
            self._forward,
            noisy,
            tile=tile,
            overlap=overlap,
            multiple=multiple,
            progress=self.progress,
            desc=self.name,
        )

    # -------------------------------------------------------------- persistence
    def _save_state(self, path: Path) -> None:
        import torch
        import yaml

        from structnoise.utils import atomic_path

        if self.net is None:
            return
        with atomic_path(path / "model.pt") as tmp:
            torch.save({k: v.detach().cpu() for k, v in self.net.state_dict().items()}, tmp)
        with atomic_path(path / "unet.json") as tmp:
            tmp.write_text(json.dumps(self.unet_params, indent=2))
        with atomic_path(path / "careamics_config.yml") as tmp:
            tmp.write_text(yaml.safe_dump(self.careamics_config, sort_keys=False))

    def _load_state(self, path: Path, extra: dict) -> None:
        import torch
        from careamics.models.unet import UNet

        self.norm = {k: float(v) for k, v in extra.get("norm", {}).items()}
        self.train_summary = extra.get("train_summary", {})
        if not (path / "model.pt").is_file():
            return
        self.unet_params = json.loads((path / "unet.json").read_text())
        net = UNet(**self.unet_params)
        state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        net.eval()
        self.net = net
        cfg_file = path / "careamics_config.yml"
        if cfg_file.is_file():
            import yaml

            self.careamics_config = yaml.safe_load(cfg_file.read_text())

    def _extra_meta(self) -> dict:
        return {"norm": self.norm, "train_summary": self.train_summary}

    def load_state(self, path) -> None:
        """Restore a saved model (see :meth:`BaseDenoiser.load_state`).

        Parameters
        ----------
        path : path-like
            The folder ``save`` wrote.
        """
        super().load_state(path)
        if self.net is None:
            self.fitted = False


# ---------------------------------------------------------------------------- methods
_N2V_INFO = MethodInfo(
    description="Noise2Void (careamics): self-supervised, single-pixel blind spot; "
    "for pixel-independent noise",
    needs_clean=False,
    samples=False,
    uses_axis=False,
    learns=True,
    budgets=dict(_BUDGETS),
    paper_name=None,
)
_SN2V_INFO = MethodInfo(
    description="structured Noise2Void (careamics): blind spot plus a 1-D mask of `span` "
    "pixels along the noise axis",
    needs_clean=False,
    samples=False,
    uses_axis=True,
    learns=True,
    budgets=dict(_BUDGETS),
    paper_name="SN2V",
)
_CARE_INFO = MethodInfo(
    description="CARE (careamics): supervised UNet trained on (noisy, clean) pairs",
    needs_clean=True,
    samples=False,
    uses_axis=False,
    learns=True,
    budgets=dict(_BUDGETS),
    paper_name="CARE",
)


class N2V(CareamicsDenoiser):
    """Noise2Void (Krull et al. 2019) through careamics: single-pixel blind spot.

    The paper's choice for unstructured noise (Mouse Nuclei). Parameters as in
    :class:`CareamicsDenoiser`; ``batch_norm`` defaults to False: with careamics'
    batch-normalised UNet the quick profile on ``embedded-stripe`` ended below the noisy
    input (26.2 dB against 26.9 dB), without it above (27.8 dB), as for :class:`StructN2V`.
    """

    info: ClassVar[MethodInfo] = _N2V_INFO
    algorithm: ClassVar[str] = "n2v"
    default_augment: ClassVar[str] = "all"
    default_batch_norm: ClassVar[bool] = False


class StructN2V(CareamicsDenoiser):
    """Structured Noise2Void (Broaddus et al. 2020) through careamics.

    Parameters
    ----------
    axis : {"horizontal", "vertical"}
        Direction the noise is correlated along; the mask runs along it
        (``"horizontal"``: along X).
    span : int, "full" or None
        Mask length in pixels centred on the blind spot (odd, 1..15; 9 = the paper's
        4 pixels each side), ``"full"`` for the whole row/column of each patch (the
        paper's checkerboard mask), or None to propose one from the data with
        :func:`propose_span` during ``fit``.
    augment : {"none", "x_flip", "flips"}
        Augmentations; default ``"x_flip"``. Flips keep a 1-D mask's orientation,
        90-degree rotations would not and are refused.
    batch_norm : bool
        Default False. During training the struct mask fills a line around every blind
        spot with random values that never occur at prediction; batch-normalisation
        statistics learnt with them mis-scale the features at prediction, and the
        output drifts away as training goes on (on ``embedded-stripe`` with careamics'
        default UNet: 25.9 dB after 300 steps, 20.1 dB after 3000, the noisy input
        having 26.9 dB; without batch normalisation 28.4 dB after 600 steps).
    **params
        As in :class:`CareamicsDenoiser`.
    """

    info: ClassVar[MethodInfo] = _SN2V_INFO
    algorithm: ClassVar[str] = "n2v"
    default_augment: ClassVar[str] = "x_flip"
    default_batch_norm: ClassVar[bool] = False

    def __init__(self, *, axis: str = "horizontal", span=None, **params: Any) -> None:
        if params.get("augment") == "all":
            raise ValueError(
                "sn2v: augment='all' rotates patches by 90 degrees, which would turn the 1-D "
                "struct mask across the noise; use 'none', 'x_flip' or 'flips'"
            )
        super().__init__(axis=check_axis(axis), span=_check_span(span), **params)
        #: The span used by the last ``fit`` (the proposal when ``span`` is None).
        self.span_used: int | str | None = None

    @classmethod
    def _method_params(cls) -> tuple[str, ...]:
        return ("axis", "span")

    def _struct_mask(self, noisy, clean) -> tuple[str, int | str]:
        span = self.params["span"]
        if span is None:
            span = propose_span(noisy, self.params["axis"], clean=clean)
        self.span_used = span
        return self.params["axis"], span

    def _extra_meta(self) -> dict:
        return {**super()._extra_meta(), "span_used": self.span_used}

    def _load_state(self, path: Path, extra: dict) -> None:
        super()._load_state(path, extra)
        self.span_used = extra.get("span_used")


class CARE(CareamicsDenoiser):
    """CARE (Weigert et al. 2018) through careamics: supervised, needs clean targets.

    ``fit(noisy, clean)``; without ``clean`` it refuses with a ValueError. Evaluate it
    on images it was not trained on. Parameters as in :class:`CareamicsDenoiser`.
    """

    info: ClassVar[MethodInfo] = _CARE_INFO
    algorithm: ClassVar[str] = "care"
    default_augment: ClassVar[str] = "all"
    residual: ClassVar[bool] = True  # CSBDeep's CARE: unet_residual when channels match

    def fit(self, noisy, clean=None, *, val=None, axes: str | None = None) -> CARE:
        """Train on ``(noisy, clean)`` pairs (see :meth:`BaseDenoiser.fit`).

        Parameters
        ----------
        noisy : array_like
            ``(Y, X)`` or ``(N, Y, X)`` noisy training images.
        clean : array_like
            Clean targets of the same shape (required).
        val : tuple, optional
            ``(noisy, clean)`` validation pair; otherwise careamics holds out patches.
        axes : str, optional
            Axes of ``noisy`` and ``clean`` (see :meth:`BaseDenoiser.fit`).

        Returns
        -------
        self
        """
        if clean is None:
            raise ValueError(
                "care is supervised and needs clean targets: call fit(noisy, clean) with "
                "clean images of the same shape (e.g. `structnoise train care noisy.tif "
                "--clean clean.tif`); for data without clean images use sn2v, n2v or dvlae"
            )
        return super().fit(noisy, clean, val=val, axes=axes)


@register("n2v", info=_N2V_INFO)
def n2v(**params: Any) -> N2V:
    """Noise2Void through careamics (single-pixel blind spot)."""
    return N2V(**params)


@register("sn2v", info=_SN2V_INFO)
def sn2v(**params: Any) -> StructN2V:
    """Structured Noise2Void through careamics (``axis``, ``span``)."""
    return StructN2V(**params)


@register("care", info=_CARE_INFO)
def care(**params: Any) -> CARE:
    """Supervised CARE through careamics (needs clean targets)."""
    return CARE(**params)


def profile_table() -> list[dict[str, Any]]:
    """The training profiles as rows (for documentation and the CLI).

    Returns
    -------
    list of dict
    """
    return [{"profile": k, **asdict(v), "minutes": _BUDGETS[k]} for k, v in PROFILES.items()]
