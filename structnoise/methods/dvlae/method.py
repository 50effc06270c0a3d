"""DVLAE as a structnoise method: fit, denoise (MMSE / sample / mean), sample noise, save.

What is DVLAE's own: the AR noise decoder and its receptive field along ``axis``, the
signal decoder, the presets and profiles, and :meth:`DVLAE.sample_noisy`. Everything
around them (validation split, normalisation, seeded build, the Lightning loop, tiled
MMSE prediction, storage) is the shared core, :class:`~structnoise.methods.vae.method.LadderMethod`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import torch

from structnoise._validate import as_stack, check_axis
from structnoise.methods.contract import MethodInfo, Mode, OnePass
from structnoise.methods.dvlae.direct import DirectSpec, parse_loss
from structnoise.methods.dvlae.network import Architecture, DVLAENet
from structnoise.methods.dvlae.paper_settings import dataset_defaults
from structnoise.methods.dvlae.profiles import (
    PROFILES,
    FreeBitsUnit,
    resolve_architecture,
)
from structnoise.methods.vae.device import rng_devices
from structnoise.methods.vae.method import LadderMethod
from structnoise.methods.vae.options import LRSchedule, Precision

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
    "direct",
    "direct_loss",
    "direct_filters",
    "lr_warmup_steps",
    "res_init",
)
#: Architecture fields a user may override through method parameters.
_ARCH_PARAMS = ("n_filters", "z_dims", "n_levels", "sd_filters", "ar_filters", "scale_floor")


def _info(paper_name: str, quick: float) -> MethodInfo:
    return MethodInfo(
        description="DVLAE (Salmon & Krull): VAE with a 1-D autoregressive noise decoder "
        "and a signal decoder; unsupervised, for structured signal-dependent noise "
        "(direct=True adds a one-pass direct denoiser, mode='direct')",
        uses_axis=True,
        learns=True,
        budgets={"smoke": 1.0, "quick": quick, "paper": None},
        paper_name=paper_name,
        denoise_options=("n_samples", "tile", "mode", "seed", "precision"),
        snapshots=True,
        uses_rf=True,
        dataset_defaults=dataset_defaults(),
    )


INFO_SMALL = _info("Ours small", 20.0)
INFO_LARGE = _info("Ours large", 20.0)


class DVLAE(LadderMethod):
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
        takes the profile's ``rf`` (:mod:`~structnoise.methods.dvlae.profiles`): 40, the
        paper's, in every profile. "auto" measures the noise's correlation length along
        ``axis`` on the training images when ``fit`` starts (:func:`auto_rf`).
    n_gaussians : int
        Mixture components of the noise model (3; the paper used 10 for FFHQ and 5 for
        STEM, see :mod:`~structnoise.methods.dvlae.paper_settings`).
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
    direct : bool, optional
        Train the direct denoiser beside the VAE (default: the profile's), for
        ``denoise(mode="direct")``: one pass of a U-Net instead of ``n_samples`` posterior
        samples (:mod:`structnoise.methods.dvlae.direct`).
    direct_loss : {"l2", "l1"}, optional
        Its loss: "l2" (the MMSE estimate, default) or "l1" (the median).
    direct_filters : int, optional
        Its width (default: the VAE's ``n_filters``).
    n_filters, z_dims, n_levels, sd_filters, ar_filters, scale_floor : optional
        Override the network sizes of the preset/profile.
    **common
        ``seed``, ``profile`` ("quick", "paper", "smoke"), ``max_minutes``, ``progress``,
        ``work_dir`` (see :class:`structnoise.methods.base.BaseDenoiser`).
    """

    info: ClassVar[MethodInfo] = INFO_SMALL
    min_size: ClassVar[int] = 16
    label = "DVLAE"
    seed_tag = "dvlae"
    option_names = (
        "axis",
        "rf",
        "n_gaussians",
        "n_samples",
        "tile",
        *_PROFILE_PARAMS,
        *_ARCH_PARAMS,
    )
    weights_file = "model.pt"
    default_precision = Precision.AUTO
    profiles = PROFILES
    profile_params = _PROFILE_PARAMS
    profile_choices = {
        "lr_schedule": LRSchedule,
        "free_bits_unit": FreeBitsUnit,
        "precision": Precision,
    }

    def __init__(
        self,
        *,
        variant: Literal["small", "large"] = "small",
        axis: str = "horizontal",
        rf: int | str | None = None,
        n_gaussians: int = 3,
        n_samples: int = 100,
        tile: int | None = None,
        device: str | None = None,
        **params: Any,
    ) -> None:
        if rf is None:
            rf = PROFILES.get(params.get("profile", "quick"), PROFILES["quick"]).rf
        super().__init__(
            device=device,
            axis=check_axis(axis),
            rf=_check_rf(rf),
            n_gaussians=int(n_gaussians),
            n_samples=int(n_samples),
            tile=None if tile is None else int(tile),
            **params,
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
        self.arch = self._resolve_arch()
        self.direct_spec = self._resolve_direct()

    # ------------------------------------------------------------------ configuration
    def _resolve_arch(self, rf: int | None = None) -> Architecture:
        """The network's architecture; ``rf`` replaces an "auto" receptive field."""
        overrides = {k: self.params.get(k) for k in _ARCH_PARAMS}
        if rf is None:
            rf = self.params["rf"] if self.params["rf"] != "auto" else AUTO_RF_MAX
        overrides.update(rf=rf, axis=self.params["axis"], n_gaussians=self.params["n_gaussians"])
        return resolve_architecture(self.variant, self.training_profile, overrides)

    def _resolve_direct(self) -> DirectSpec | None:
        """The direct denoiser's sizes, or None when the profile and parameters want none."""
        prof = self.training_profile
        parse_loss(prof.direct_loss)
        if not _check_bool(prof.direct, "direct"):
            return None
        return DirectSpec.for_network(self.arch, prof.direct_loss, prof.direct_filters)

    def _new_network(self) -> DVLAENet:
        net = DVLAENet(self.arch)
        scale_residual_init(net.vae, self.training_profile.res_init)
        if self.direct_spec is not None:  # built after the VAE: its weights stay the same
            net.direct = self.direct_spec.build()
        return net

    @property
    def has_direct(self) -> bool:
        """Whether the model has (or ``fit`` trains) a direct denoiser."""
        return self.direct_spec is not None

    def resolved_params(self) -> dict[str, Any]:
        """The profile with overrides, the parameters and the network's sizes.

        Returns
        -------
        dict
            As :meth:`BaseDenoiser.resolved_params`, with the profile's ``arch`` and
            ``n_levels`` replaced by the resolved :class:`Architecture` fields (``rf``
            stays the parameter: "auto" is resolved only by ``fit``), and "fit" for a
            ``steps_per_epoch`` or ``val_crops`` of None (as many crops as fit into the
            images, the authors' rule).
        """
        out = super().resolved_params()
        for key in ("steps_per_epoch", "val_crops"):
            if out.get(key, 0) is None:
                out[key] = "fit"
        out.pop("arch", None)
        out.pop("n_levels", None)
        arch = self.arch.to_dict()
        for key in ("rf", "axis", "n_gaussians"):  # parameters of the method itself
            arch.pop(key, None)
        return {**out, **arch}

    # ------------------------------------------------------------------ training
    def _fit(self, noisy: np.ndarray, clean, val) -> None:
        from structnoise.methods.dvlae.training import DVLAEModule

        prof = self.training_profile
        given = None if val is None else val[0]
        train_x, val_x, held_out = self._training_images(noisy, given, prof.val_fraction)
        if self.params["rf"] == "auto":
            self.arch = self._resolve_arch(auto_rf(noisy, self.params["axis"]))
        self.direct_spec = self._resolve_direct()
        self.net = self.build_network()
        self.history = []
        module = DVLAEModule(self.net, prof, history=self.history)
        result = self._train(
            module,
            train_x,
            val_x,
            prof,
            precision=prof.precision,
            channels_last=prof.channels_last,
            threads=prof.threads,
            ema_decay=prof.ema_decay,
        )
        self.history = result.history
        self.train_summary = self._summary(
            result,
            n_train=len(train_x),
            n_val=len(val_x) if held_out else 0,
            profile=prof.to_dict(),
            rf=self.arch.rf,
            signal_decoder_only_from_step=module.finish_start_step,
        )

    # ------------------------------------------------------------------ prediction
    def default_mode(self, n_samples: int | None = None) -> Mode:
        """The direct denoiser when the model has one and no ``n_samples`` is asked, else MMSE.

        Asking for ``n_samples`` asks for the MMSE of that many posterior samples (the
        paper's estimate), so benchmark rows and commands that pass it keep scoring the
        MMSE. Measured in ``results/dvlae-recipe/`` (``benchmarks/dvlae_recipe.py``).
        """
        if n_samples is None and self.direct_spec is not None and self._net_has_direct():
            return Mode.DIRECT
        return Mode.MMSE

    def _net_has_direct(self) -> bool:
        return getattr(self.net, "direct", None) is not None

    def one_pass_network(self) -> OnePass:
        """The direct denoiser as a one-pass network (what ``structnoise export`` packages).

        Returns
        -------
        OnePass
            The direct U-Net (normalised units in and out, architecture:
            :mod:`structnoise.methods.dvlae.direct_net`, which needs only torch).

        Raises
        ------
        ValueError
            When the model is not fitted or was trained without ``direct=True``.
        """
        from pathlib import Path

        from structnoise.methods.dvlae import direct_net

        if self.net is None:
            raise ValueError("the model is not fitted")
        direct = getattr(self.net, "direct", None)
        if direct is None:
            raise ValueError("it was trained without the direct denoiser (direct=True)")
        spec = self.direct_spec
        return OnePass(
            method=self.name,
            network=direct.cpu().eval(),
            architecture={
                "file": Path(direct_net.__file__),
                "callable": "DirectUNet",
                "kwargs": {"n_filters": spec.n_filters, "downsample": list(spec.downsample)},
            },
            in_mean=self.norm.mean,
            in_std=self.norm.std,
            out_mean=self.norm.mean,
            out_std=self.norm.std,
            multiple=1,
            summary="DVLAE's direct denoiser: a U-Net trained beside the VAE to output the "
            "mean of the signal decoder's posterior samples (one pass, no sampling)",
            tags=["denoising", "dvlae", "structured-noise", "unsupervised"],
            denoise_options={"mode": "direct"},
        )

    def _denoise(self, noisy, *, mode=None, precision=None, **options):
        mode = self.default_mode(options.get("n_samples")) if mode is None else mode
        # the direct denoiser is one cheap pass: float32 unless asked otherwise, so that its
        # output is the exported model's (structnoise export) to float tolerance
        if str(mode) == Mode.DIRECT and precision is None and not self.params.get("precision"):
            precision = Precision.FLOAT32
        return super()._denoise(noisy, mode=mode, precision=precision, **options)

    def _predictor(self, net, dev: str, mode: Mode, n: int, fmt):
        if mode is not Mode.DIRECT:
            return super()._predictor(net, dev, mode, n, fmt)
        direct = getattr(net, "direct", None)
        if direct is None:
            raise ValueError(
                f"{self.name}: this model has no direct denoiser; train it with direct=True "
                "(structnoise train ... --direct) to use mode='direct'"
            )
        norm = self.norm

        def fn(batch: np.ndarray) -> np.ndarray:
            x = torch.from_numpy(norm.apply(batch)).to(dev)[:, None].contiguous(memory_format=fmt)
            out = direct(x)
            return norm.invert(out[:, 0].float().cpu().numpy()).astype(np.float32)

        return fn

    # ------------------------------------------------------------------ noise samples
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
        net, dev = self._prepare_net()
        seed = self._seed("sample-noisy") if seed is None else int(seed)
        out = np.empty_like(x)
        with torch.random.fork_rng(devices=rng_devices(dev)), torch.inference_mode():
            torch.manual_seed(seed)
            gen = torch.Generator(device=dev).manual_seed(seed)
            for i in range(len(x)):
                xi = torch.from_numpy(self.norm.apply(x[i : i + 1])).to(dev)[:, None]
                s = net.sample_noisy(xi, generator=gen)
                out[i] = self.norm.invert(s[0, 0].float().cpu().numpy())
        return out[0] if was_2d else out

    # ------------------------------------------------------------------ persistence
    def _extra_state(self) -> dict:
        spec = self.direct_spec
        return {"arch": self.arch.to_dict(), "direct": None if spec is None else spec.to_dict()}

    def _read_state(self, path, extra: dict) -> None:
        self.arch = Architecture(**extra["arch"])
        spec = extra.get("direct")  # models saved before the direct denoiser have none
        self.direct_spec = None if spec is None else DirectSpec(**spec)


def scale_residual_init(module: torch.nn.Module, how: str) -> int:
    """Scale the last layer of every residual block of ``module`` (VDVAE/COSDD init).

    Parameters
    ----------
    module : torch.nn.Module
        The ladder VAE.
    how : {"default", "scaled"}
        "default" leaves the weights; "scaled" multiplies the weights of the last
        convolution of each residual block (its gate's convolution when it has one) by
        ``1 / sqrt(n)``, ``n`` the number of residual blocks, so that the sum of the
        residual branches starts with the variance of one.

    Returns
    -------
    int
        The number of residual blocks scaled (0 for "default").
    """
    if how not in ("default", "scaled"):
        raise ValueError(f"res_init must be 'default' or 'scaled', got {how!r}")
    if how == "default":
        return 0
    blocks = [m for m in module.modules() if type(m).__name__ == "ResBlock"]
    factor = 1.0 / np.sqrt(max(1, len(blocks)))
    with torch.no_grad():
        for block in blocks:
            last = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d)][-1]
            last.weight.mul_(factor)
    return len(blocks)


def _check_bool(value, name: str) -> bool:
    """``value`` as a bool (also "true"/"false", 0/1), or a ValueError naming ``name``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", "none"):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


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
    :func:`structnoise.datasets.noise_stats.propose_span` (the lag beyond which the
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
    from structnoise.datasets.noise_stats import propose_span

    max_rf = AUTO_RF_MAX if max_rf is None else int(max_rf)
    span = propose_span(noisy, check_axis(axis))
    if span == "full":
        return max_rf
    return int(min(max_rf, max(2, int(span) - 1)))
