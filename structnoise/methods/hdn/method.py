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

* the network is the project's :class:`~structnoise.methods.vae.ladder.LadderVAE` (shared with
  DVLAE; 6 levels, every level halves the resolution as in HDN's code, gated residual
  blocks, 64 filters, 32 latent channels per level, 64 for the ``-large`` variants as in
  the DVLAE paper's "HDN large" / "HDN36 large") with a 3x3 convolution from its s_code
  to the signal. The ``paper`` profile sets the ladder's options to HDN's network: ELU in
  the blocks and the gates, 3x3 stride-2 transposed-convolution upsampling, latent
  standard deviations ``exp(logvar / 2)``, 5 residual blocks in the final top-down block,
  zero padding (7,310,017 parameters at 32 latent channels; HDN's code: 7,301,697, the
  difference is the gate of the stem's residual block, which HDN's code leaves ungated).
  The ``quick``/``smoke`` profiles keep the shared ladder's choices (Mish, tanh gates,
  nearest + 1x1 upsampling, softplus, one final block, replicate padding);
* the noise model is careamics' ``GaussianMixtureNoiseModel`` (3 Gaussians, parameters
  linear in the signal), fitted on pixel pairs of noisy images and their clean (or
  pseudo-clean) signal, see :mod:`structnoise.methods.hdn.noise`; the loss evaluates the
  fitted mixture with a log-sum-exp (careamics' own likelihood floors the density at
  1e-10, which leaves pixels far from the prediction without a gradient);
* training (:mod:`structnoise.methods.hdn.training`, in the loop shared with DVLAE,
  :mod:`structnoise.methods.vae`) follows the HDN authors' code: Adamax,
  ReduceLROnPlateau(factor 0.5, patience 10 epochs), free bits 1 nat per sample and level,
  random 64x64 crops with 8-fold rotation/flip augmentation, dropout 0.2 and 5 residual
  blocks per level in the ``paper`` profile;
* prediction is the MMSE estimate: the mean of ``n_samples`` (100) posterior samples,
  drawn in batches from one bottom-up pass per tile; HDN_{3-6} uses the prior *mean* at
  its unconditional levels, as the HDN code does at prediction.

How ``fit`` uses its inputs is in :meth:`HDN.fit`: clean images (or a pseudo ground truth,
or a fitted noise model) only calibrate the noise model and are never a training target.
The benchmark calls ``fit(train_noisy, train_clean, extra_noisy=test_noisy)``: the noise
model sees only the training pairs, the VAE every noisy image.

Deviations from the HDN code, each with its reason, are listed in
:mod:`structnoise.methods.hdn.network`.

Profiles (``smoke``/``quick``/``paper``) are listed in :data:`PROFILES`
(:mod:`structnoise.methods.hdn.profiles`), each value with its reason.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from structnoise._validate import as_stack
from structnoise.axes import fold_axes
from structnoise.methods.contract import MethodInfo
from structnoise.methods.hdn.noise import GMMNoiseModel, calibration_source
from structnoise.methods.hdn.profiles import (
    ARCH_FIELDS,
    INFOS,
    PROFILE_PARAMS,
    PROFILES,
    VARIANTS,
    HDNProfile,
)
from structnoise.methods.vae.method import LadderMethod

#: Pixels (samples x height x width) per forward pass at prediction, for 64 filters.
_PIXELS_PER_PASS = 2**20


class HDN(LadderMethod):
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
        :mod:`structnoise.methods.hdn.noise`; HDN used 50 on raw camera counts).
    n_filters, blocks_per_level, dropout, patch, batch, lr, max_steps, nm_epochs, nm_batch, anneal
        Override the profile (see :class:`HDNProfile`).
    activation, gate_activation, upsample, std_param, final_blocks, padding_mode
        Override the profile's network options (see :class:`HDNProfile`).
    **common
        ``seed``, ``profile``, ``max_minutes``, ``progress``, ``work_dir``
        (see :class:`structnoise.methods.base.BaseDenoiser`). ``max_minutes`` bounds the
        VAE's training; the noise-model fit (seconds to a minute on a CPU) comes on top.
    """

    info: ClassVar[MethodInfo] = INFOS["hdn"]
    min_size: ClassVar[int] = 8
    label = "HDN"
    seed_tag = "hdn"
    option_names = (
        "n_samples",
        "tile",
        "z_dim",
        "n_levels",
        "free_bits",
        "augment",
        "n_gaussian",
        "n_coeff",
        "min_sigma",
        *PROFILE_PARAMS,
    )
    weights_file = "hdn_net.pt"
    profiles = PROFILES
    profile_params = PROFILE_PARAMS

    def __init__(
        self,
        *,
        variant: Literal["hdn", "hdn36", "hdn-large", "hdn36-large"] = "hdn",
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
        super().__init__(
            device=device,
            n_samples=None if n_samples is None else int(n_samples),
            tile=None if tile is None else int(tile),
            z_dim=None if z_dim is None else int(z_dim),
            n_levels=int(n_levels),
            free_bits=float(free_bits),
            augment=bool(augment),
            n_gaussian=int(n_gaussian),
            n_coeff=int(n_coeff),
            min_sigma=None if min_sigma is None else float(min_sigma),
            **params,
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
        self.variant = variant
        self.info = INFOS[variant]
        self.name = variant
        self.uncond_levels = list(VARIANTS[variant]["uncond_levels"])
        if self.uncond_levels and int(n_levels) < 3:
            raise ValueError(f"{variant} needs at least 3 levels (levels 0-1 take the prior)")
        self.noise_model: GMMNoiseModel | None = None
        #: Network options of a loaded model (its saved settings), None = the profile's.
        self._loaded_arch: dict[str, Any] | None = None

    # ------------------------------------------------------------------ configuration
    @property
    def z_dims(self) -> list[int]:
        """Latent channels per level."""
        z = self.params["z_dim"] or VARIANTS[self.variant]["z_dim"]
        return [int(z)] * self.params["n_levels"]

    @property
    def mean_levels(self) -> list[int]:
        """HDN_{3-6} predicts with the prior mean at its unconditional levels."""
        return self.uncond_levels

    def _new_network(self):
        from structnoise.methods.hdn.network import HDNNet

        prof = self.training_profile
        if self._loaded_arch is not None:
            prof = replace(prof, **self._loaded_arch)
        return HDNNet(z_dims=self.z_dims, uncond_levels=self.uncond_levels, **prof.architecture)

    def _prediction_layout(self, tile: int) -> tuple[int, int]:
        return 32, self.net.multiple

    def _pixels_per_pass(self) -> int:
        return _PIXELS_PER_PASS * 64 // self.training_profile.n_filters

    def _default_n_samples(self) -> int:
        return int(self.params["n_samples"] or self.training_profile.n_samples)

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
        source, pair, nm = calibration_source(
            x, clean=clean, signal=signal, noise_model=noise_model, name=self.name
        )
        extra = None
        if extra_noisy is not None:
            extra, _ = as_stack(extra_noisy, name="extra_noisy", min_size=self.min_size)
        v = None
        if val is not None:
            vn = val[0] if isinstance(val, tuple) else val
            v, _ = as_stack(vn, name="val", min_size=self.min_size)
        self._fit(x, pair, v, noise_model=nm, extra_noisy=extra, source=source)
        self.record_data_range(x)
        self.fitted = True
        return self

    def _fit(
        self,
        noisy: np.ndarray,
        pair: np.ndarray | None,
        val: np.ndarray | None,
        *,
        noise_model: GMMNoiseModel | None = None,
        extra_noisy: np.ndarray | None = None,
        source: str = "clean",
    ) -> None:
        """Fit (or take) the noise model, then train the VAE.

        Parameters
        ----------
        noisy : numpy.ndarray
            ``(N, Y, X)`` noisy images (the VAE's and the noise model's).
        pair : numpy.ndarray or None
            Their clean or pseudo-clean signal (None: ``noise_model`` is given).
        val : numpy.ndarray or None
            Validation noisy images.
        noise_model : GMMNoiseModel, optional
            A fitted noise model, used instead of fitting one.
        extra_noisy : numpy.ndarray, optional
            More noisy images for the VAE only.
        source : {"clean", "signal", "given"}
            Where the noise model came from (for the train summary).
        """
        from structnoise.methods.hdn.training import HDNModule

        t0 = time.monotonic()
        prof = self.training_profile
        if pair is not None:
            noise_model = GMMNoiseModel.fit(
                noisy,
                pair,
                n_gaussian=self.params["n_gaussian"],
                n_coeff=self.params["n_coeff"],
                min_sigma=self.params["min_sigma"],
                n_epochs=prof.nm_epochs,
                batch_size=prof.nm_batch,
                seed=self._seed("noise-model"),
            )
        if noise_model is None:  # pragma: no cover - fit() checks this
            raise ValueError("no noise model source")
        self.noise_model = noise_model
        nm_seconds = time.monotonic() - t0
        stacks = [noisy] + ([extra_noisy] if extra_noisy is not None else [])
        images = [im for s in stacks for im in s]
        given = None if val is None else list(val)
        images, val_images, held_out = self._training_images(images, given, prof.val_fraction)
        self._loaded_arch = None
        self.net = self.build_network()
        nm, norm = self.noise_model, self.norm

        def log_likelihood(x_norm, s_norm):
            return nm.log_likelihood(norm.invert(x_norm), norm.invert(s_norm))

        self.history = []
        module = HDNModule(
            self.net, prof, log_likelihood, self.params["free_bits"], history=self.history
        )
        result = self._train(
            module, images, val_images, prof, by_area=True, augment=self.params["augment"]
        )
        self.noise_model.module.to("cpu")
        self.history = result.history
        self.train_summary = self._summary(
            result,
            n_train=len(images),
            n_val=len(val_images) if held_out else 0,
            noise_model_source=source,
            noise_model_seconds=round(nm_seconds, 2),
        )

    # ------------------------------------------------------------------ storage
    def _save_state(self, path: Path) -> None:
        super()._save_state(path)
        if self.net is not None:
            self.noise_model.save(path)

    def _extra_state(self) -> dict:
        return {
            "z_dims": self.z_dims,
            "uncond_levels": self.uncond_levels,
            "profile_settings": asdict(self.training_profile),
            "noise_model": None if self.noise_model is None else self.noise_model.state()[1],
        }

    def _read_state(self, path: Path, extra: dict) -> None:
        self.noise_model = GMMNoiseModel.load(path)
        # the network options it was trained with; models saved before the options existed
        # have the shared ladder's (the defaults), whatever their profile says today
        saved = extra.get("profile_settings") or {}
        default = HDNProfile()
        self._loaded_arch = {k: saved.get(k, getattr(default, k)) for k in ARCH_FIELDS}
