"""DVLAE as a structnoise method: fit, denoise (MMSE / sample / mean), sample noise, save."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from structnoise._validate import as_stack, check_axis
from structnoise.methods.base import BaseDenoiser, MethodInfo
from structnoise.methods.dvlae.network import Architecture, DVLAENet
from structnoise.methods.dvlae.profiles import PROFILES, TrainingProfile, resolve_architecture
from structnoise.methods.dvlae.speed import autocast, resolve_precision
from structnoise.methods.tiling import predict_tiled
from structnoise.utils import derive_seed, pick_device

MODES = ("mmse", "sample", "mean")

#: Receptive field of ``rf="auto"`` when the noise correlation does not decay (the paper's).
AUTO_RF_MAX = 40

#: Training-profile fields a user may override through method parameters.
_PROFILE_PARAMS = (
    "crop",
    "batch",
    "accumulate",
    "lr",
    "lr_schedule",
    "max_steps",
    "free_bits",
    "free_bits_unit",
    "kl_warmup_steps",
    "ema_decay",
    "sd_finish",
    "precision",
    "channels_last",
    "threads",
)
#: Architecture fields a user may override through method parameters.
_ARCH_PARAMS = ("n_filters", "z_dims", "n_levels", "sd_filters", "ar_filters", "scale_floor")

#: Pixels per forward pass at inference (bounds memory: about 0.5 GB per feature map
#: of 64 channels).
_PIXELS_PER_PASS = 2**21


def _info(paper_name: str, quick: float) -> MethodInfo:
    return MethodInfo(
        description="DVLAE (Salmon & Krull): VAE with a 1-D autoregressive noise decoder "
        "and a signal decoder; unsupervised, for structured signal-dependent noise",
        needs_clean=False,
        samples=True,
        uses_axis=True,
        learns=True,
        budgets={"smoke": 1.0, "quick": quick, "paper": None},
        paper_name=paper_name,
    )


INFO_SMALL = _info("Ours small", 20.0)
INFO_LARGE = _info("Ours large", 20.0)


class DVLAE(BaseDenoiser):
    """The paper's denoiser: a VAE whose 1-D autoregressive decoder models the noise.

    Salmon & Krull, "Unsupervised Structured Noise Removal with Variational Lossy
    Autoencoder". The encoder learns to keep only the signal; a signal decoder maps its
    code back to an image.

    Parameters
    ----------
    variant : {"small", "large"}
        The paper's model size (the registered names ``dvlae-small``/``dvlae-large``).
    axis : {"horizontal", "vertical"}
        Direction the noise is correlated along (the AR decoder's line).
    rf : int or "auto", optional
        AR receptive field: pixels strictly before the current one on the line. None
        takes the profile's choice: 40 (the paper) for ``paper`` and ``smoke``, "auto"
        for ``quick``. "auto" measures the noise's correlation length along ``axis`` on
        the training images when ``fit`` starts (:func:`auto_rf`).
    n_gaussians : int
        Mixture components of the noise model (3).
    n_samples : int
        Posterior samples averaged by the MMSE prediction (100).
    tile : int, optional
        Largest tile side at prediction (None: 512; images up to 512 go whole).
    device : str, optional
        Torch device; None picks CUDA when available.
    crop, batch, accumulate, lr, lr_schedule, max_steps, free_bits, free_bits_unit : optional
        Override the training profile (see :mod:`structnoise.methods.dvlae.profiles`).
    kl_warmup_steps, ema_decay, sd_finish : optional
        Likewise.
    precision, channels_last, threads : optional
        Arithmetic, memory layout and CPU threads of training (see the profiles);
        ``precision`` ("32", "bf16", "auto") also sets the default of prediction.
    n_filters, z_dims, n_levels, sd_filters, ar_filters, scale_floor : optional
        Override the network sizes of the preset/profile.
    **common
        ``seed``, ``profile`` ("quick", "paper", "smoke"), ``max_minutes``, ``progress``,
        ``work_dir`` (see :class:`structnoise.methods.base.BaseDenoiser`).
    """

    info: ClassVar[MethodInfo] = INFO_SMALL
    min_size: ClassVar[int] = 16

    def __init__(
        self,
        *,
        variant: str = "small",
        axis: str = "horizontal",
        rf: int | str | None = None,
        n_gaussians: int = 3,
        n_samples: int = 100,
        tile: int | None = None,
        device: str | None = None,
        **params: Any,
    ) -> None:
        known = set(_PROFILE_PARAMS) | set(_ARCH_PARAMS)
        common = {"seed", "profile", "max_minutes", "progress", "work_dir"}
        unknown = set(params) - known - common
        if unknown:
            raise TypeError(
                f"unknown DVLAE parameter(s) {sorted(unknown)}; known: "
                f"axis, rf, n_gaussians, n_samples, tile, device, {', '.join(sorted(known))}"
            )
        base_kw = {k: params.pop(k) for k in list(params) if k in common}
        if rf is None:
            rf = PROFILES.get(base_kw.get("profile", "quick"), PROFILES["quick"]).rf
        rf = _check_rf(rf)
        super().__init__(
            axis=check_axis(axis),
            rf=rf,
            n_gaussians=int(n_gaussians),
            n_samples=int(n_samples),
            tile=None if tile is None else int(tile),
            **params,
            **base_kw,
        )
        if variant not in ("small", "large"):
            raise ValueError(f"unknown DVLAE variant {variant!r}: expected 'small' or 'large'")
        if int(n_gaussians) < 1:
            raise ValueError(f"n_gaussians must be at least 1, got {n_gaussians}")
        if int(n_samples) < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        self.variant = variant
        self.info = INFO_SMALL if variant == "small" else INFO_LARGE
        self.name = f"dvlae-{variant}"
        self.device_request = device
        self.net: DVLAENet | None = None
        self.mean = 0.0
        self.std = 1.0
        self.train_summary: dict[str, Any] = {}
        self.arch = self._resolve_arch()
        #: Optional ``(minutes, fn)`` or ``(steps, fn, "steps")``: ``fn(self, info)`` is
        #: called during ``fit`` when training passes each mark (for learning curves; the
        #: time ``fn`` takes is not charged to the budget).
        self.snapshot_hook: tuple | None = None

    # ------------------------------------------------------------------ configuration
    @property
    def training_profile(self) -> TrainingProfile:
        """The profile with the user's overrides applied."""
        from dataclasses import replace

        prof = PROFILES[self.profile]
        changes = {k: self.params[k] for k in _PROFILE_PARAMS if self.params.get(k) is not None}
        return replace(prof, **changes)

    def _resolve_arch(self, rf: int | None = None) -> Architecture:
        """The network's architecture; ``rf`` replaces an "auto" receptive field."""
        overrides = {k: self.params.get(k) for k in _ARCH_PARAMS}
        if rf is None:
            rf = self.params["rf"] if self.params["rf"] != "auto" else AUTO_RF_MAX
        overrides.update(rf=rf, axis=self.params["axis"], n_gaussians=self.params["n_gaussians"])
        return resolve_architecture(self.variant, PROFILES[self.profile], overrides)

    def build_network(self) -> DVLAENet:
        """A freshly initialised network (seeded by ``seed``).

        Returns
        -------
        DVLAENet
        """
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.seed, "dvlae-init"))
            return DVLAENet(self.arch)

    @property
    def device(self) -> str:
        """The torch device used for training and prediction."""
        return pick_device(self.device_request)

    # ------------------------------------------------------------------ training
    def _fit(self, noisy: np.ndarray, clean, val) -> None:
        import torch

        from structnoise.methods.dvlae.training import train

        prof = self.training_profile
        if val is not None:
            train_x, val_x = noisy, val[0]
        elif prof.val_fraction > 0 and len(noisy) >= 2:
            rng = np.random.default_rng(derive_seed(self.seed, "dvlae-split"))
            order = rng.permutation(len(noisy))
            n_val = max(1, int(round(prof.val_fraction * len(noisy))))
            train_x, val_x = noisy[order[n_val:]], noisy[order[:n_val]]
        else:
            train_x, val_x = noisy, noisy
        if self.params["rf"] == "auto":
            self.arch = self._resolve_arch(auto_rf(noisy, self.params["axis"]))
        self.mean = float(np.mean(train_x, dtype=np.float64))
        self.std = float(np.std(train_x, dtype=np.float64))
        if not self.std > 0:
            raise ValueError("noisy: the training images are constant; nothing to learn")
        self.net = self.build_network()

        def norm(a):
            return torch.from_numpy(((a - self.mean) / self.std).astype(np.float32))[:, None]

        budget = self.budget_minutes
        max_steps = prof.max_steps
        snapshots = None
        if self.snapshot_hook is not None:
            marks, user_fn = self.snapshot_hook[:2]
            unit = self.snapshot_hook[2] if len(self.snapshot_hook) > 2 else "minutes"

            def hook(steps: int, seconds: float, mark: float) -> None:
                fitted, self.fitted = self.fitted, True
                try:
                    info = {"steps": steps, "minutes": seconds / 60}
                    info["mark"] = mark if unit == "steps" else mark / 60
                    user_fn(self, info)
                finally:
                    self.fitted = fitted

            if unit == "steps":
                snapshots = ([int(m) for m in marks], hook, "steps")
            else:
                snapshots = ([60.0 * float(m) for m in marks], hook)
        self.history = []
        with torch.random.fork_rng(devices=_cuda_devices(self.device)):
            torch.manual_seed(derive_seed(self.seed, "dvlae-train"))
            result = train(
                self.net,
                norm(train_x),
                norm(val_x),
                prof,
                seed=derive_seed(self.seed, "dvlae-crops"),
                max_steps=max_steps,
                max_seconds=None if budget is None else 60.0 * float(budget),
                device=self.device,
                progress=self.progress,
                work_dir=self.work_dir,
                snapshots=snapshots,
                history=self.history,
                method=self.name,
            )
        self.history = result.history
        self.train_summary = {
            "steps": result.steps,
            "minutes": result.seconds / 60.0,
            "stopped_by": result.stopped_by,
            "profile": prof.to_dict(),
            "train_images": int(len(train_x)),
            "device": self.device,
            "precision": result.precision,
            "rf": self.arch.rf,
            "steps_per_thread_count": result.threads,
            "signal_decoder_only_from_step": result.finish_start_step,
        }

    # ------------------------------------------------------------------ prediction
    def _inference_precision(self, precision: str | None) -> str:
        """Arithmetic of prediction: the argument, else the method's, else "auto".

        "auto" means bfloat16 autocast on CPUs that run it natively (about twice as
        fast; the output layer stays float32) and float32 on GPUs.
        """
        precision = precision or self.params.get("precision") or "auto"
        if precision == "auto" and str(self.device).startswith("cuda"):
            return "32"
        return resolve_precision(precision, self.device)

    def _prepare(self, precision: str = "32"):
        import torch

        if self.net is None:
            raise RuntimeError(f"{self.name}: call fit() (or load a saved model) first")
        dev = self.device
        fmt = torch.channels_last if precision == "bf16" and dev == "cpu" else None
        net = self.net.to(dev).eval()
        net.to(memory_format=fmt or torch.contiguous_format)
        return torch, net, dev

    def _denoise(
        self,
        noisy: np.ndarray,
        *,
        n_samples: int | None = None,
        tile: int | None = None,
        mode: str = "mmse",
        seed: int | None = None,
        precision: str | None = None,
    ) -> np.ndarray:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
        n = int(self.params["n_samples"] if n_samples is None else n_samples)
        if n < 1:
            raise ValueError(f"n_samples must be at least 1, got {n}")
        tile = self.params.get("tile") if tile is None else tile
        tile = 512 if tile is None else int(tile)
        if tile < self.min_size:
            raise ValueError(f"tile must be at least {self.min_size} pixels, got {tile}")
        prec = self._inference_precision(precision)
        torch, net, dev = self._prepare(prec)
        seed = derive_seed(self.seed, "dvlae-denoise") if seed is None else int(seed)
        fmt = torch.channels_last if prec == "bf16" and dev == "cpu" else torch.contiguous_format

        def fn(batch: np.ndarray) -> np.ndarray:
            x = torch.from_numpy((batch - self.mean) / self.std).to(dev)[:, None]
            x = x.contiguous(memory_format=fmt)
            if mode == "mean":
                out = net.signal(x, use_mean=True)
            elif mode == "sample":
                out = net.signal(x)
            else:
                chunk = max(1, min(n, _PIXELS_PER_PASS // (x.shape[-1] * x.shape[-2])))
                out = net.mmse(x, n, chunk=chunk)
            return (out[:, 0].float().cpu().numpy() * self.std + self.mean).astype(np.float32)

        with (
            torch.random.fork_rng(devices=_cuda_devices(dev)),
            torch.inference_mode(),
            autocast(prec, dev),
        ):
            torch.manual_seed(seed)
            return predict_tiled(
                fn,
                noisy,
                tile=tile,
                overlap=min(64, tile // 4),
                multiple=1,
                progress=self.progress,
                desc=f"{self.name} {mode}",
            )

    def sample_noisy(self, noisy, seed: int | None = None) -> np.ndarray:
        """Encode images and draw new noisy images from the AR noise model (paper Fig. 5).

        The latent code is sampled from the posterior; the AR decoder then draws every
        pixel in order along the line (all lines in parallel).

        Parameters
        ----------
        noisy : array_like
            ``(Y, X)`` or ``(N, Y, X)``.
        seed : int, optional
            Seed of the draws (default: derived from the method's seed).

        Returns
        -------
        numpy.ndarray
            float32, same shape as ``noisy``.
        """
        x, was_2d = as_stack(noisy, name="noisy", min_size=self.min_size)
        torch, net, dev = self._prepare()
        seed = derive_seed(self.seed, "dvlae-sample-noisy") if seed is None else int(seed)
        out = np.empty_like(x)
        with torch.random.fork_rng(devices=_cuda_devices(dev)), torch.inference_mode():
            torch.manual_seed(seed)
            gen = torch.Generator(device=dev).manual_seed(seed)
            for i in range(len(x)):
                xi = torch.from_numpy((x[i : i + 1] - self.mean) / self.std).to(dev)[:, None]
                s = net.sample_noisy(xi, generator=gen)
                out[i] = s[0, 0].float().cpu().numpy() * self.std + self.mean
        return out[0] if was_2d else out

    # ------------------------------------------------------------------ persistence
    def _save_state(self, path: Path) -> None:
        import torch

        if self.net is None:
            return
        torch.save(self.net.state_dict(), path / "model.pt")
        (path / "history.json").write_text(json.dumps(self.history, indent=1))

    def _extra_meta(self) -> dict:
        return {
            "variant": self.variant,
            "mean": self.mean,
            "std": self.std,
            "arch": self.arch.to_dict(),
            "train": self.train_summary,
        }

    def _load_state(self, path: Path, extra: dict) -> None:
        import torch

        self.mean = float(extra["mean"])
        self.std = float(extra["std"])
        self.arch = Architecture(**extra["arch"])
        self.train_summary = extra.get("train", {})
        net = DVLAENet(self.arch)
        state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        self.net = net
        hist = path / "history.json"
        if hist.is_file():
            self.history = json.loads(hist.read_text())


def _check_rf(rf) -> int | str:
    if isinstance(rf, str) and rf.strip().lower() == "auto":
        return "auto"
    try:
        value = int(rf)
    except (TypeError, ValueError):
        raise ValueError(f"rf must be a number of pixels or 'auto', got {rf!r}") from None
    if value < 1:
        raise ValueError(f"rf must be at least 1 pixel, got {rf}")
    return value


def auto_rf(noisy, axis: str = "horizontal", *, max_rf: int | None = None) -> int:
    """A receptive field matched to the noise's correlation length along ``axis``.

    Uses the blind correlation length ``L`` of
    :func:`structnoise.methods.careamics_adapters.propose_span` (the lag beyond which the
    noise autocorrelation along the axis stays below 10 % of its peak; the same rule
    proposes SN2V's mask): ``rf = max(2, 2 L)``, and ``max_rf`` (the paper's 40) when the
    correlation does not decay within 20 pixels (e.g. the checkerboard's column pattern).

    Why: the AR decoder must see the pixels whose noise predicts the current one; a
    longer line also lets it predict the *signal* along the line, which at a CPU budget
    draws content out of the latent (measured on stripe noise: RF 6 beat RF 40 by several
    dB after 15 minutes). After full training the paper finds the RF length hardly matters
    from 40 pixels on (Fig. 4), so the ``paper`` profile keeps 40.

    Parameters
    ----------
    noisy : array_like
        ``(Y, X)`` or ``(N, Y, X)`` noisy images.
    axis : {"horizontal", "vertical"}
        The noise axis.
    max_rf : int, optional
        Receptive field for non-decaying correlation (default :data:`AUTO_RF_MAX`).

    Returns
    -------
    int
    """
    from structnoise.methods.careamics_adapters import propose_span

    max_rf = AUTO_RF_MAX if max_rf is None else int(max_rf)
    span = propose_span(noisy, check_axis(axis))
    if span == "full":
        return max_rf
    return int(min(max_rf, max(2, int(span) - 1)))


def _cuda_devices(device: str) -> list[int]:
    """Devices whose RNG ``fork_rng`` must save (none on CPU)."""
    if not str(device).startswith("cuda"):
        return []
    import torch

    dev = torch.device(device)
    return [dev.index if dev.index is not None else torch.cuda.current_device()]
