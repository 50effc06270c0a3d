"""HDN's LightningModule: Adamax on :func:`~structnoise.methods.hdn.network.hdn_losses`.

As in the HDN authors' code: one Adamax optimiser, ReduceLROnPlateau on the validation
loss (stepped once per epoch) or, for budget-limited profiles (``anneal``), a cosine
decay of the learning rate over the budget; optional early stopping. The loop around it
(crops, budget, divergence guard) is the shared one of
:func:`structnoise.methods.vae.training.fit_network`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from structnoise.methods.hdn.network import HDNNet, hdn_losses
from structnoise.methods.hdn.profiles import HDNProfile
from structnoise.methods.vae.options import LRSchedule
from structnoise.methods.vae.training import LadderModule

__all__ = ["HDNModule"]


class HDNModule(LadderModule):
    """Automatic optimisation of :func:`hdn_losses`; a non-finite batch skips its step.

    Parameters
    ----------
    net : HDNNet
        The network.
    prof : HDNProfile
        The training profile.
    log_likelihood : callable
        ``log_likelihood(x_norm, s_norm)`` of the noise model (normalised units in).
    free_bits : float
        Free bits per sample and level (nats).
    history : list, optional
        Receives one dict of losses per epoch.
    """

    monitor = "val_loss"
    train_names = ("loss", "nll", "kl")
    val_names = ("val_loss", "val_nll", "val_kl")

    def __init__(
        self,
        net: HDNNet,
        prof: HDNProfile,
        log_likelihood,
        free_bits: float,
        history: list | None = None,
    ) -> None:
        super().__init__(net, prof, history)
        self.log_likelihood = log_likelihood
        self.free_bits = float(free_bits)

    def configure_optimizers(self):  # noqa: D102
        opt = torch.optim.Adamax(self.net.parameters(), lr=self.prof.lr)
        if self.prof.lr_schedule is LRSchedule.PLATEAU:
            self.plateau(opt, "val_loss")
        return opt

    def training_step(self, batch, batch_idx):  # noqa: D102
        self.schedule_lr(self.n_batches, [self.optimizers()])
        losses = hdn_losses(self.net, self.log_likelihood, batch, self.free_bits)
        self.n_batches += 1
        self.step_loss = float(losses.loss.detach())
        if not math.isfinite(self.step_loss):  # the divergence guard counts these
            self.skipped += 1
            return None  # Lightning skips the optimiser step
        self.record_train([float(t.detach()) for t in (losses.loss, losses.nll, losses.kl)])
        return losses.loss

    def validation_step(self, batch, batch_idx):  # noqa: D102
        losses = hdn_losses(self.net, self.log_likelihood, batch, self.free_bits)
        values = (float(losses.loss), float(losses.nll), float(losses.kl))
        self.record_val(values, int(batch.shape[0]))

    def logged(self, val: dict[str, float]) -> dict[str, float]:  # noqa: D102
        loss = val["val_loss"]
        return {"val_loss": loss if math.isfinite(loss) else float("inf")}

    def epoch_row(self, train: np.ndarray, val: dict[str, float]) -> dict:  # noqa: D102
        return {
            "train_loss": float(np.mean(train[:, 0])),
            "train_nll": float(np.mean(train[:, 1])),
            "train_kl": float(np.mean(train[:, 2])),
            **val,
            "lr": float(self.optimizers().param_groups[0]["lr"]),
        }
