"""Training DVLAE with Lightning: two Adamax optimisers, plateau schedules, early stopping.

As in the paper and the authors' code: the VAE and the AR decoder share one Adamax
optimiser (loss: negative ELBO), the signal decoder has its own (loss: MSE on the
detached s_code); each has a ReduceLROnPlateau schedule on its validation loss; early
stopping watches the validation signal-decoder loss (the monitor of the authors' training
notebook). Training stops cleanly at ``max_steps`` forward passes, at early stopping, or
when the wall-clock budget is spent. A batch with a non-finite loss is skipped (no
optimiser step); three in a row, more than 20 in all, non-finite weights or a non-finite
validation loss stop training with
:class:`~structnoise.methods.base.TrainingDivergedError` (the
:func:`~structnoise.methods.lightning_utils.divergence_guard`).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from structnoise.methods.dvlae.network import DVLAENet, Losses
from structnoise.methods.dvlae.profiles import TrainingProfile
from structnoise.methods.dvlae.speed import autocast, resolve_precision
from structnoise.methods.lightning_utils import budget_reached, divergence_guard, fit_quietly

#: Consecutive / total non-finite training losses skipped before training counts as
#: diverged (a skipped batch leaves the weights untouched).
NONFINITE_PATIENCE = 2
NONFINITE_MAX = 20


def accelerator_is_cpu(device: str) -> bool:
    """Whether ``device`` is the CPU."""
    return not str(device).startswith("cuda")


@dataclass
class FitResult:
    """What training did."""

    steps: int
    seconds: float
    stopped_by: str
    history: list[dict]
    precision: str
    threads: dict
    finish_start_step: int | None = None


class CropBatches(torch.utils.data.Dataset):
    """``length`` batches of random crops, drawn in order from a seeded generator.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, 1, Y, X)`` normalised images (CPU).
    crop : (int, int)
        Crop height and width.
    batch : int
        Crops per batch.
    length : int
        Batches per epoch.
    seed : int
        Seed of the crop positions.
    """

    def __init__(self, images: torch.Tensor, crop, batch: int, length: int, seed: int) -> None:
        self.images = images
        self.ch, self.cw = int(crop[0]), int(crop[1])
        self.batch = int(batch)
        self.length = int(length)
        self.gen = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        n, _, y, x = self.images.shape
        idx = torch.randint(0, n, (self.batch,), generator=self.gen)
        ys = torch.randint(0, y - self.ch + 1, (self.batch,), generator=self.gen)
        xs = torch.randint(0, x - self.cw + 1, (self.batch,), generator=self.gen)
        return torch.stack(
            [
                self.images[i, :, y0 : y0 + self.ch, x0 : x0 + self.cw]
                for i, y0, x0 in zip(idx.tolist(), ys.tolist(), xs.tolist(), strict=True)
            ]
        )


def fixed_crops(images: torch.Tensor, crop, n: int, seed: int) -> torch.Tensor:
    """``n`` random crops drawn once (the validation set).

    Parameters
    ----------
    images : torch.Tensor
        ``(N, 1, Y, X)``.
    crop : (int, int)
        Crop size.
    n : int
        Number of crops.
    seed : int
        Seed.

    Returns
    -------
    torch.Tensor
        ``(n, 1, ch, cw)``.
    """
    return CropBatches(images, crop, n, 1, seed)[0]


def _make_module(
    net: DVLAENet,
    prof: TrainingProfile,
    precision: str,
    device: str,
    history: list,
    progress_fn=None,
    ema: WeightAverage | None = None,
):
    import lightning.pytorch as pl

    memory_format = torch.channels_last if prof.channels_last else torch.contiguous_format

    def run(batch: torch.Tensor) -> Losses:
        with autocast(precision, device):
            return net.losses(batch.contiguous(memory_format=memory_format))

    class DVLAEModule(pl.LightningModule):
        """Lightning wrapper: manual optimisation of the two optimisers."""

        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.automatic_optimization = False
            self.n_batches = 0
            self.bad_steps = 0
            self.finishing_started = False
            self.finish_start_step = None
            self._val: list[tuple[float, float, float, float]] = []
            self.last_train: dict[str, float] = {}
            self.step_loss = math.nan  # the last batch's loss, read by the divergence guard
            self.epoch_log: list[dict] = history
            self._train_acc: list[tuple[float, float, float, float]] = []
            self._kl_levels: list[np.ndarray] = []

        def configure_optimizers(self):
            vae_params = list(self.net.vae.parameters()) + list(self.net.ar.parameters())
            opt_vae = torch.optim.Adamax(vae_params, lr=prof.lr)
            opt_sd = torch.optim.Adamax(self.net.sd.parameters(), lr=prof.lr)
            self.sched = [
                torch.optim.lr_scheduler.ReduceLROnPlateau(
                    o, factor=prof.plateau_factor, patience=prof.plateau_patience
                )
                for o in (opt_vae, opt_sd)
            ]
            return [opt_vae, opt_sd]

        def kl_weight(self) -> float:
            if prof.kl_warmup_steps <= 0:
                return 1.0
            return min(1.0, (self.n_batches + 1) / prof.kl_warmup_steps)

        def kl_term(self, losses: Losses) -> torch.Tensor:
            if prof.free_bits > 0 and prof.free_bits_unit == "latent":
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
            if prof.sd_finish <= 0 or progress_fn is None:
                return False
            if progress_fn(self.n_batches) < 1.0 - prof.sd_finish:
                return False
            self.finishing_started = True
            self.finish_start_step = self.n_batches
            if ema is not None:  # the averaged encoder is the final one
                ema.load_into_net()
            for o in self.optimizers():
                o.zero_grad(set_to_none=True)
            for p in list(self.net.vae.parameters()) + list(self.net.ar.parameters()):
                p.requires_grad_(False)
            return True

        def finishing_step(self, batch):
            """Train the signal decoder alone on the frozen encoder in evaluation mode."""
            self.net.vae.eval()
            self.net.ar.eval()
            b = batch.contiguous(memory_format=memory_format)
            with torch.no_grad(), autocast(precision, device):
                s_code = self.net.vae(b).s_code
            with autocast(precision, device):
                s_hat = self.net.sd(s_code)
            sd = torch.nn.functional.mse_loss(s_hat.float(), b.float())
            opt_sd = self.optimizers()[1]
            self.step_loss = float(sd.detach())
            if math.isfinite(self.step_loss):
                self.manual_backward(sd)
                opt_sd.step()
            opt_sd.zero_grad(set_to_none=True)
            self.n_batches += 1
            nan = float("nan")
            vals = (nan, nan, nan, float(sd.detach()))
            self._train_acc.append(vals)
            self.last_train = {"sd": vals[3]}

        def training_step(self, batch, batch_idx):
            if self.finishing():
                return self.finishing_step(batch)
            losses = run(batch)
            loss = losses.nll + self.kl_term(losses)
            total = (loss + losses.sd) / prof.accumulate
            opts = self.optimizers()
            self.step_loss = float(total.detach())
            if math.isfinite(self.step_loss):
                self.manual_backward(total)
            else:  # never let one bad batch poison the weights (the guard counts them)
                self.bad_steps += 1
                for o in opts:
                    o.zero_grad(set_to_none=True)
            self.n_batches += 1
            if self.n_batches % prof.accumulate == 0:
                if prof.lr_schedule == "linear" and progress_fn is not None:
                    factor = max(0.0, 1.0 - progress_fn(self.n_batches))
                    for o in opts:
                        for group in o.param_groups:
                            group["lr"] = prof.lr * factor
                for o in opts:
                    o.step()
                    o.zero_grad(set_to_none=True)
                if ema is not None and not self.finishing_started:
                    ema.update()
            vals = (
                float(losses.elbo.detach()),
                float(losses.nll.detach()),
                float(losses.kl.detach()),
                float(losses.sd.detach()),
            )
            self._train_acc.append(vals)
            self._kl_levels.append(losses.kl_levels.detach().float().cpu().numpy())
            self.last_train = dict(zip(("elbo", "nll", "kl", "sd"), vals, strict=True))

        def validation_step(self, batch, batch_idx):
            if self.finishing_started:
                self.net.vae.eval()
            with torch.no_grad():
                losses = run(batch)
            n = batch.shape[0]
            self._val.append(
                (float(losses.elbo) * n, float(losses.kl) * n, float(losses.sd) * n, n)
            )

        def on_validation_epoch_end(self):
            if not self._val:
                return
            arr = np.asarray(self._val)
            self._val = []
            n = arr[:, 3].sum()
            elbo, kl, sd = (arr[:, i].sum() / n for i in range(3))
            if prof.lr_schedule == "plateau":
                for sched, value in zip(self.sched, (elbo, sd), strict=True):
                    if math.isfinite(value):
                        sched.step(value)
            self.log("val_elbo", float(elbo), prog_bar=False)
            self.log("val_sd", float(sd), prog_bar=False)
            tr = np.asarray(self._train_acc) if self._train_acc else np.full((1, 4), np.nan)
            kl_levels = np.mean(self._kl_levels, axis=0) if self._kl_levels else []
            tr = tr.astype(float)
            self._train_acc = []
            self._kl_levels = []
            self.epoch_log.append(
                {
                    "epoch": int(self.current_epoch),
                    "steps": int(self.n_batches),
                    "train_elbo": float(np.nanmean(tr[:, 0]))
                    if not self.finishing_started
                    else float("nan"),
                    "train_nll": float(np.nanmean(tr[:, 1]))
                    if not self.finishing_started
                    else float("nan"),
                    "train_kl": float(np.nanmean(tr[:, 2]))
                    if not self.finishing_started
                    else float("nan"),
                    "train_sd": float(np.mean(tr[:, 3])),
                    "phase": "signal decoder only" if self.finishing_started else "joint",
                    "train_kl_levels": [round(float(v), 5) for v in kl_levels],
                    "val_elbo": float(elbo),
                    "val_kl": float(kl),
                    "val_sd": float(sd),
                    "lr": float(self.optimizers()[0].param_groups[0]["lr"]),
                    "lr_sd": float(self.optimizers()[1].param_groups[0]["lr"]),
                }
            )

    return DVLAEModule()


def _make_budget_callback(
    max_steps,
    max_seconds,
    progress: bool,
    t0: float,
    snapshots,
    tuner: ThreadTuner | None,
    ema: WeightAverage | None = None,
):
    import lightning.pytorch as pl
    from tqdm.auto import tqdm

    marks = sorted(snapshots[0]) if snapshots else []
    hook = snapshots[1] if snapshots else None
    by_steps = bool(snapshots) and len(snapshots) > 2 and snapshots[2] == "steps"

    class Budget(pl.Callback):
        """Stops at ``max_steps`` or ``max_seconds``; shows a bar with losses and ETA.

        Snapshot hooks run when the training time passes each mark; their own time is
        not counted against the budget.
        """

        def __init__(self) -> None:
            self.stopped_by = "early stopping"
            self.paused = 0.0
            self.started = time.monotonic()
            self.marks = list(marks)
            total = max_steps if max_steps is not None else None
            self.bar = tqdm(
                total=total, desc="train DVLAE", unit="step", disable=not progress, leave=False
            )

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if tuner is not None:
                tuner.start_step()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if tuner is not None:
                tuner.end_step()
            self.bar.update(1)
            elapsed = time.monotonic() - t0 - self.paused
            while self.marks and (module.n_batches if by_steps else elapsed) >= self.marks[0]:
                mark = self.marks.pop(0)
                started = time.monotonic()
                was_training = module.training
                module.eval()
                try:
                    use_avg = ema is not None and not module.finishing_started
                    with ema.swapped_in() if use_avg else contextlib.nullcontext():
                        hook(module.n_batches, elapsed, mark)
                finally:
                    module.train(was_training)
                self.paused += time.monotonic() - started
            stop = budget_reached(
                self.bar, module.last_train, module.n_batches, elapsed, max_steps, max_seconds
            )
            if stop is not None:
                self.stopped_by = stop
                trainer.should_stop = True

        def progress(self, steps: int) -> float:
            """Fraction of the budget (steps or time, whichever is further) used."""
            frac = 0.0
            if max_steps is not None:
                frac = steps / max_steps
            if max_seconds is not None:
                elapsed = time.monotonic() - t0 - self.paused
                frac = max(frac, elapsed / max_seconds)
            return min(1.0, frac)

        def close(self) -> None:
            self.bar.close()

    return Budget()


class ThreadTuner:
    """Pick the faster of ``n`` and 1 CPU threads, again and again, while training.

    On a CPU shared with other busy processes, several threads per process can be many
    times slower than one (each parallel operation waits for its slowest thread, which
    the scheduler may have taken away); on an idle machine they are faster. The tuner
    times training steps with each setting and keeps the faster one, re-checking the
    other every ``every`` steps for ``probe`` steps.

    Parameters
    ----------
    max_threads : int
        The larger setting (torch's thread count when training starts).
    probe : int
        Steps timed after each switch (the first is a warm-up and not counted).
    every : int
        Steps between re-checks.
    """

    def __init__(self, max_threads: int, probe: int = 4, every: int = 60) -> None:
        self.original = torch.get_num_threads()
        self.options = [max_threads, 1] if max_threads > 1 else [1]
        self.probe = probe
        self.every = every
        self.best = self.options[0]
        self.current = self.best
        self.recent: dict[int, list[float]] = {n: [] for n in self.options}
        self.steps_at: dict[int, int] = {n: 0 for n in self.options}
        self.since_switch = 0
        self.probing = len(self.options) > 1
        self._t = 0.0
        torch.set_num_threads(self.current)

    def start_step(self) -> None:
        """Call before a training step."""
        self._t = time.perf_counter()

    def end_step(self) -> None:
        """Call after a training step; may switch the thread count."""
        dt = time.perf_counter() - self._t
        self.steps_at[self.current] += 1
        self.since_switch += 1
        if self.since_switch > 1:  # the first step after a switch warms up
            times = self.recent[self.current]
            times.append(dt)
            del times[: -self.probe]
        if len(self.options) < 2:
            return
        other = self.options[1] if self.current == self.options[0] else self.options[0]
        if self.probing and self.since_switch >= self.probe + 1:
            mine, theirs = self.recent[self.current], self.recent[other]
            if theirs and np.median(theirs) < np.median(mine):
                self._switch(other)
            self.best = self.current
            self.probing = False
        elif not self.probing and self.since_switch >= self.every:
            self._switch(other)
            self.probing = True

    def _switch(self, n: int) -> None:
        self.current = n
        self.since_switch = 0
        torch.set_num_threads(n)

    def restore(self) -> None:
        """Put torch's thread count back."""
        torch.set_num_threads(self.original)

    def summary(self) -> dict:
        """Steps trained at each thread count."""
        return {str(k): v for k, v in self.steps_at.items()}


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


def train(
    net: DVLAENet,
    train_images: torch.Tensor,
    val_images: torch.Tensor,
    prof: TrainingProfile,
    *,
    seed: int,
    max_steps: int | None,
    max_seconds: float | None,
    device: str,
    progress: bool = False,
    work_dir: str | None = None,
    snapshots: tuple | None = None,
    history: list | None = None,
    method: str | None = None,
) -> FitResult:
    """Train ``net`` in place.

    Parameters
    ----------
    net : DVLAENet
        The network (initialised).
    train_images, val_images : torch.Tensor
        ``(N, 1, Y, X)`` normalised images (CPU); ``val_images`` may be the training
        images when the profile validates on fixed training crops.
    prof : TrainingProfile
        Crops, batches, schedules.
    seed : int
        Seed of the crop positions (the weights are seeded by the caller).
    max_steps : int or None
        Limit on forward passes.
    max_seconds : float or None
        Wall-clock budget.
    device : str
        Torch device.
    progress : bool
        Show a progress bar.
    work_dir : str, optional
        Lightning's root folder (a temporary folder when None).
    snapshots : (list of float, callable[, "steps"]), optional
        Training times in seconds (or step counts, with a third item ``"steps"``) and a
        function ``hook(steps, seconds, mark)`` called (with the network in eval mode)
        when training passes each of them; the time the hook takes does not count
        against ``max_seconds``.
    history : list, optional
        A list that receives one dict of losses per epoch as training goes (a new
        list when None); also returned in the result.
    method : str, optional
        The method's name, for the error message of a diverging run.

    Returns
    -------
    FitResult

    Raises
    ------
    structnoise.methods.base.TrainingDivergedError
        When the training loss stays non-finite (3 batches in a row or more than 20 in
        all), the weights become non-finite (checked after every step and, averaged
        weights included, at the end) or the validation loss is non-finite.
    """
    from lightning.pytorch.callbacks import EarlyStopping

    t0 = time.monotonic()
    _, _, y, x = train_images.shape
    ch, cw = min(prof.crop, y), min(prof.crop, x)
    vy, vx = val_images.shape[-2:]
    vch, vcw = min(prof.crop, vy), min(prof.crop, vx)
    if prof.steps_per_epoch is not None:
        per_epoch = int(prof.steps_per_epoch)
    else:  # the authors' rule: as many crops per epoch as fit into the images
        crops = len(train_images) * max(1, (y * x) // (ch * cw))
        per_epoch = max(1, crops // prof.batch)
    if max_steps is not None:
        per_epoch = max(1, min(per_epoch, int(max_steps)))
    data = CropBatches(train_images, (ch, cw), prof.batch, per_epoch, seed)
    val = fixed_crops(val_images, (vch, vcw), prof.val_crops, seed + 1)
    loader = torch.utils.data.DataLoader(data, batch_size=None, shuffle=False, num_workers=0)
    val_loader = torch.utils.data.DataLoader(
        list(val.split(prof.batch)), batch_size=None, shuffle=False, num_workers=0
    )
    precision = resolve_precision(prof.precision, device)
    if prof.channels_last:
        net.to(memory_format=torch.channels_last)
    tuner = None
    if prof.threads not in (None, "auto", "fixed"):
        raise ValueError(f"threads must be 'auto' or 'fixed', got {prof.threads!r}")
    if prof.threads == "auto" and accelerator_is_cpu(device) and torch.get_num_threads() > 1:
        tuner = ThreadTuner(torch.get_num_threads())
    ema = WeightAverage(net, prof.ema_decay) if prof.ema_decay else None
    budget = _make_budget_callback(max_steps, max_seconds, progress, t0, snapshots, tuner, ema)
    if prof.lr_schedule not in ("plateau", "linear"):
        raise ValueError(f"lr_schedule must be 'plateau' or 'linear', got {prof.lr_schedule!r}")
    if prof.lr_schedule == "linear" and max_steps is None and max_seconds is None:
        raise ValueError("lr_schedule='linear' needs a step limit or a time budget")
    module = _make_module(
        net, prof, precision, device, [] if history is None else history, budget.progress, ema
    )
    early = EarlyStopping(monitor="val_sd", patience=prof.early_stop_patience, mode="min")
    guard = divergence_guard(
        method,
        patience=NONFINITE_PATIENCE,
        max_bad=NONFINITE_MAX,
        loss_of=lambda mod, outputs: mod.step_loss,
        monitors=("val_sd",),
    )
    try:
        fit_quietly(
            module,
            loader,
            val_loader,
            callbacks=[guard, budget, early],
            device=device,
            work_dir=work_dir,
            prefix="dvlae-",
        )
    finally:
        budget.close()
        if tuner is not None:
            tuner.restore()
    if ema is not None and not module.finishing_started:
        ema.load_into_net()
    guard.finish(net.state_dict().values())
    for p in net.parameters():
        p.requires_grad_(True)
    net.cpu()
    if prof.channels_last:
        net.to(memory_format=torch.contiguous_format)
    return FitResult(
        steps=module.n_batches,
        seconds=time.monotonic() - t0 - budget.paused,
        stopped_by=budget.stopped_by,
        finish_start_step=module.finish_start_step,
        history=module.epoch_log,
        precision=precision,
        threads=tuner.summary() if tuner is not None else {str(torch.get_num_threads()): -1},
    )
