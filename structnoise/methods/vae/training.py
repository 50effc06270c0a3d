"""The Lightning loop of the ladder-VAE methods: a base LightningModule and :func:`fit_network`.

:func:`fit_network` trains a method's :class:`LadderModule` on random crops until the
step limit, the time budget or early stopping ends it (the :class:`~.callbacks.Budget`),
with an optional weight average, bfloat16 autocast, channels-last layout and CPU thread
tuning. No logger, no checkpoints: nothing is written outside ``work_dir`` (a temporary
folder when not given). A batch with a non-finite loss is skipped (no optimiser step);
three in a row, more than 20 in all, non-finite weights or a non-finite validation loss
stop training with :class:`~structnoise.methods.base.TrainingDivergedError` (the
:class:`~structnoise.methods.lightning_utils.DivergenceGuard`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping

from structnoise.methods.lightning_utils import DivergenceGuard, fit_quietly
from structnoise.methods.vae.callbacks import Budget, Snapshots, WeightAverage
from structnoise.methods.vae.data import (
    RandomCrops,
    ResampledCrops,
    crops_that_fit,
    epoch_length,
)
from structnoise.methods.vae.device import ThreadTuner, autocast, memory_format, resolve_precision
from structnoise.methods.vae.options import LRSchedule, Precision
from structnoise.methods.vae.results import FitResult

#: Consecutive / total non-finite training losses skipped before training counts as
#: diverged (a skipped batch leaves the weights untouched).
NONFINITE_PATIENCE = 2
NONFINITE_MAX = 20


class LoopProfile(Protocol):
    """What the loop reads from a method's training profile.

    ``val_crops`` None means as many crops as fit into the validation images (see
    :func:`~structnoise.methods.vae.data.crops_that_fit`). A profile may also have
    ``val_resample`` (default False): draw new validation crops every epoch instead of
    one fixed set.
    """

    crop: int
    batch: int
    lr: float
    lr_schedule: LRSchedule
    steps_per_epoch: int | None
    val_crops: int | None
    plateau_patience: int
    plateau_factor: float
    early_stop_patience: int | None


class LadderModule(pl.LightningModule):
    """The bookkeeping every ladder-VAE LightningModule shares.

    Subclasses implement ``configure_optimizers``, ``training_step`` and
    ``validation_step`` (recording with :meth:`record_train` / :meth:`record_val`) and
    :meth:`epoch_row`; this class averages the validation losses, steps the plateau
    schedules, logs the monitored losses and keeps one history row per epoch.

    Parameters
    ----------
    net : torch.nn.Module
        The network.
    prof : LoopProfile
        The training profile.
    history : list, optional
        Receives one dict per epoch as training goes.

    Attributes
    ----------
    monitor : str
        The validation loss early stopping watches.
    train_names : tuple of str
        Names of the values :meth:`record_train` receives.
    val_names : tuple of str
        Names of the values :meth:`record_val` receives.
    n_batches : int
        Training batches so far.
    skipped : int
        Batches skipped for a non-finite loss.
    step_loss : float
        The last batch's loss (read by the divergence guard).
    last_train : dict
        The last batch's losses (shown on the progress bar).
    """

    monitor: ClassVar[str] = "val_loss"
    train_names: ClassVar[tuple[str, ...]] = ()
    val_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, net: torch.nn.Module, prof: LoopProfile, history: list | None = None):
        super().__init__()
        self.net = net
        self.prof = prof
        self.n_batches = 0
        self.skipped = 0
        self.step_loss = math.nan
        self.last_train: dict[str, float] = {}
        self.epoch_log: list[dict] = [] if history is None else history
        self.plateaus: list[tuple[Any, str]] = []
        self.ema: WeightAverage | None = None
        self.fraction = None
        self.precision = Precision.FLOAT32
        self.device_name = "cpu"
        self.memory_format = torch.contiguous_format
        self._train_rows: list[tuple[float, ...]] = []
        self._val_rows: list[tuple[float, ...]] = []

    def attach(self, *, budget: Budget, ema, precision: str, device: str, layout) -> None:
        """Connect the loop's budget, weight average, arithmetic and memory layout."""
        self.fraction = budget.fraction
        self.ema = ema
        self.precision = precision
        self.device_name = device
        self.memory_format = layout

    def autocast(self):
        """The autocast context of the training arithmetic."""
        return autocast(self.precision, self.device_name)

    def layout(self, batch: torch.Tensor) -> torch.Tensor:
        """``batch`` in the training memory layout."""
        return batch.contiguous(memory_format=self.memory_format)

    def averaged_weights(self) -> WeightAverage | None:
        """The weight average that stands for the model now (None: the current weights)."""
        return self.ema

    def finish(self) -> None:
        """At the end of training: keep the averaged weights, if any."""
        if self.ema is not None:
            self.ema.load_into_net()

    def plateau(self, optimizer, monitor: str) -> None:
        """Add a ReduceLROnPlateau of ``optimizer`` on the validation loss ``monitor``."""
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=self.prof.plateau_factor,
            patience=self.prof.plateau_patience,
        )
        self.plateaus.append((sched, monitor))

    def schedule_lr(self, steps: int, optimizers: Sequence) -> None:
        """Set the learning rate of the budget schedules for ``steps`` batches trained.

        Parameters
        ----------
        steps : int
            The batch count the budget's spent fraction is measured at.
        optimizers : sequence of torch.optim.Optimizer
            Their every parameter group gets ``lr * factor``.
        """
        if self.fraction is None:
            return
        factor = LRSchedule(self.prof.lr_schedule).factor(self.fraction(steps))
        if factor is None:
            return
        for o in optimizers:
            for group in o.param_groups:
                group["lr"] = self.prof.lr * factor

    def record_train(self, values: Sequence[float], shown: dict | None = None) -> None:
        """Keep one batch's training losses (named by ``train_names``).

        Parameters
        ----------
        values : sequence of float
            The batch's losses, for the epoch's means.
        shown : dict, optional
            What the progress bar shows (default: every value by name).
        """
        self._train_rows.append(tuple(values))
        self.last_train = (
            dict(zip(self.train_names, values, strict=True)) if shown is None else shown
        )

    def record_val(self, values: Sequence[float], n: int) -> None:
        """Keep one validation batch's losses (named by ``val_names``) and its size."""
        self._val_rows.append((*values, n))

    def on_validation_epoch_end(self):  # noqa: D102
        if not self._val_rows:
            return
        arr = np.asarray(self._val_rows, dtype=np.float64)
        self._val_rows = []
        n = arr[:, -1].sum()
        val = {k: float((arr[:, i] * arr[:, -1]).sum() / n) for i, k in enumerate(self.val_names)}
        for sched, key in self.plateaus:
            if math.isfinite(val[key]):
                sched.step(val[key])
        for name, value in self.logged(val).items():
            self.log(name, value, prog_bar=False)
        rows = self._train_rows or [(math.nan,) * len(self.train_names)]
        train = np.asarray(rows, dtype=float)
        self._train_rows = []
        row = {"epoch": int(self.current_epoch), "steps": int(self.n_batches)}
        self.epoch_log.append({**row, **self.epoch_row(train, val)})

    def logged(self, val: dict[str, float]) -> dict[str, float]:
        """The validation losses to log (early stopping and the divergence guard read them)."""
        return {self.monitor: val[self.monitor]}

    def epoch_row(self, train: np.ndarray, val: dict[str, float]) -> dict:
        """The history row of an epoch (after ``epoch`` and ``steps``).

        Parameters
        ----------
        train : numpy.ndarray
            The epoch's training losses, one row per batch (one row of NaN when none
            was recorded), columns as ``train_names``.
        val : dict
            Mean validation losses by name.

        Returns
        -------
        dict
        """
        raise NotImplementedError


def _validation_batches(images, prof: LoopProfile, seed: int, by_area: bool):
    """The validation batches: a fixed list, or a :class:`ResampledCrops` (``val_resample``)."""
    n = prof.val_crops
    val = RandomCrops(images, prof.crop, 1 if n is None else n, 1, seed, by_area=by_area)
    if n is None:
        n = crops_that_fit(val)
    if getattr(prof, "val_resample", False):
        return ResampledCrops(val, n, prof.batch)
    return list(val.draw(n).split(prof.batch))


def fit_network(
    module: LadderModule,
    train_images: Sequence[torch.Tensor],
    val_images: Sequence[torch.Tensor],
    *,
    seed: int,
    max_steps: int | None,
    max_seconds: float | None,
    device: str,
    by_area: bool = False,
    augment: bool = False,
    precision: str = "32",
    channels_last: bool = False,
    threads: str | None = None,
    ema_decay: float | None = None,
    progress: bool = False,
    work_dir: str | None = None,
    snapshots: Snapshots | None = None,
    method: str | None = None,
    label: str = "",
) -> FitResult:
    """Train ``module.net`` in place on random crops (see the module documentation).

    Parameters
    ----------
    module : LadderModule
        The method's LightningModule (its ``prof`` sets crops, batches and schedules).
    train_images, val_images : sequence of torch.Tensor
        ``(1, Y, X)`` normalised images (CPU) for training and for the validation crops
        (drawn with ``seed + 1``: once, or anew every epoch with the profile's
        ``val_resample``).
    seed : int
        Seed of the crops (the weights are seeded by the caller).
    max_steps : int or None
        Limit on training batches.
    max_seconds : float or None
        Wall-clock budget.
    device : str
        Torch device.
    by_area, augment : bool
        How crops are drawn (see :class:`~structnoise.methods.vae.data.RandomCrops`).
    precision : {"32", "bf16", "auto"}
        Training arithmetic.
    channels_last : bool
        Train in the channels-last memory layout.
    threads : {"auto", "fixed"} or None
        CPU thread tuning (see :class:`~structnoise.methods.vae.device.ThreadTuner`).
    ema_decay : float, optional
        Keep an exponential moving average of the weights and end with it.
    progress : bool
        Show a progress bar.
    work_dir : str, optional
        Lightning's root folder (a temporary folder when None).
    snapshots : Snapshots, optional
        Calls during training.
    method : str, optional
        The method's name, for the error message of a diverging run.
    label : str
        The method's label on the progress bar.

    Returns
    -------
    FitResult

    Raises
    ------
    structnoise.methods.base.TrainingDivergedError
        When training diverges (see the module documentation).
    """
    t0 = time.monotonic()
    prof, net = module.prof, module.net
    data = RandomCrops(
        train_images, prof.crop, prof.batch, 1, seed, by_area=by_area, augment=augment
    )
    data.length = epoch_length(data, prof.steps_per_epoch, max_steps)
    loader = torch.utils.data.DataLoader(data, batch_size=None, shuffle=False, num_workers=0)
    val_loader = torch.utils.data.DataLoader(
        _validation_batches(val_images, prof, seed + 1, by_area),
        batch_size=None,
        shuffle=False,
        num_workers=0,
    )
    precision = resolve_precision(precision, device)
    layout = memory_format(channels_last)
    if channels_last:
        net.to(memory_format=layout)
    tuner = ThreadTuner.for_setting(threads, device)
    ema = WeightAverage(net, ema_decay) if ema_decay else None
    budget = Budget(
        max_steps=max_steps,
        max_seconds=max_seconds,
        t0=t0,
        progress=progress,
        desc=f"train {label}".strip(),
        snapshots=snapshots,
        tuner=tuner,
    )
    schedule = LRSchedule(prof.lr_schedule)
    if schedule is not LRSchedule.PLATEAU and max_steps is None and max_seconds is None:
        raise ValueError(f"lr_schedule={schedule.value!r} needs a step limit or a time budget")
    module.attach(budget=budget, ema=ema, precision=precision, device=device, layout=layout)
    guard = DivergenceGuard(
        method,
        patience=NONFINITE_PATIENCE,
        max_bad=NONFINITE_MAX,
        loss_of=lambda mod, outputs: mod.step_loss,
        monitors=(module.monitor,),
    )
    callbacks: list = [guard, budget]
    if prof.early_stop_patience is not None:
        callbacks.append(
            EarlyStopping(monitor=module.monitor, patience=prof.early_stop_patience, mode="min")
        )
    try:
        fit_quietly(
            module,
            loader,
            val_loader,
            callbacks=callbacks,
            device=device,
            work_dir=work_dir,
            prefix=f"{label.lower() or 'ladder'}-",
        )
    finally:
        budget.close()
        if tuner is not None:
            tuner.restore()
    module.finish()
    guard.finish(net.state_dict().values())
    for p in net.parameters():
        p.requires_grad_(True)
    net.cpu()
    if channels_last:
        net.to(memory_format=torch.contiguous_format)
    return FitResult(
        steps=module.n_batches,
        seconds=budget.elapsed(),
        stopped_by=budget.stopped_by,
        history=module.epoch_log,
        precision=precision,
        threads=tuner.summary() if tuner is not None else {str(torch.get_num_threads()): -1},
        skipped=module.skipped,
    )
