"""The training budget (a Lightning callback), snapshots during training, weight averaging."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import lightning.pytorch as pl
import torch

from structnoise.methods.lightning_utils import budget_reached
from structnoise.methods.summary import StopReason
from structnoise.methods.vae.device import ThreadTuner
from structnoise.progress import progress_bar


class WeightAverage:
    """Exponential moving average of a network's weights and buffers.

    Evaluating with averaged weights removes much of the step-to-step fluctuation of a
    short, noisy training run (Polyak averaging). ``decay`` is warmed up as
    ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates.

    Parameters
    ----------
    net : torch.nn.Module
        The network being trained.
    decay : float
        Weight of the old average per update (e.g. 0.99).
    """

    def __init__(self, net: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {decay}")
        self.net = net
        self.decay = float(decay)
        self.updates = 0
        self.avg = {
            k: v.detach().clone() for k, v in net.state_dict().items() if v.is_floating_point()
        }

    @torch.no_grad()
    def update(self) -> None:
        """Blend the current weights into the average."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        state = self.net.state_dict()
        for k, a in self.avg.items():
            v = state[k].detach()
            if a.device != v.device:  # the trainer moved the network
                a = self.avg[k] = a.to(v.device)
            a.lerp_(v.to(a.dtype), 1.0 - d)

    @contextlib.contextmanager
    def swapped_in(self):
        """Temporarily load the averaged weights into the network."""
        backup = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
        self.load_into_net()
        try:
            yield
        finally:
            self.net.load_state_dict(backup)

    @torch.no_grad()
    def load_into_net(self) -> None:
        """Replace the network's weights by the average (at the end of training)."""
        state = self.net.state_dict()
        for k, a in self.avg.items():
            state[k].copy_(a)


@dataclass
class Snapshots:
    """Calls during training, e.g. to draw learning curves.

    Attributes
    ----------
    marks : list of float
        Training seconds (or step counts, with ``by_steps``) at which to call ``hook``.
    hook : callable
        ``hook(steps, seconds, mark)``, called with the network in evaluation mode (and
        the averaged weights swapped in); its time is not charged to the budget.
    by_steps : bool
        Whether ``marks`` are step counts.
    """

    marks: list[float]
    hook: Callable[[int, float, float], None]
    by_steps: bool = False
    pending: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.pending = sorted(self.marks)

    @classmethod
    def from_hook(cls, spec: tuple | None, method) -> Snapshots | None:
        """Snapshots for a method's ``snapshot_hook``.

        Parameters
        ----------
        spec : tuple or None
            ``(minutes, fn)`` or ``(steps, fn, "steps")``; ``fn(method, info)`` gets
            ``info = {"steps", "minutes", "mark"}`` and sees the method as fitted.
        method : structnoise.methods.base.BaseDenoiser
            The method being trained.

        Returns
        -------
        Snapshots or None
        """
        if spec is None:
            return None
        marks, user_fn = spec[:2]
        by_steps = len(spec) > 2 and spec[2] == "steps"

        def hook(steps: int, seconds: float, mark: float) -> None:
            fitted, method.fitted = method.fitted, True
            try:
                info = {"steps": steps, "minutes": seconds / 60}
                info["mark"] = mark if by_steps else mark / 60
                user_fn(method, info)
            finally:
                method.fitted = fitted

        if by_steps:
            return cls([int(m) for m in marks], hook, by_steps=True)
        return cls([60.0 * float(m) for m in marks], hook)


class Budget(pl.Callback):
    """Stops at ``max_steps`` or after ``max_seconds``; shows a bar with losses and time left.

    Also times the steps for a :class:`~structnoise.methods.vae.device.ThreadTuner` and
    runs :class:`Snapshots`, whose time is not counted against the budget.

    Parameters
    ----------
    max_steps : int or None
        Step limit.
    max_seconds : float or None
        Wall-clock budget.
    t0 : float
        ``time.monotonic()`` when training started.
    progress : bool
        Show the bar.
    desc : str
        Label of the bar.
    snapshots : Snapshots, optional
        Calls during training.
    tuner : ThreadTuner, optional
        CPU thread tuning.

    Attributes
    ----------
    stopped_by : StopReason
        Why training stopped (early stopping unless a budget ran out).
    paused : float
        Seconds spent in snapshot hooks.
    """

    def __init__(
        self,
        *,
        max_steps: int | None,
        max_seconds: float | None,
        t0: float,
        progress: bool = False,
        desc: str = "train",
        snapshots: Snapshots | None = None,
        tuner: ThreadTuner | None = None,
    ) -> None:
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.t0 = t0
        self.snapshots = snapshots
        self.tuner = tuner
        self.stopped_by = StopReason.EARLY_STOPPING
        self.paused = 0.0
        self.bar = progress_bar(
            total=max_steps, desc=desc, unit="step", disable=not progress, leave=False
        )

    def elapsed(self) -> float:
        """Training seconds so far (snapshot hooks not counted)."""
        return time.monotonic() - self.t0 - self.paused

    def fraction(self, steps: int) -> float:
        """Fraction of the budget (steps or time, whichever is further) used.

        Parameters
        ----------
        steps : int
            Batches trained so far.

        Returns
        -------
        float
            In ``[0, 1]``.
        """
        frac = 0.0
        if self.max_steps is not None:
            frac = steps / max(1, self.max_steps)
        if self.max_seconds is not None:
            frac = max(frac, self.elapsed() / self.max_seconds)
        return min(1.0, frac)

    def on_train_batch_start(self, trainer, module, batch, batch_idx):  # noqa: D102
        if self.tuner is not None:
            self.tuner.start_step()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):  # noqa: D102
        if self.tuner is not None:
            self.tuner.end_step()
        self.bar.update(1)
        elapsed = self.elapsed()
        if self.snapshots is not None:
            self._snapshots(module, elapsed)
        stop = budget_reached(
            self.bar,
            module.last_train,
            module.n_batches,
            elapsed,
            self.max_steps,
            self.max_seconds,
        )
        if stop is not None:
            self.stopped_by = stop
            trainer.should_stop = True

    def _snapshots(self, module, elapsed: float) -> None:
        snaps = self.snapshots
        pending = snaps.pending
        while pending and (module.n_batches if snaps.by_steps else elapsed) >= pending[0]:
            mark = pending.pop(0)
            started = time.monotonic()
            was_training = module.training
            module.eval()
            try:
                averaged = module.averaged_weights()
                with averaged.swapped_in() if averaged else contextlib.nullcontext():
                    snaps.hook(module.n_batches, elapsed, mark)
            finally:
                module.train(was_training)
            self.paused += time.monotonic() - started

    def close(self) -> None:
        """Close the progress bar."""
        self.bar.close()
