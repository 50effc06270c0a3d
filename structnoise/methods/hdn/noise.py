"""The pixel-independent noise model of HDN: careamics' Gaussian mixture, fitted and stored.

HDN's likelihood ``p(x | s) = prod_i p(x_i | s_i)`` is a mixture of Gaussians whose means,
variances and weights are polynomials of the signal (Prakash et al., "Fully unsupervised
diversity denoising with convolutional variational autoencoders"; the same model as in
PPN2V). :class:`GMMNoiseModel` wraps careamics' ``GaussianMixtureNoiseModel``
(``careamics.models.lvae.noise_models``, careamics 0.3.5) and adds what the wrapped class
leaves to its caller:

* **units**: careamics evaluates the polynomials at ``(s - min_signal) / (max_signal -
  min_signal)`` and requires ``min_signal >= 0``. We fit in the data's own units shifted
  by ``offset`` (the smallest signal value), so ``min_signal = 0`` for any data, including
  data with negative values. Shifting signal and observation together changes nothing
  else: the mixture means are ``mu_k - sum_j alpha_j mu_j + s`` (shift-equivariant) and
  the variances and weights depend only on the normalised signal.
* **min_sigma**: careamics clamps the *variance* of every component (not the standard
  deviation, despite the name) at ``min_sigma``, in data units squared. The HDN authors
  used ``min_sigma=50`` on raw camera counts (Convallaria, values about 200 to 2300).
  That number has no meaning for data in ``[0, 1]``, where it would make every component
  at least 7 times wider than the data range. ``min_sigma=None`` (the default) therefore
  uses ``(0.1 * std(observation - signal))**2``: a floor at a tenth of the overall noise
  standard deviation, which only stops components from collapsing onto single values
  (clipped or quantised pixels). Pass ``min_sigma=50`` to reproduce HDN on raw counts.
* **quiet, seeded, bounded**: careamics prints while it fits; the output is swallowed.
  The random initialisation and shuffles are seeded without touching the caller's
  random state. More than ``max_pairs`` pixel pairs are subsampled (seeded) first, since
  careamics copies every pair into a float64 table.
* **storage**: the fitted weights and buffers are a torch state dict
  (``torch.load(..., weights_only=True)``) plus a small JSON-able description.

careamics' ``fit(signal, observation, learning_rate, batch_size, n_epochs, lower_clip,
upper_clip)`` is used as is (Adam on the mean negative log-likelihood of random
mini-batches of pixel pairs; the HDN authors' settings: 2000 epochs of 250 000 pairs,
learning rate 0.1, no clipping). The VAE's loss evaluates the fitted mixture (careamics'
``get_gaussian_parameters``) with a log-sum-exp, see :meth:`GMMNoiseModel.log_likelihood`:
careamics' ``likelihood`` (and ``NoiseModelLikelihood``, which takes its logarithm) floors
the density at ``1e-10``, which leaves pixels far from the current prediction without a
gradient.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from structnoise._validate import as_stack, check_same_shape
from structnoise.utils import derive_seed

#: Floor of the noise standard deviation used when ``min_sigma`` is None, as a fraction of
#: the standard deviation of ``observation - signal``.
AUTO_MIN_STD_FRACTION = 0.1


def _careamics_gmm(config: dict):
    from careamics.config import GaussianMixtureNMConfig
    from careamics.models.lvae.noise_models import GaussianMixtureNoiseModel

    with contextlib.redirect_stdout(io.StringIO()):
        return GaussianMixtureNoiseModel(GaussianMixtureNMConfig(**config))


class GMMNoiseModel:
    """A fitted Gaussian-mixture noise model ``p(x | s)`` in the data's units.

    Build one with :meth:`fit` (from noisy observations and their clean or pseudo-clean
    signal) or :meth:`load`; pass it to ``HDN.fit(noisy, noise_model=...)``.

    Parameters
    ----------
    module : careamics.models.lvae.noise_models.GaussianMixtureNoiseModel
        The careamics model, in shifted units (``data - offset``).
    offset : float
        Subtracted from signal and observation before the careamics model sees them.
    meta : dict
        JSON-able description (config, how it was fitted).
    """

    def __init__(self, module, offset: float, meta: dict[str, Any]) -> None:
        self.module = module
        self.offset = float(offset)
        self.meta = dict(meta)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        observation,
        signal,
        *,
        n_gaussian: int = 3,
        n_coeff: int = 2,
        min_sigma: float | None = None,
        n_epochs: int = 2000,
        batch_size: int = 250_000,
        learning_rate: float = 0.1,
        lower_clip: float = 0.0,
        upper_clip: float = 100.0,
        max_pairs: int = 4_000_000,
        seed: int = 0,
    ) -> GMMNoiseModel:
        """Fit the mixture on pixel pairs ``(signal, observation)`` with careamics.

        Parameters
        ----------
        observation : array_like
            Noisy images ``(Y, X)`` or ``(N, Y, X)``.
        signal : array_like
            Their clean (or pseudo-clean) signal, same shape.
        n_gaussian : int
            Mixture components (HDN: 3).
        n_coeff : int
            Polynomial coefficients per parameter (2 = linear in the signal; HDN: 2).
        min_sigma : float, optional
            Variance floor in data units squared (careamics' ``min_sigma``); ``None``:
            ``(0.1 * std(observation - signal))**2`` (see the module documentation).
        n_epochs, batch_size, learning_rate : int, int, float
            careamics' optimisation settings (HDN: 2000, 250000, 0.1).
        lower_clip, upper_clip : float
            Percentiles of the signal outside which pairs are ignored (HDN: 0, 100).
        max_pairs : int
            Pixel pairs kept (a seeded random subset when there are more).
        seed : int
            Seed of the subsampling, the initialisation and the shuffles.

        Returns
        -------
        GMMNoiseModel

        Raises
        ------
        ValueError
            On mismatched shapes, NaN/inf, a constant signal or bad settings.
        """
        obs, _ = as_stack(observation, name="noise-model observation")
        sig, _ = as_stack(signal, name="noise-model signal")
        check_same_shape(obs, sig, ("noise-model observation", "noise-model signal"))
        if int(n_gaussian) < 1:
            raise ValueError(f"n_gaussian must be >= 1, got {n_gaussian}")
        if int(n_coeff) < 2:
            raise ValueError(f"n_coeff must be >= 2 (2 = linear), got {n_coeff}")
        if int(n_epochs) < 1:
            raise ValueError(f"n_epochs must be >= 1, got {n_epochs}")
        if min_sigma is not None and not float(min_sigma) > 0:
            raise ValueError(f"min_sigma must be positive (a variance), got {min_sigma}")
        o = obs.reshape(-1).astype(np.float64)
        s = sig.reshape(-1).astype(np.float64)
        lo, hi = float(s.min()), float(s.max())
        if not hi > lo:
            raise ValueError(
                "the noise model needs a signal with more than one value "
                f"(the signal is constant, {lo:.4g})"
            )
        rng = np.random.default_rng(derive_seed(seed, "gmm-pairs"))
        if o.size > int(max_pairs):
            keep = rng.choice(o.size, int(max_pairs), replace=False)
            o, s = o[keep], s[keep]
        residual_std = float(np.std(o - s))
        if min_sigma is None:
            floor = (AUTO_MIN_STD_FRACTION * residual_std) ** 2
            if not floor > 0:
                raise ValueError("observation equals signal everywhere: there is no noise to model")
        else:
            floor = float(min_sigma)
        config = {
            "n_gaussian": int(n_gaussian),
            "n_coeff": int(n_coeff),
            "min_signal": 0.0,
            "max_signal": hi - lo,
            "min_sigma": floor,
        }
        threads = torch.get_num_threads()
        with torch.random.fork_rng(devices=[]), contextlib.ExitStack() as stack:
            if not torch.cuda.is_available():
                # careamics' fit is many small element-wise operations: on a CPU one
                # thread is faster than several (careamics moves the fit to CUDA itself)
                torch.set_num_threads(1)
                stack.callback(torch.set_num_threads, threads)
            torch.manual_seed(derive_seed(seed, "gmm-fit"))
            module = _careamics_gmm(config)
            with contextlib.redirect_stdout(io.StringIO()):
                losses = module.fit(
                    (s - lo).astype(np.float32)[None],
                    (o - lo).astype(np.float32)[None],
                    learning_rate=float(learning_rate),
                    batch_size=int(batch_size),
                    n_epochs=int(n_epochs),
                    lower_clip=float(lower_clip),
                    upper_clip=float(upper_clip),
                )
        if not torch.isfinite(module.weight).all():
            raise FloatingPointError("the noise-model fit diverged (non-finite weights)")
        meta = {
            "config": config,
            "offset": lo,
            "min_sigma_auto": min_sigma is None,
            "residual_std": residual_std,
            "n_pairs": int(o.size),
            "n_epochs": int(n_epochs),
            "batch_size": int(batch_size),
            "learning_rate": float(learning_rate),
            "final_nll": float(np.mean(losses[-50:])) if losses else float("nan"),
        }
        return cls(module, lo, meta)

    # ------------------------------------------------------------------ evaluation
    @property
    def n_gaussian(self) -> int:
        """Number of mixture components."""
        return int(self.module.n_gaussian)

    def log_likelihood(self, observation: torch.Tensor, signal: torch.Tensor) -> torch.Tensor:
        """Elementwise ``log p(observation | signal)`` in data units, computed stably.

        The mixture's parameters come from careamics' ``get_gaussian_parameters``; the
        log density is ``logsumexp_k(log alpha_k + log N(x; mu_k, sigma_k))``. careamics'
        own ``likelihood`` returns the density plus ``1e-10``, whose logarithm is flat
        (no gradient) wherever the signal is more than about 6 noise standard deviations
        from the observation, as for every pixel far from the image mean at the start of
        training; the stable form has the same value elsewhere and a useful gradient
        everywhere.

        Parameters
        ----------
        observation, signal : torch.Tensor
            Same shape, in the data's units.

        Returns
        -------
        torch.Tensor
            Log densities, same shape.
        """
        self.module.to(signal.device)
        params = self.module.get_gaussian_parameters(signal - self.offset)
        k = self.n_gaussian
        mu = torch.stack(params[:k])
        sd = torch.stack(params[k : 2 * k])
        alpha = torch.stack(params[2 * k :])
        x = observation - self.offset
        log_n = -0.5 * ((x - mu) / sd) ** 2 - torch.log(sd) - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(torch.log(alpha) + log_n, dim=0)

    def sample(self, signal: np.ndarray, seed: int = 0) -> np.ndarray:
        """Draw noisy observations of a signal from the model (for checks and plots).

        Parameters
        ----------
        signal : array_like
            ``(Y, X)`` or ``(N, Y, X)`` signal in data units.
        seed : int
            Seed.

        Returns
        -------
        numpy.ndarray
            float32 observations of the same shape.
        """
        sig, was_2d = as_stack(signal, name="signal")
        rng = np.random.default_rng(seed)
        with torch.no_grad():
            params = self.module.get_gaussian_parameters(torch.from_numpy(sig - self.offset))
        k = self.n_gaussian
        mus = torch.stack(params[:k]).numpy()
        stds = torch.stack(params[k : 2 * k]).numpy()
        alphas = torch.stack(params[2 * k :]).numpy()
        u = rng.random(sig.shape)
        comp = (u[None] > np.cumsum(alphas, axis=0)).sum(axis=0).clip(0, k - 1)[None]
        mu = np.take_along_axis(mus, comp, axis=0)[0]
        sd = np.take_along_axis(stds, comp, axis=0)[0]
        out = (rng.normal(mu, sd) + self.offset).astype(np.float32)
        return out[0] if was_2d else out

    # ------------------------------------------------------------------ storage
    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The state dict (weights and buffers, CPU) and the JSON-able description."""
        sd = {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()}
        return sd, {**self.meta, "offset": self.offset}

    @classmethod
    def from_state(cls, state_dict: dict[str, torch.Tensor], meta: dict[str, Any]):
        """Rebuild a model from :meth:`state`.

        Parameters
        ----------
        state_dict : dict
            Weights and buffers.
        meta : dict
            The description (must hold ``config`` and ``offset``).

        Returns
        -------
        GMMNoiseModel
        """
        try:
            config = dict(meta["config"])
            offset = float(meta["offset"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"incomplete noise-model description: {exc}") from exc
        module = _careamics_gmm(config)
        module.load_state_dict(state_dict)
        module._set_model_mode(mode="prediction")
        return cls(module, offset, meta)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``noise_model.pt`` and ``noise_model.json`` into the folder ``path``.

        Parameters
        ----------
        path : path-like
            Folder (created if needed).
        """
        from structnoise.utils import atomic_path

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        sd, meta = self.state()
        with atomic_path(path / "noise_model.pt") as tmp:
            torch.save(sd, tmp)
        with atomic_path(path / "noise_model.json") as tmp:
            tmp.write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike) -> GMMNoiseModel:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : path-like
            The folder holding ``noise_model.pt`` and ``noise_model.json``.

        Returns
        -------
        GMMNoiseModel
        """
        path = Path(path)
        if not (path / "noise_model.pt").is_file():
            raise FileNotFoundError(f"{path} holds no noise model (noise_model.pt missing)")
        meta = json.loads((path / "noise_model.json").read_text())
        sd = torch.load(path / "noise_model.pt", map_location="cpu", weights_only=True)
        return cls.from_state(sd, meta)


def calibration_source(noisy: np.ndarray, *, clean=None, signal=None, noise_model=None, name="hdn"):
    """Which of ``clean``, ``signal`` and ``noise_model`` calibrates the noise model.

    Exactly one must be given.

    Parameters
    ----------
    noisy : numpy.ndarray
        The validated ``(N, Y, X)`` noisy images (the observations of the pairs).
    clean, signal : array_like, optional
        Clean images or a pseudo ground truth of ``noisy``'s shape.
    noise_model : GMMNoiseModel or path-like, optional
        A fitted model, or a folder holding one (written by :meth:`GMMNoiseModel.save`
        or by ``save`` of a fitted HDN).
    name : str
        The method's name, for the message.

    Returns
    -------
    source : {"clean", "signal", "given"}
    pair : numpy.ndarray or None
        The signal of the pixel pairs (None for a given model).
    model : GMMNoiseModel or None
        The given model.

    Raises
    ------
    ValueError
        Without a source, with more than one, or with a pair of another shape.
    TypeError
        For a ``noise_model`` of another type.
    """
    sources = (("clean", clean), ("signal", signal), ("noise_model", noise_model))
    given = [label for label, value in sources if value is not None]
    if not given:
        raise ValueError(
            f"{name} needs clean targets (or a pseudo ground truth) to fit its noise "
            "model; the denoiser itself learns from the noisy images only. Call "
            "fit(noisy, clean) with clean images paired with noisy, "
            "fit(noisy, signal=pseudo_clean) with a pseudo ground truth (e.g. another "
            "denoiser's output), or fit(noisy, noise_model=GMMNoiseModel.fit(obs, sig))"
        )
    if len(given) > 1:
        raise ValueError(
            f"give exactly one of clean, signal and noise_model (got {', '.join(given)})"
        )
    if isinstance(noise_model, str | os.PathLike):
        noise_model = GMMNoiseModel.load(noise_model)
    if noise_model is not None and not isinstance(noise_model, GMMNoiseModel):
        raise TypeError(
            "noise_model must be a GMMNoiseModel or the folder of a saved one, "
            f"got {type(noise_model).__name__}"
        )
    if noise_model is not None:
        return "given", None, noise_model
    source = given[0]
    pair, _ = as_stack(clean if clean is not None else signal, name=source)
    check_same_shape(noisy, pair, ("noisy", source))
    return source, pair, None
