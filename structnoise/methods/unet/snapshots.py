"""Snapshots during a careamics training: ``snapshot_hook`` for ``n2v``, ``sn2v`` and ``care``.

The benchmark evaluates learnt methods at marks *during* one training (quality against
compute). The ladder-VAE methods run their :class:`~structnoise.methods.vae.callbacks.
Snapshots` from their own training loop; careamics trains through its ``CAREamist``, so
:class:`SnapshotCallback` is a Lightning callback handed to it that, after the training
batch at each mark, calls the hook with the method usable as fitted.

What the hook sees: ``method.denoise(images)`` predicts with the live UNet exactly as
after a training stopped at that step (the same network object, in evaluation mode, with
the method's normalisation and tiling; ``CareamicsDenoiser._denoise`` under
``torch.no_grad``); careamics' own ``predict`` cannot run inside ``trainer.fit``, and is
not needed. Afterwards the network is back in training mode on its device, and Python's,
NumPy's and torch's global random states are as before the hook, so a hook changes
nothing in the training (``tests/test_careamics_snapshots.py`` checks the final weights).
The hook's time is taken off Lightning's ``max_time`` timer and off the training time the
method reports: it is not charged to the budget.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator

import lightning.pytorch as pl
import numpy as np
import torch

from structnoise.methods.vae.callbacks import Snapshots

__all__ = ["SnapshotCallback", "preserve_all_rng"]


@contextlib.contextmanager
def preserve_all_rng() -> Iterator[None]:
    """Restore Python's, NumPy's and torch's (CPU and CUDA) global random states after."""
    py_state = random.getstate()
    np_state = np.random.get_state()  # noqa: NPY002 - restoring the legacy global state
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)  # noqa: NPY002


class SnapshotCallback(pl.Callback):
    """Call a method's ``snapshot_hook`` at step (or training-minute) marks.

    Parameters
    ----------
    method : structnoise.methods.unet.denoiser.CareamicsDenoiser
        The method being trained; its ``net`` is pointed at the live UNet for the hook.
    snapshots : Snapshots
        The marks and the hook (:meth:`Snapshots.from_hook` of ``method.snapshot_hook``).

    Attributes
    ----------
    paused : float
        Seconds spent in the hook (not charged to the budget).
    """

    def __init__(self, method, snapshots: Snapshots) -> None:
        self.method = method
        self.snapshots = snapshots
        self.paused = 0.0
        self.t0 = time.monotonic()

    def on_train_start(self, trainer, pl_module) -> None:  # noqa: D102
        self.t0 = time.monotonic()

    def elapsed(self) -> float:
        """Training seconds so far, hooks not counted."""
        return time.monotonic() - self.t0 - self.paused

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: D102
        snaps = self.snapshots
        steps = int(trainer.global_step)
        elapsed = self.elapsed()
        while snaps.pending and (steps if snaps.by_steps else elapsed) >= snaps.pending[0]:
            mark = snaps.pending.pop(0)
            started = time.monotonic()
            self._call(pl_module, steps, elapsed, mark)
            spent = time.monotonic() - started
            self.paused += spent
            _credit_timer(trainer, spent)

    def _call(self, pl_module, steps: int, elapsed: float, mark: float) -> None:
        net = pl_module.model
        was_training = net.training
        device = next(net.parameters()).device
        method = self.method
        previous = method.net
        method.net = net
        net.eval()  # as denoise after fit sees it
        try:
            with preserve_all_rng(), torch.no_grad():
                self.snapshots.hook(steps, elapsed, mark)
        finally:
            method.net = previous
            net.to(device)
            net.train(was_training)


def _credit_timer(trainer, seconds: float) -> None:
    """Take ``seconds`` off the elapsed time of Lightning's ``max_time`` timer."""
    from lightning.pytorch.callbacks import Timer

    for cb in trainer.callbacks:
        if isinstance(cb, Timer):
            cb._offset -= seconds  # Lightning adds _offset to the training time elapsed
