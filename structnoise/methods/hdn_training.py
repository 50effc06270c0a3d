"""HDN's network, loss and Lightning training loop (used by :mod:`structnoise.methods.hdn`).

* :class:`HDNNet`: the project's :class:`~structnoise.methods.ladder.LadderVAE` and a 3x3
  convolution from its s_code to the signal (the location of the noise-model
  likelihood), as ``NoiseModelLikelihood.parameter_net`` in the HDN authors' code.
* :func:`hdn_losses`: the HDN authors' objective (``boilerplate.forward_pass``): mean
  negative log-likelihood per pixel under the noise model, plus the KL divergence of
  every conditioned level with free bits (each sample's KL of each level is clamped from
  below at ``free_bits`` nats, then averaged over the batch, summed over levels) divided
  by the number of pixels.
* :func:`train`: Adamax, ReduceLROnPlateau on the validation loss (stepped once per
  epoch) or, for budget-limited profiles, a cosine decay of the learning rate over the
  budget; optional early stopping, and a wall-clock/step budget that stops cleanly. No
  logger, no checkpoints: nothing is written outside ``work_dir`` (a temporary folder
  when not given). A batch with a non-finite loss is skipped; three in a row, more than
  20 in all, non-finite weights or a non-finite validation loss stop training with
  :class:`~structnoise.methods.base.TrainingDivergedError`
  (:func:`~structnoise.methods.lightning_utils.divergence_guard`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from structnoise.methods.ladder import LadderVAE
from structnoise.methods.lightning_utils import (
    budget_reached,
    divergence_guard,
    fit_quietly,
    quiet_lightning,
)

#: Consecutive / total non-finite training losses skipped before training counts as
#: diverged (a skipped batch leaves the weights untouched).
NONFINITE_PATIENCE = 2
NONFINITE_MAX = 20


class HDNNet(nn.Module):
    """Ladder VAE + signal head (HDN's generative model without the noise model).

    Parameters
    ----------
    n_filters : int
        Feature channels.
    z_dims : sequence of int
        Latent channels per level (bottom first).
    uncond_levels : sequence of int
        Levels whose posterior is the prior (HDN_{3-6}: ``[0, 1]``).
    dropout : float
        Dropout2d rate in the residual blocks.
    blocks_per_level : int
        Residual blocks per level and path.
    """

    def __init__(
        self,
        *,
        n_filters: int,
        z_dims: Sequence[int],
        uncond_levels: Sequence[int] = (),
        dropout: float = 0.0,
        blocks_per_level: int = 1,
    ) -> None:
        super().__init__()
        self.vae = LadderVAE(
            n_filters=n_filters,
            z_dims=z_dims,
            uncond_levels=uncond_levels,
            dropout=dropout,
            blocks_per_level=blocks_per_level,
        )
        self.head = nn.Conv2d(n_filters, 1, 3, padding=1, padding_mode="replicate")

    @property
    def uncond_levels(self) -> list[int]:
        """Levels that take the prior."""
        return list(self.vae.uncond_levels)

    def forward(self, x: torch.Tensor, *, use_mean: bool = False, mean_levels=()):
        """Signal (normalised units) and the ladder's output for a normalised batch.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, 1, H, W)``.
        use_mean : bool
            Means instead of samples at every level.
        mean_levels : sequence of int
            Levels that use their mean while the others sample.

        Returns
        -------
        signal : torch.Tensor
            ``(B, 1, H, W)``.
        out : structnoise.methods.ladder.LadderOutput
        """
        out = self.vae(x, use_mean=use_mean, mean_levels=mean_levels)
        return self.head(out.s_code), out

    def decode(self, bu, size, *, use_mean: bool = False, mean_levels=()) -> torch.Tensor:
        """Signal from bottom-up features (see ``LadderVAE.decode_top_down``).

        Parameters
        ----------
        bu : list of torch.Tensor
            ``LadderVAE.encode_bottom_up`` output (possibly expanded along the batch).
        size : (int, int)
            Unpadded ``(H, W)``.
        use_mean : bool
            Means instead of samples.
        mean_levels : sequence of int
            Levels using their mean.

        Returns
        -------
        torch.Tensor
            ``(B, 1, H, W)`` signal in normalised units.
        """
        out = self.vae.decode_top_down(bu, size, use_mean=use_mean, mean_levels=mean_levels)
        return self.head(out.s_code)


@dataclass
class Losses:
    """One batch's objective and its parts (per pixel, nats)."""

    loss: torch.Tensor
    nll: torch.Tensor
    kl: torch.Tensor
    kl_levels: torch.Tensor

    @property
    def elbo(self) -> torch.Tensor:
        """Negative ELBO per pixel without free bits."""
        return self.nll + self.kl


def hdn_losses(net: HDNNet, log_likelihood, x: torch.Tensor, free_bits: float) -> Losses:
    """HDN's training objective for a normalised batch.

    Parameters
    ----------
    net : HDNNet
        The network.
    log_likelihood : callable
        ``log_likelihood(x_norm, s_norm)``: elementwise log densities of the noise model.
    x : torch.Tensor
        ``(B, 1, H, W)`` normalised noisy crops.
    free_bits : float
        Nats per sample and level below which the KL is not penalised (0 = plain ELBO).

    Returns
    -------
    Losses
    """
    signal, out = net(x)
    ll = log_likelihood(x, signal)
    nll = -ll.mean()
    pixels = float(x.shape[-2] * x.shape[-1])
    cond = [i for i in range(len(out.kl)) if i not in net.uncond_levels]
    kl_sl = torch.stack([out.kl[i].sum(dim=(1, 2, 3)) for i in cond], dim=1)  # (B, levels)
    kl_plain = kl_sl.mean(0)
    kl_opt = kl_sl.clamp(min=free_bits).mean(0) if free_bits > 1e-6 else kl_plain
    return Losses(
        loss=nll + kl_opt.sum() / pixels,
        nll=nll,
        kl=kl_plain.sum() / pixels,
        kl_levels=kl_plain.detach(),
    )


@dataclass
class FitResult:
    """What training did."""

    steps: int
    seconds: float
    stopped_by: str
    history: list[dict]
    skipped_batches: int


class CropBatches(torch.utils.data.Dataset):
    """``length`` batches of random square crops from a list of images.

    Images are drawn with probability proportional to their area; each crop gets one of
    the 8 rotations/flips when ``augment`` is set (as HDN's 8-fold augmentation).

    Parameters
    ----------
    images : list of torch.Tensor
        ``(1, Y, X)`` normalised images (CPU), any sizes of at least ``crop``.
    crop : int
        Crop side.
    batch : int
        Crops per batch.
    length : int
        Batches per epoch.
    seed : int
        Seed of the crop positions and augmentations.
    augment : bool
        Random dihedral transforms.
    """

    def __init__(self, images, crop: int, batch: int, length: int, seed: int, augment: bool):
        self.images = list(images)
        self.crop = int(crop)
        self.batch = int(batch)
        self.length = int(length)
        self.augment = bool(augment)
        area = torch.tensor([float(im.shape[-2] * im.shape[-1]) for im in self.images])
        self.weights = area / area.sum()
        self.gen = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return self.length

    def draw(self, n: int) -> torch.Tensor:
        """``n`` crops ``(n, 1, crop, crop)``."""
        c = self.crop
        idx = torch.multinomial(self.weights, n, replacement=True, generator=self.gen)
        crops = []
        for i in idx.tolist():
            im = self.images[i]
            y0 = int(torch.randint(0, im.shape[-2] - c + 1, (1,), generator=self.gen))
            x0 = int(torch.randint(0, im.shape[-1] - c + 1, (1,), generator=self.gen))
            patch = im[:, y0 : y0 + c, x0 : x0 + c]
            if self.augment:
                k = int(torch.randint(0, 8, (1,), generator=self.gen))
                patch = torch.rot90(patch, k % 4, dims=(1, 2))
                if k >= 4:
                    patch = torch.flip(patch, dims=(2,))
            crops.append(patch)
        return torch.stack(crops)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.draw(self.batch)


def _module(net: HDNNet, log_likelihood, prof, free_bits: float):
    import lightning.pytorch as pl

    class HDNModule(pl.LightningModule):
        """Lightning wrapper around :func:`hdn_losses`."""

        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.n_batches = 0
            self.skipped = 0
            self.last_train: dict[str, float] = {}
            self.step_loss = math.nan  # the last batch's loss, read by the divergence guard
            self.epoch_log: list[dict] = []
            self._train: list[tuple[float, float, float]] = []
            self._val: list[tuple[float, float, float, int]] = []

        def configure_optimizers(self):
            opt = torch.optim.Adamax(self.net.parameters(), lr=prof.lr)
            self.sched = None
            if not prof.anneal:
                self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                    opt, mode="min", factor=prof.plateau_factor, patience=prof.plateau_patience
                )
            return opt

        def training_step(self, batch, batch_idx):
            losses = hdn_losses(self.net, log_likelihood, batch, free_bits)
            self.n_batches += 1
            self.step_loss = float(losses.loss.detach())
            if not math.isfinite(self.step_loss):  # the divergence guard counts these
                self.skipped += 1
                return None  # Lightning skips the optimiser step
            vals = tuple(float(t.detach()) for t in (losses.loss, losses.nll, losses.kl))
            self._train.append(vals)
            self.last_train = dict(zip(("loss", "nll", "kl"), vals, strict=True))
            return losses.loss

        def validation_step(self, batch, batch_idx):
            losses = hdn_losses(self.net, log_likelihood, batch, free_bits)
            n = int(batch.shape[0])
            self._val.append((float(losses.loss), float(losses.nll), float(losses.kl), n))

        def on_validation_epoch_end(self):
            if not self._val:
                return
            arr = np.asarray(self._val, dtype=np.float64)
            self._val = []
            n = arr[:, 3].sum()
            loss, nll, kl = (float((arr[:, i] * arr[:, 3]).sum() / n) for i in range(3))
            if math.isfinite(loss) and self.sched is not None:
                self.sched.step(loss)
            self.log("val_loss", loss if math.isfinite(loss) else float("inf"))
            tr = np.asarray(self._train) if self._train else np.full((1, 3), np.nan)
            self._train = []
            self.epoch_log.append(
                {
                    "epoch": int(self.current_epoch),
                    "steps": int(self.n_batches),
                    "train_loss": float(np.mean(tr[:, 0])),
                    "train_nll": float(np.mean(tr[:, 1])),
                    "train_kl": float(np.mean(tr[:, 2])),
                    "val_loss": loss,
                    "val_nll": nll,
                    "val_kl": kl,
                    "lr": float(self.optimizers().param_groups[0]["lr"]),
                }
            )

    return HDNModule()


def _budget(
    max_steps: int | None,
    max_seconds: float | None,
    progress: bool,
    t0: float,
    anneal_lr: float | None = None,
):
    import lightning.pytorch as pl
    from tqdm.auto import tqdm

    class Budget(pl.Callback):
        """Stops at ``max_steps`` or after ``max_seconds``; shows a progress bar.

        With ``anneal_lr`` it also sets the learning rate before every step to
        ``anneal_lr * (0.01 + 0.99 * (1 + cos(pi * p)) / 2)``, where ``p`` is the spent
        fraction of the budget (steps or time, whichever is further).
        """

        def __init__(self) -> None:
            self.stopped_by = "early stopping"
            self.bar = tqdm(
                total=max_steps, desc="train HDN", unit="step", disable=not progress, leave=False
            )

        def fraction(self, steps: int) -> float:
            p = 0.0
            if max_steps is not None:
                p = max(p, steps / max(1, max_steps))
            if max_seconds is not None:
                p = max(p, (time.monotonic() - t0) / max_seconds)
            return min(1.0, p)

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if anneal_lr is None:
                return
            p = self.fraction(module.n_batches)
            lr = anneal_lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * p)))
            for group in trainer.optimizers[0].param_groups:
                group["lr"] = lr

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self.bar.update(1)
            elapsed = time.monotonic() - t0
            stop = budget_reached(
                self.bar, module.last_train, module.n_batches, elapsed, max_steps, max_seconds
            )
            if stop is not None:
                self.stopped_by = stop
                trainer.should_stop = True

        def close(self) -> None:
            self.bar.close()

    return Budget()


def train(
    net: HDNNet,
    log_likelihood,
    images: list[torch.Tensor],
    val_images: list[torch.Tensor],
    prof,
    *,
    free_bits: float,
    augment: bool,
    seed: int,
    max_steps: int | None,
    max_seconds: float | None,
    device: str,
    progress: bool = False,
    work_dir: str | None = None,
    method: str | None = None,
) -> FitResult:
    """Train ``net`` in place on random crops.

    Parameters
    ----------
    net : HDNNet
        Initialised network.
    log_likelihood : callable
        ``log_likelihood(x_norm, s_norm)`` of the noise model (normalised units in).
    images, val_images : list of torch.Tensor
        ``(1, Y, X)`` normalised images for training and for the validation crops.
    prof : HDNProfile
        ``patch``, ``batch``, ``lr``, ``steps_per_epoch``, ``val_crops``, schedules.
    free_bits : float
        Free bits per sample and level (nats).
    augment : bool
        Random rotations/flips of the crops.
    seed : int
        Seed of the crops.
    max_steps : int or None
        Limit on optimiser steps.
    max_seconds : float or None
        Wall-clock budget.
    device : str
        Torch device.
    progress : bool
        Progress bar.
    work_dir : str, optional
        Lightning's root folder (nothing is written there with this configuration).
    method : str, optional
        The method's name, for the error message of a diverging run.

    Returns
    -------
    FitResult

    Raises
    ------
    structnoise.methods.base.TrainingDivergedError
        When the training loss stays non-finite (3 batches in a row or more than 20 in
        all), the weights become non-finite (checked after every step and at the end)
        or the validation loss is non-finite.
    """
    t0 = time.monotonic()
    with quiet_lightning():
        from lightning.pytorch.callbacks import EarlyStopping

    crop = min([prof.patch] + [min(im.shape[-2:]) for im in images])
    vcrop = min([prof.patch] + [min(im.shape[-2:]) for im in val_images])
    per_epoch = int(prof.steps_per_epoch)
    if max_steps is not None:
        per_epoch = max(1, min(per_epoch, int(max_steps)))
    data = CropBatches(images, crop, prof.batch, per_epoch, seed, augment)
    val = CropBatches(val_images, vcrop, prof.val_crops, 1, seed + 1, False).draw(prof.val_crops)
    loader = torch.utils.data.DataLoader(data, batch_size=None, shuffle=False, num_workers=0)
    val_loader = torch.utils.data.DataLoader(
        list(val.split(prof.batch)), batch_size=None, shuffle=False, num_workers=0
    )
    module = _module(net, log_likelihood, prof, free_bits)
    budget = _budget(max_steps, max_seconds, progress, t0, prof.lr if prof.anneal else None)
    guard = divergence_guard(
        method,
        patience=NONFINITE_PATIENCE,
        max_bad=NONFINITE_MAX,
        loss_of=lambda mod, outputs: mod.step_loss,
        monitors=("val_loss",),
    )
    callbacks: list = [guard, budget]
    if prof.early_stop_patience is not None:
        callbacks.append(
            EarlyStopping(monitor="val_loss", patience=prof.early_stop_patience, mode="min")
        )
    try:
        fit_quietly(
            module,
            loader,
            val_loader,
            callbacks=callbacks,
            device=device,
            work_dir=work_dir,
            prefix="hdn-",
        )
    finally:
        budget.close()
    guard.finish(net.state_dict().values())
    net.cpu()
    return FitResult(
        steps=module.n_batches,
        seconds=time.monotonic() - t0,
        stopped_by=budget.stopped_by,
        history=module.epoch_log,
        skipped_batches=module.skipped,
    )
