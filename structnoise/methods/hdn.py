"""Hierarchical DivNoising (HDN) and HDN_{3-6}: ``hdn``, ``hdn36``, ``hdn[36]-large``.

Prakash, Delbracio, Milanfar & Jug, "Interpretable Unsupervised Diversity Denoising and
Artefact Removal", ICLR 2022 (code: juglab/HDN). HDN is a hierarchical VAE whose decoder
is a *pixel-independent* noise model ``p(x | s) = prod_i p(x_i | s_i)``: the network
predicts the signal ``s`` from its latent code and the noise model says how noisy pixels
scatter around it. HDN_{3-6} replaces the posterior of the two highest-resolution levels
(levels 1-2 of 6 in the paper's numbering, 0 and 1 here) by their prior, so the model
cannot reconstruct high-frequency content from the input; this removes some structured
(spatially correlated) noise, which is why the DVLAE paper uses it as its baseline.

The implementation:

* the network is the project's :class:`~structnoise.methods.ladder.LadderVAE` (shared with
  DVLAE; 6 levels, every level halves the resolution as in HDN's code, gated residual
  blocks, 64 filters, 32 latent channels per level, 64 for the ``-large`` variants as in
  the DVLAE paper's "HDN large" / "HDN36 large") with a 3x3 convolution from its s_code
  to the signal;
* the noise model is careamics' ``GaussianMixtureNoiseModel`` (3 Gaussians, parameters
  linear in the signal), fitted on pixel pairs of noisy images and their clean (or
  pseudo-clean) signal, see :mod:`structnoise.methods.hdn_noise`; the loss evaluates the
  fitted mixture with a log-sum-exp (careamics' own likelihood floors the density at
  1e-10, which leaves pixels far from the prediction without a gradient);
* training (:mod:`structnoise.methods.hdn_training`) follows the HDN authors' code: Adamax,
  ReduceLROnPlateau(factor 0.5, patience 10 epochs), free bits 1 nat per sample and level,
  random 64x64 crops with 8-fold rotation/flip augmentation, dropout 0.2 and 5 residual
  blocks per level in the ``paper`` profile;
* prediction is the MMSE estimate: the mean of ``n_samples`` (100) posterior samples,
  drawn in batches from one bottom-up pass per tile; HDN_{3-6} uses the prior *mean* at
  its unconditional levels, as the HDN code does at prediction.

How ``fit`` uses its inputs (see :meth:`HDN.fit`)::

    model.fit(noisy, clean)                      # NM from (noisy, clean); VAE on noisy
    model.fit(noisy, clean, extra_noisy=more)    # ... VAE on noisy + more (e.g. test images)
    model.fit(noisy, signal=pseudo_clean)        # NM from a pseudo ground truth
    model.fit(noisy, noise_model=nm)             # a GMMNoiseModel fitted elsewhere

Clean images are never a training target: they only calibrate the noise model. The
benchmark therefore calls ``fit(train_noisy, train_clean, extra_noisy=test_noisy)``: the
noise model sees only the training pairs, the VAE every noisy image (as for the other
unsupervised methods).

Deviations from the HDN code, each for a reason:

* HDN_{3-6}: the HDN code computes ``q`` at the unconditional levels with its own
  convolution from the top-down features (a distribution that ignores ``x`` there, but
  differs from ``p``); here ``q`` *is* ``p`` (the DVLAE paper's description: "the
  posterior is replaced by the prior"), so those levels have exactly zero KL and are left
  out of the free-bits term.
* The top prior is one learnt vector broadcast over space (the ladder's choice), so the
  model is not tied to the training crop size; HDN learns a spatial tensor.
* The stem and the final top-down block have one residual block (HDN: the final block
  has ``blocks_per_layer``); non-linearity Mish (HDN: ELU), as in the shared ladder.
* One batch of 64 crops instead of 8 accumulated "virtual" batches of 8.
* Validation: HDN validates on held-out frames; with ``val=None`` the ``paper`` profile
  holds out 15 % of the images (seeded), the ``quick``/``smoke`` profiles validate on fixed
  crops of the training images (the loss is then a smoothed training loss for the
  learning-rate schedule; a VAE denoiser is fitted to the images it denoises anyway).
* The training stops after the last step (HDN evaluates its "last" weights as well).
* ``min_sigma``: see :mod:`structnoise.methods.hdn_noise` (HDN's 50 is in camera counts).

Profiles (``smoke``/``quick``/``paper``) are listed in :data:`PROFILES`, each value with
its reason.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from structnoise._validate import as_stack, check_same_shape
from structnoise.methods.base import BaseDenoiser, MethodInfo, fold_axes
from structnoise.methods.hdn_noise import GMMNoiseModel
from structnoise.methods.registry import register
from structnoise.methods.tiling import predict_tiled
from structnoise.utils import atomic_path, derive_seed, pick_device

MODES = ("mmse", "sample", "mean")

#: The registered variants: latent channels per level and unconditional levels.
VARIANTS: dict[str, dict[str, Any]] = {
    "hdn": {"z_dim": 32, "uncond_levels": [], "paper_name": "HDN"},
    "hdn36": {"z_dim": 32, "uncond_levels": [0, 1], "paper_name": "HDN36"},
    "hdn-large": {"z_dim": 64, "uncond_levels": [], "paper_name": "HDN large"},
    "hdn36-large": {"z_dim": 64, "uncond_levels": [0, 1], "paper_name": "HDN36 large"},
}

#: Pixels (samples x height x width) per forward pass at prediction, for 64 filters.
_PIXELS_PER_PASS = 2**20


@dataclass(frozen=True)
class HDNProfile:
    """How to train HDN (and the network width that goes with the budget).

    Attributes
    ----------
    n_filters : int
        Feature channels of the ladder VAE (HDN: 64).
    blocks_per_level : int
        Residual blocks per level and path (HDN: 5).
    dropout : float
        Dropout2d rate in the residual blocks (HDN: 0.2).
    patch : int
        Side of the random training crops (HDN: 64).
    batch : int
        Crops per optimiser step (HDN: 64).
    lr : float
        Adamax learning rate (HDN: 3e-4).
    steps_per_epoch : int
        Steps between validations / learning-rate schedule updates (HDN: 400).
    max_steps : int or None
        Limit on steps (HDN: 500 epochs of 400 steps); None = the time budget only.
    val_fraction : float
        Fraction of the images held out for validation when ``val`` is not given; 0 =
        validate on fixed crops of the training images.
    val_crops : int
        Validation crops (HDN: at most 1000).
    plateau_patience, plateau_factor : int, float
        ReduceLROnPlateau on the validation loss (HDN: 10 epochs, 0.5).
    anneal : bool
        Instead of the plateau schedule, decay the learning rate along a cosine from
        ``lr`` to ``lr / 100`` over the budget (``max_steps`` or the time budget, whichever
        runs out first): short runs end on stable weights.
    early_stop_patience : int or None
        Epochs without improvement before training stops (HDN notebooks: 30); None = off.
    nm_epochs, nm_batch : int, int
        Noise-model fit: careamics iterations and pixel pairs per iteration (HDN: 2000,
        250 000).
    n_samples : int
        Default number of posterior samples of the MMSE estimate (HDN: 100).
    notes : str
        Why the profile is what it is.
    """

    n_filters: int = 64
    blocks_per_level: int = 5
    dropout: float = 0.2
    patch: int = 64
    batch: int = 64
    lr: float = 3e-4
    steps_per_epoch: int = 400
    max_steps: int | None = 200_000
    val_fraction: float = 0.15
    val_crops: int = 1000
    plateau_patience: int = 10
    plateau_factor: float = 0.5
    anneal: bool = False
    early_stop_patience: int | None = 30
    nm_epochs: int = 2000
    nm_batch: int = 250_000
    n_samples: int = 100
    notes: str = ""


#: The HDN authors' settings (juglab/HDN training notebooks), for a GPU.
PAPER = HDNProfile(
    notes="HDN code: 64 filters, 5 gated residual blocks per level, dropout 0.2, 64x64 "
    "crops, batch 64, Adamax 3e-4, ReduceLROnPlateau(0.5, 10), early stop after 30 epochs "
    "without improvement, at most 500 epochs of 400 steps; GMM fit 2000 x 250k pairs."
)

#: Minutes on 2 CPU cores. The paper's network costs about 7 s per step of 16 crops there;
#: every change below buys steps, measured on embedded-stripe (see the README). The method
#: (6 levels, latent sizes, free bits, the noise model, MMSE of 100 samples) is unchanged.
QUICK = HDNProfile(
    n_filters=16,  # ~2x the steps of 32 filters per minute and better PSNR per minute
    blocks_per_level=1,  # 5x fewer residual blocks per level
    dropout=0.0,  # dropout slows learning; short runs do not over-fit
    patch=64,
    batch=8,  # more, cheaper steps
    lr=3e-3,  # with the cosine decay below; 1e-3 learnt 2-3x slower in the first minutes
    steps_per_epoch=50,
    max_steps=2500,  # hdn36 passes the noisy input after ~1000 steps on embedded-stripe
    val_fraction=0.0,  # every image is needed for training
    val_crops=16,
    plateau_patience=10,
    plateau_factor=0.5,
    anneal=True,  # without it the last weights swing by +-1.5 dB between epochs
    early_stop_patience=None,  # step/budget-limited; never stop early
    nm_epochs=1000,
    nm_batch=20_000,  # test NLL within 1e-3 nats of the fit with 250k pairs x 2000
    n_samples=100,
    notes="CPU: 16 filters, 1 block per level, no dropout, batch 8, Adamax 3e-3 with a "
    "cosine decay over 2500 steps (or the time budget), noise model 1000 x 20k pairs; "
    "see the comments in structnoise.methods.hdn.",
)

#: Seconds, for tests and the registry's conformance check.
SMOKE = HDNProfile(
    n_filters=8,
    blocks_per_level=1,
    dropout=0.0,
    patch=64,
    batch=4,
    lr=1e-3,
    steps_per_epoch=4,
    max_steps=8,
    val_fraction=0.0,
    val_crops=4,
    plateau_patience=10,
    plateau_factor=0.5,
    early_stop_patience=None,
    nm_epochs=100,
    nm_batch=5000,
    n_samples=4,
    notes="Smoke test only (seconds): 8 filters, 8 steps of 4 crops, 100 GMM iterations.",
)

PROFILES: dict[str, HDNProfile] = {"paper": PAPER, "quick": QUICK, "smoke": SMOKE}

#: Profile fields a user may override through method parameters.
_PROFILE_PARAMS = (
    "n_filters",
    "blocks_per_level",
    "dropout",
    "patch",
    "batch",
    "lr",
    "max_steps",
    "nm_epochs",
    "nm_batch",
    "anneal",
)


def _info(variant: str) -> MethodInfo:
    large = variant.endswith("-large")
    v36 = variant.startswith("hdn36")
    what = "HDN_{3-6} (two highest-resolution levels take the prior)" if v36 else "HDN"
    return MethodInfo(
        description=f"{what}{', 64 latent channels' if large else ''}: hierarchical VAE "
        "with a Gaussian-mixture noise model; needs clean (or pseudo-clean) images only "
        "to fit the noise model",
        needs_clean=True,
        samples=True,
        uses_axis=False,
        learns=True,
        budgets={"smoke": 1.0, "quick": 15.0, "paper": None},
        paper_name=VARIANTS[variant]["paper_name"],
    )


INFOS = {v: _info(v) for v in VARIANTS}


class HDN(BaseDenoiser):
    """Hierarchical DivNoising with a Gaussian-mixture noise model (HDN, HDN_{3-6}).

    Parameters
    ----------
    variant : {"hdn", "hdn36", "hdn-large", "hdn36-large"}
        Set by the registered name.
    n_samples : int, optional
        Posterior samples averaged by the MMSE prediction (None: the profile's, 100).
    tile : int, optional
        Largest tile side at prediction (None: 512; images up to 512 go whole).
    device : str, optional
        Torch device; None picks CUDA when available.
    z_dim : int, optional
        Latent channels per level (None: 32, or 64 for ``-large``).
    n_levels : int
        Latent levels (6).
    free_bits : float
        KL floor per sample and level in nats (HDN: 1.0; 0 = plain ELBO).
    augment : bool
        Random 90-degree rotations and flips of the training crops (HDN: on).
    n_gaussian, n_coeff : int
        Noise model: mixture components (3) and polynomial coefficients (2 = linear).
    min_sigma : float, optional
        Noise-model variance floor in data units squared (None: automatic, see
        :mod:`structnoise.methods.hdn_noise`; HDN used 50 on raw camera counts).
    n_filters, blocks_per_level, dropout, patch, batch, lr, max_steps, nm_epochs, nm_batch, anneal
        Override the profile (see :class:`HDNProfile`).
    **common
        ``seed``, ``profile``, ``max_minutes``, ``progress``, ``work_dir``
        (see :class:`structnoise.methods.base.BaseDenoiser`). ``max_minutes`` bounds the
        VAE's training; the noise-model fit (seconds to a minute on a CPU) comes on top.
    """

    info: ClassVar[MethodInfo] = INFOS["hdn"]
    min_size: ClassVar[int] = 8

    def __init__(
        self,
        *,
        variant: str = "hdn",
        n_samples: int | None = None,
        tile: int | None = None,
        device: str | None = None,
        z_dim: int | None = None,
        n_levels: int = 6,
        free_bits: float = 1.0,
        augment: bool = True,
        n_gaussian: int = 3,
        n_coeff: int = 2,
        min_sigma: float | None = None,
        **params: Any,
    ) -> None:
        common = {"seed", "profile", "max_minutes", "progress", "work_dir"}
        unknown = set(params) - set(_PROFILE_PARAMS) - common
        if unknown:
            raise TypeError(
                f"unknown HDN parameter(s) {sorted(unknown)}; known: n_samples, tile, device, "
                "z_dim, n_levels, free_bits, augment, n_gaussian, n_coeff, min_sigma, "
                + ", ".join(_PROFILE_PARAMS)
            )
        if variant not in VARIANTS:
            raise ValueError(f"unknown HDN variant {variant!r}: expected one of {list(VARIANTS)}")
        for name, value, low in (
            ("n_samples", n_samples, 1),
            ("tile", tile, 8),
            ("z_dim", z_dim, 1),
            ("n_levels", n_levels, 1),
            ("n_gaussian", n_gaussian, 1),
            ("n_coeff", n_coeff, 2),
        ):
            if value is not None and int(value) < low:
                raise ValueError(f"{name} must be at least {low}, got {value}")
        if float(free_bits) < 0:
            raise ValueError(f"free_bits must be >= 0, got {free_bits}")
        if min_sigma is not None and not float(min_sigma) > 0:
            raise ValueError(f"min_sigma must be positive (a variance), got {min_sigma}")
        base_kw = {k: params.pop(k) for k in list(params) if k in common}
        super().__init__(
            n_samples=None if n_samples is None else int(n_samples),
            tile=None if tile is None else int(tile),
            device=device,
            z_dim=None if z_dim is None else int(z_dim),
            n_levels=int(n_levels),
            free_bits=float(free_bits),
            augment=bool(augment),
            n_gaussian=int(n_gaussian),
            n_coeff=int(n_coeff),
            min_sigma=None if min_sigma is None else float(min_sigma),
            **params,
            **base_kw,
        )
        self.variant = variant
        self.info = INFOS[variant]
        self.name = variant
        self.uncond_levels = list(VARIANTS[variant]["uncond_levels"])
        if self.uncond_levels and int(n_levels) < 3:
            raise ValueError(f"{variant} needs at least 3 levels (levels 0-1 take the prior)")
        self.net = None
        self.noise_model: GMMNoiseModel | None = None
        self.data_mean = 0.0
        self.data_std = 1.0
        self.train_summary: dict[str, Any] = {}

    # ------------------------------------------------------------------ configuration
    @property
    def training_profile(self) -> HDNProfile:
        """The profile with the user's overrides applied."""
        changes = {k: self.params[k] for k in _PROFILE_PARAMS if self.params.get(k) is not None}
        return replace(PROFILES[self.profile], **changes)

    @property
    def z_dims(self) -> list[int]:
        """Latent channels per level."""
        z = self.params["z_dim"] or VARIANTS[self.variant]["z_dim"]
        return [int(z)] * self.params["n_levels"]

    @property
    def device(self) -> str:
        """The torch device used for training and prediction."""
        return pick_device(self.params.get("device"))

    def build_network(self):
        """A freshly initialised :class:`~structnoise.methods.hdn_training.HDNNet` (seeded).

        Returns
        -------
        HDNNet
        """
        import torch

        from structnoise.methods.hdn_training import HDNNet

        prof = self.training_profile
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.seed, "hdn-init"))
            return HDNNet(
                n_filters=prof.n_filters,
                z_dims=self.z_dims,
                uncond_levels=self.uncond_levels,
                dropout=prof.dropout,
                blocks_per_level=prof.blocks_per_level,
            )

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        noisy,
        clean=None,
        *,
        val=None,
        signal=None,
        extra_noisy=None,
        noise_model=None,
        axes: str | None = None,
    ) -> HDN:
        """Fit the noise model, then train the VAE on noisy images.

        Exactly one source for the noise model is required: ``clean``, ``signal`` or
        ``noise_model``.

        Parameters
        ----------
        noisy : array_like
            ``(Y, X)`` or ``(N, Y, X)`` noisy images; the VAE trains on them (and on
            ``extra_noisy``), and they are the observations of the noise model's pairs.
        clean : array_like, optional
            Clean images paired with ``noisy`` (same shape): the noise model is fitted on
            the pixel pairs ``(clean, noisy)``. Never used as a training target.
        val : array_like or tuple, optional
            Validation noisy images (or a ``(noisy, clean)`` pair, whose clean part is
            ignored) for the learning-rate schedule and early stopping.
        signal : array_like, optional
            A pseudo ground truth for ``noisy`` (same shape; e.g. another denoiser's
            output, as the DVLAE paper did for STEM), used instead of ``clean``.
        extra_noisy : array_like, optional
            More noisy images ``(Y, X)`` or ``(N, Y, X)`` (any size) for the VAE only (not
            for the noise model), e.g. the test images in a benchmark.
        noise_model : GMMNoiseModel or path-like, optional
            A fitted noise model, or a folder holding one (written by
            :meth:`GMMNoiseModel.save` or by :meth:`save` of a fitted HDN).
        axes : str, optional
            Axes of ``noisy``, ``clean`` and ``signal`` (see :meth:`BaseDenoiser.fit`):
            channels, time points and planes become images of the stack.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Without a noise-model source, with more than one, or on bad images.
        """
        noisy = fold_axes(noisy, axes)
        clean = None if clean is None else fold_axes(clean, axes)
        signal = None if signal is None else fold_axes(signal, axes)
        x, _ = as_stack(noisy, name="noisy", min_size=self.min_size)
        sources = (("clean", clean), ("signal", signal), ("noise_model", noise_model))
        given = [name for name, value in sources if value is not None]
        if not given:
            raise ValueError(
                f"{self.name} needs clean targets (or a pseudo ground truth) to fit its noise "
                "model; the denoiser itself learns from the noisy images only. Call "
                "fit(noisy, clean) with clean images paired with noisy, "
                "fit(noisy, signal=pseudo_clean) with a pseudo ground truth (e.g. another "
                "denoiser's output), or fit(noisy, noise_model=GMMNoiseModel.fit(obs, sig))"
            )
        if len(given) > 1:
            raise ValueError(
                f"give exactly one of clean, signal and noise_model (got {', '.join(given)})"
            )
        pair = None
        nm = None
        if clean is not None or signal is not None:
            label = "clean" if clean is not None else "signal"
            pair, _ = as_stack(clean if clean is not None else signal, name=label)
            check_same_shape(x, pair, ("noisy", label))
            self.train_summary = {"noise_model_source": label}
        else:
            nm = self._as_noise_model(noise_model)
            self.train_summary = {"noise_model_source": "given"}
        extra = None
        if extra_noisy is not None:
            extra, _ = as_stack(extra_noisy, name="extra_noisy", min_size=self.min_size)
        v = None
        if val is not None:
            vn = val[0] if isinstance(val, tuple) else val
            v, _ = as_stack(vn, name="val", min_size=self.min_size)
        self._fit_extra = {"noise_model": nm, "extra_noisy": extra}
        try:
            self._fit(x, pair, v)
        finally:
            self._fit_extra = {}
        self.record_data_range(x)
        self.fitted = True
        return self

    @staticmethod
    def _as_noise_model(noise_model) -> GMMNoiseModel:
        if isinstance(noise_model, GMMNoiseModel):
            return noise_model
        if isinstance(noise_model, (str, os.PathLike)):
            return GMMNoiseModel.load(noise_model)
        raise TypeError(
            "noise_model must be a GMMNoiseModel or the folder of a saved one, "
            f"got {type(noise_model).__name__}"
        )

    def _fit(self, noisy: np.ndarray, pair, val) -> None:
        import time

        import torch

        from structnoise.methods.hdn_training import train

        t0 = time.monotonic()
        prof = self.training_profile
        extra = getattr(self, "_fit_extra", {})
        # 1. the noise model
        if pair is not None:
            self.noise_model = self._fit_noise_model(noisy, pair, prof)
        elif extra.get("noise_model") is not None:
            self.noise_model = extra["noise_model"]
        else:  # pragma: no cover - fit() checks this
            raise ValueError("no noise model source")
        nm_seconds = time.monotonic() - t0
        # 2. the images the VAE trains and validates on
        stacks = [noisy] + ([extra["extra_noisy"]] if extra.get("extra_noisy") is not None else [])
        images = [im for s in stacks for im in s]
        if val is not None:
            val_images = list(val)
        elif prof.val_fraction > 0 and len(images) >= 2:
            rng = np.random.default_rng(derive_seed(self.seed, "hdn-split"))
            order = rng.permutation(len(images))
            n_val = max(1, int(round(prof.val_fraction * len(images))))
            val_images = [images[i] for i in order[:n_val]]
            images = [images[i] for i in order[n_val:]]
        else:
            val_images = images
        flat = np.concatenate([im.ravel() for im in images]).astype(np.float64)
        self.data_mean = float(flat.mean())
        self.data_std = float(flat.std())
        if not self.data_std > 0:
            raise ValueError("noisy: the training images are constant; nothing to learn")

        def norm(im: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(((im - self.data_mean) / self.data_std).astype(np.float32))[
                None
            ]

        self.net = self.build_network()
        nm, mean, std = self.noise_model, self.data_mean, self.data_std

        def log_likelihood(x_norm: torch.Tensor, s_norm: torch.Tensor) -> torch.Tensor:
            return nm.log_likelihood(x_norm * std + mean, s_norm * std + mean)

        budget = self.budget_minutes  # the VAE's training time; the noise-model fit is extra
        max_seconds = None if budget is None else max(1.0, budget * 60.0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(self.seed, "hdn-train"))
            result = train(
                self.net,
                log_likelihood,
                [norm(im) for im in images],
                [norm(im) for im in val_images],
                prof,
                free_bits=self.params["free_bits"],
                augment=self.params["augment"],
                seed=derive_seed(self.seed, "hdn-crops"),
                max_steps=prof.max_steps,
                max_seconds=max_seconds,
                device=self.device,
                progress=self.progress,
                work_dir=self.work_dir,
                method=self.name,
            )
        self.noise_model.module.to("cpu")
        self.history = result.history
        last = result.history[-1] if result.history else {}
        self.train_summary.update(
            steps=result.steps,
            train_seconds=round(result.seconds, 2),
            noise_model_seconds=round(nm_seconds, 2),
            stopped_by=result.stopped_by,
            skipped_batches=result.skipped_batches,
            n_train_images=len(images),
            n_val_images=len(val_images) if val_images is not images else 0,
            final=last,
        )

    def _fit_noise_model(self, noisy, pair, prof: HDNProfile) -> GMMNoiseModel:
        return GMMNoiseModel.fit(
            noisy,
            pair,
            n_gaussian=self.params["n_gaussian"],
            n_coeff=self.params["n_coeff"],
            min_sigma=self.params["min_sigma"],
            n_epochs=prof.nm_epochs,
            batch_size=prof.nm_batch,
            seed=derive_seed(self.seed, "hdn-noise-model"),
        )

    # ------------------------------------------------------------------ prediction
    def denoise(
        self,
        noisy,
        *,
        n_samples: int | None = None,
        tile: int | None = None,
        mode: str = "mmse",
        axes: str | None = None,
    ) -> np.ndarray:
        """Denoise an image or a stack.

        Parameters
        ----------
        noisy : array_like
            ``(Y, X)`` or ``(N, Y, X)``, or any layout named by ``axes``.
        n_samples : int, optional
            Posterior samples for ``mode="mmse"`` (None: the ``n_samples`` parameter, else
            the profile's default, 100 for ``quick`` and ``paper``).
        tile : int, optional
            Largest tile side (None: the ``tile`` parameter, else 512).
        mode : {"mmse", "sample", "mean"}
            ``mmse``: mean of the samples (the paper's estimate); ``sample``: one
            posterior sample; ``mean``: one pass with every latent at its mean.
        axes : str, optional
            Axes of ``noisy`` (see :meth:`BaseDenoiser.denoise`).

        Returns
        -------
        numpy.ndarray
            float32, same shape as ``noisy``.
        """
        return super().denoise(noisy, axes=axes, n_samples=n_samples, tile=tile, mode=mode)

    def _denoise(self, noisy: np.ndarray, *, n_samples=None, tile=None, mode="mmse"):
        import torch

        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
        if n_samples is None:
            n_samples = self.params["n_samples"] or self.training_profile.n_samples
        if int(n_samples) < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        n_samples = int(n_samples) if mode == "mmse" else 1
        tile = tile if tile is not None else (self.params["tile"] or 512)
        device = self.device
        net = self.net.to(device).eval()
        mean, std = self.data_mean, self.data_std
        uncond = self.uncond_levels
        budget = _PIXELS_PER_PASS * 64 // self.training_profile.n_filters

        def fn(batch: np.ndarray) -> np.ndarray:
            out = np.empty_like(batch)
            for b in range(batch.shape[0]):
                x = torch.from_numpy((batch[b] - mean) / std).float()[None, None].to(device)
                size = x.shape[-2:]
                bu = net.vae.encode_bottom_up(x)
                if mode == "mean":
                    s = net.decode(bu, size, use_mean=True)[0, 0]
                else:
                    chunk = max(1, min(n_samples, budget // int(x.shape[-2] * x.shape[-1])))
                    acc = torch.zeros(size, device=device)
                    for start in range(0, n_samples, chunk):
                        k = min(chunk, n_samples - start)
                        bu_k = [f.expand(k, -1, -1, -1) for f in bu]
                        acc += net.decode(bu_k, size, mean_levels=uncond)[:, 0].sum(0)
                    s = acc / n_samples
                out[b] = s.cpu().numpy() * std + mean
            return out

        devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(derive_seed(self.seed, "hdn-denoise"))
            result = predict_tiled(
                fn,
                noisy,
                tile=tile,
                overlap=32,
                multiple=net.vae.multiple,
                progress=self.progress,
                desc=f"denoise {self.name}",
            )
        net.cpu()
        return result

    # ------------------------------------------------------------------ storage
    def _save_state(self, path: Path) -> None:
        import torch

        if self.net is None:
            return
        with atomic_path(path / "hdn_net.pt") as tmp:
            torch.save(self.net.state_dict(), tmp)
        self.noise_model.save(path)

    def _extra_meta(self) -> dict:
        return {
            "variant": self.variant,
            "data_mean": self.data_mean,
            "data_std": self.data_std,
            "z_dims": self.z_dims,
            "uncond_levels": self.uncond_levels,
            "profile_settings": asdict(self.training_profile),
            "train": self.train_summary,
            "noise_model": None if self.noise_model is None else self.noise_model.state()[1],
        }

    def _load_state(self, path: Path, extra: dict) -> None:
        import torch

        if not (path / "hdn_net.pt").is_file():
            return
        self.data_mean = float(extra["data_mean"])
        self.data_std = float(extra["data_std"])
        self.train_summary = dict(extra.get("train", {}))
        net = self.build_network()
        state = torch.load(path / "hdn_net.pt", map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        self.net = net
        self.noise_model = GMMNoiseModel.load(path)

    def n_parameters(self) -> int:
        """Trainable parameters of the network (built if not fitted yet).

        Returns
        -------
        int
        """
        net = self.net if self.net is not None else self.build_network()
        return int(sum(p.numel() for p in net.parameters() if p.requires_grad))


def _factory(variant: str):
    def make(**params) -> HDN:
        return HDN(variant=variant, **params)

    make.__name__ = make.__qualname__ = variant.replace("-", "_")
    make.__doc__ = f"Build ``{variant}`` (see :class:`HDN`)."
    return make


hdn = register("hdn", info=INFOS["hdn"])(_factory("hdn"))
hdn36 = register("hdn36", info=INFOS["hdn36"])(_factory("hdn36"))
hdn_large = register("hdn-large", info=INFOS["hdn-large"])(_factory("hdn-large"))
hdn36_large = register("hdn36-large", info=INFOS["hdn36-large"])(_factory("hdn36-large"))

__all__ = ["HDN", "GMMNoiseModel", "HDNProfile", "PROFILES", "VARIANTS"]
