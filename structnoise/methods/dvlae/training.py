"""DVLAE's LightningModule: two Adamax optimisers, KL terms, the signal-decoder-only finish.

As in the paper and the authors' code: the VAE and the AR decoder share one Adamax
optimiser (loss: negative ELBO), the signal decoder has its own (loss: MSE on the
detached s_code); gradients are summed over the ``accumulate`` batches of a step; each
optimiser has a ReduceLROnPlateau schedule on its validation loss (or the profile's budget
schedule); early stopping watches the validation signal-decoder loss (the monitor of the
authors' training notebook). With a direct denoiser (``net.direct``, see
:mod:`structnoise.methods.dvlae.direct`) a third Adamax optimiser trains it on the signal
decoder's detached output for the batch's posterior sample, in the joint phase and in the
signal-decoder-only finish. The loop around it (crops, budget,
weight average, divergence guard) is the shared one of
:func:`structnoise.methods.vae.training.fit_network`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from structnoise.methods.dvlae.direct import direct_loss
from structnoise.methods.dvlae.network import DVLAENet, Losses
from structnoise.methods.dvlae.profiles import FreeBitsUnit, TrainingProfile
from structnoise.methods.vae.options import LRSchedule
from structnoise.methods.vae.training import LadderModule


class DVLAEModule(LadderModule):
    """Manual optimisation of the two optimisers, with gradient accumulation.

    Parameters
    ----------
    net : DVLAENet
        The network.
    prof : TrainingProfile
        The training profile.
    history : list, optional
        Receives one dict of losses per epoch.

    Attributes
    ----------
    finishing_started : bool
        Whether the signal decoder trains alone on the frozen encoder (``sd_finish``).
    finish_start_step : int or None
        The batch count at which it started.
    """

    monitor = "val_sd"
    train_names = ("elbo", "nll", "kl", "sd")
    val_names = ("val_elbo", "val_kl", "val_sd")

    def __init__(self, net: DVLAENet, prof: TrainingProfile, history: list | None = None):
        super().__init__(net, prof, history)
        if self.direct is not None:
            self.train_names = (*type(self).train_names, "direct")
            self.val_names = (*type(self).val_names, "val_direct")
        self.automatic_optimization = False
        self.finishing_started = False
        self.finish_start_step: int | None = None
        self._kl_levels: list[np.ndarray] = []

    @property
    def direct(self) -> torch.nn.Module | None:
        """The network's direct denoiser (None: it has none)."""
        return getattr(self.net, "direct", None)

    def configure_optimizers(self):  # noqa: D102
        vae_params = list(self.net.vae.parameters()) + list(self.net.ar.parameters())
        opt_vae = torch.optim.Adamax(vae_params, lr=self.prof.lr)
        opt_sd = torch.optim.Adamax(self.net.sd.parameters(), lr=self.prof.lr)
        if LRSchedule(self.prof.lr_schedule) is LRSchedule.PLATEAU:
            self.plateau(opt_vae, "val_elbo")
            self.plateau(opt_sd, "val_sd")
        if self.direct is None:
            return [opt_vae, opt_sd]
        opt_direct = torch.optim.Adamax(self.direct.parameters(), lr=self.prof.lr)
        if LRSchedule(self.prof.lr_schedule) is LRSchedule.PLATEAU:
            self.plateau(opt_direct, "val_direct")
        return [opt_vae, opt_sd, opt_direct]

    def averaged_weights(self):
        """The average stands for the model until the finishing phase (which loads it)."""
        return None if self.finishing_started else self.ema

    def finish(self) -> None:
        """Keep the averaged weights (already loaded if the finishing phase ran)."""
        if not self.finishing_started:
            super().finish()

    def losses(self, batch: torch.Tensor) -> Losses:
        """The network's loss terms for a batch, in the training arithmetic."""
        with self.autocast():
            return self.net.losses(self.layout(batch))

    def direct_term(self, batch: torch.Tensor, s_hat: torch.Tensor) -> torch.Tensor | None:
        """The direct denoiser's loss against the signal decoder's output (None: no direct).

        Parameters
        ----------
        batch : torch.Tensor
            The normalised noisy crops.
        s_hat : torch.Tensor
            The signal decoder's output for their posterior sample (detached here).

        Returns
        -------
        torch.Tensor or None
        """
        if self.direct is None:
            return None
        with self.autocast():
            pred = self.direct(self.layout(batch))
        return direct_loss(pred, s_hat, self.prof.direct_loss)

    def warm_up_lr(self, optimizers) -> None:
        """During ``lr_warmup_steps`` optimiser steps, scale the learning rate linearly.

        The factor multiplies the budget schedule's rate (or the profile's ``lr`` under the
        plateau schedule, which cannot have acted yet); at the end of the warm-up the rate
        is left at the full value.
        """
        warm = int(self.prof.lr_warmup_steps)
        step = self.n_batches // self.prof.accumulate
        if warm <= 0 or step > warm:
            return
        factor = step / warm
        budget = LRSchedule(self.prof.lr_schedule).factor(
            self.fraction(self.n_batches) if self.fraction is not None else 0.0
        )
        for o in optimizers:
            for group in o.param_groups:
                group["lr"] = self.prof.lr * factor * (1.0 if budget is None else budget)

    def kl_weight(self) -> float:
        """The KL warm-up factor of the next batch."""
        if self.prof.kl_warmup_steps <= 0:
            return 1.0
        return min(1.0, (self.n_batches + 1) / self.prof.kl_warmup_steps)

    def kl_term(self, losses: Losses) -> torch.Tensor:
        """The KL part of the loss, with free bits and warm-up."""
        prof = self.prof
        if prof.free_bits > 0 and prof.free_bits_unit == FreeBitsUnit.LATENT:
            per = losses.latents_per_pixel
            kl = (torch.clamp(losses.kl_levels / per, min=prof.free_bits) * per).sum()
        elif prof.free_bits > 0:
            kl = torch.clamp(losses.kl_levels, min=prof.free_bits).sum()
        else:
            kl = losses.kl
        return self.kl_weight() * kl

    def finishing(self) -> bool:
        """Whether training is in its final, signal-decoder-only phase."""
        if self.finishing_started:
            return True
        if self.prof.sd_finish <= 0 or self.fraction is None:
            return False
        if self.fraction(self.n_batches) < 1.0 - self.prof.sd_finish:
            return False
        self.finishing_started = True
        self.finish_start_step = self.n_batches
        if self.ema is not None:  # the averaged encoder is the final one
            self.ema.load_into_net()
        for o in self.optimizers():
            o.zero_grad(set_to_none=True)
        for p in list(self.net.vae.parameters()) + list(self.net.ar.parameters()):
            p.requires_grad_(False)
        return True

    def finishing_step(self, batch: torch.Tensor) -> None:
        """Train the signal decoder alone on the frozen encoder in evaluation mode."""
        self.net.vae.eval()
        self.net.ar.eval()
        b = self.layout(batch)
        with torch.no_grad(), self.autocast():
            s_code = self.net.vae(b).s_code
        with self.autocast():
            s_hat = self.net.sd(s_code)
        sd = torch.nn.functional.mse_loss(s_hat.float(), b.float())
        direct = self.direct_term(batch, s_hat)
        total = sd if direct is None else sd + direct
        opts = self.optimizers()[1:]
        self.step_loss = float(total.detach())
        if math.isfinite(self.step_loss):
            self.manual_backward(total)
            for o in opts:
                o.step()
        for o in opts:
            o.zero_grad(set_to_none=True)
        self.n_batches += 1
        nan = float("nan")
        sd_value = float(sd.detach())
        values: tuple[float, ...] = (nan, nan, nan, sd_value)
        shown = {"sd": sd_value}
        if direct is not None:
            values = (*values, float(direct.detach()))
            shown["direct"] = values[-1]
        self.record_train(values, shown=shown)

    def training_step(self, batch, batch_idx):  # noqa: D102
        if self.finishing():
            return self.finishing_step(batch)
        prof = self.prof
        losses = self.losses(batch)
        loss = losses.nll + self.kl_term(losses)
        # Gradients are summed over the accumulated batches, as in the authors' code. (Adamax
        # is invariant to their scale but for its eps, so averaging them instead would
        # change the steps of parameters with small gradients; with accumulate=1 it is
        # the same.)
        total = loss + losses.sd
        direct = self.direct_term(batch, losses.s_hat)
        if direct is not None:  # its own parameters: the sum leaves the other gradients as they are
            total = total + direct
        opts = self.optimizers()
        self.step_loss = float(total.detach())
        if math.isfinite(self.step_loss):
            self.manual_backward(total)
        else:  # never let one bad batch poison the weights (the guard counts them)
            self.skipped += 1
            for o in opts:
                o.zero_grad(set_to_none=True)
        self.n_batches += 1
        if self.n_batches % prof.accumulate == 0:
            self.schedule_lr(self.n_batches, opts)
            self.warm_up_lr(opts)
            for o in opts:
                o.step()
                o.zero_grad(set_to_none=True)
            if self.ema is not None and not self.finishing_started:
                self.ema.update()
        terms = (losses.elbo, losses.nll, losses.kl, losses.sd)
        values = [float(t.detach()) for t in (*terms, *([] if direct is None else [direct]))]
        self.record_train(values)
        self._kl_levels.append(losses.kl_levels.detach().float().cpu().numpy())

    def validation_step(self, batch, batch_idx):  # noqa: D102
        if self.finishing_started:
            self.net.vae.eval()
        with torch.no_grad():
            losses = self.losses(batch)
            direct = self.direct_term(batch, losses.s_hat)
        values = (float(losses.elbo), float(losses.kl), float(losses.sd))
        if direct is not None:
            values = (*values, float(direct))
        self.record_val(values, batch.shape[0])

    def logged(self, val: dict[str, float]) -> dict[str, float]:  # noqa: D102
        out = {"val_elbo": val["val_elbo"], "val_sd": val["val_sd"]}
        if "val_direct" in val:
            out["val_direct"] = val["val_direct"]
        return out

    def epoch_row(self, train: np.ndarray, val: dict[str, float]) -> dict:  # noqa: D102
        kl_levels = np.mean(self._kl_levels, axis=0) if self._kl_levels else []
        self._kl_levels = []
        joint = not self.finishing_started
        nan = float("nan")
        opts = self.optimizers()
        direct = {}
        if self.direct is not None:
            direct = {
                "train_direct": float(np.mean(train[:, 4])),
                "lr_direct": float(opts[2].param_groups[0]["lr"]),
            }
        return {
            **direct,
            "train_elbo": float(np.nanmean(train[:, 0])) if joint else nan,
            "train_nll": float(np.nanmean(train[:, 1])) if joint else nan,
            "train_kl": float(np.nanmean(train[:, 2])) if joint else nan,
            "train_sd": float(np.mean(train[:, 3])),
            "phase": "joint" if joint else "signal decoder only",
            "train_kl_levels": [round(float(v), 5) for v in kl_levels],
            **val,
            "lr": float(opts[0].param_groups[0]["lr"]),
            "lr_sd": float(opts[1].param_groups[0]["lr"]),
        }
