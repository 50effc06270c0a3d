"""The method core of DVLAE and HDN: parameters, seeded network, fit plumbing, prediction, storage.

:class:`LadderMethod` is a :class:`~structnoise.methods.base.BaseDenoiser` that does
everything the two ladder-VAE methods share; a subclass says what its network is
(:meth:`LadderMethod._new_network`), trains it with its own LightningModule through
:meth:`LadderMethod._train` and adds what only it has (DVLAE: the AR decoder's noise
samples; HDN: the noise model).

Seeds: every random choice derives its seed from the method's ``seed`` and a name,
``derive_seed(seed, f"{seed_tag}-{purpose}")`` with purposes ``init`` (the weights),
``split`` (validation images), ``train`` (torch's generator while training), ``crops``
and ``denoise``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from structnoise.methods.base import BaseDenoiser
from structnoise.methods.contract import Mode
from structnoise.methods.tiling import predict_tiled
from structnoise.methods.vae.data import Normalisation, split_validation
from structnoise.methods.vae.device import (
    autocast,
    is_cuda,
    memory_format,
    resolve_precision,
    rng_devices,
)
from structnoise.methods.vae.inference import available_memory, fold_batchnorm, mmse_chunk
from structnoise.methods.vae.network import LadderSignalNet, count_parameters
from structnoise.methods.vae.options import Precision, parse_choice
from structnoise.methods.vae.results import read_summary, summarise
from structnoise.utils import atomic_path, derive_seed, pick_device

#: Largest tile side at prediction unless the user says otherwise.
DEFAULT_TILE = 512


class LadderMethod(BaseDenoiser):
    """Shared core of the ladder-VAE methods (see the module documentation).

    Parameters
    ----------
    device : str, optional
        Torch device; None picks CUDA when available. Not saved with the model.
    **params
        The method's parameters (see the subclass) and ``seed``, ``profile``,
        ``max_minutes``, ``progress``, ``work_dir``.

    Attributes
    ----------
    variant : str
        The registered variant (set by the subclass; saved).
    net : LadderSignalNet or None
        The network, once fitted or loaded.
    norm : Normalisation
        Data units to network units.
    train_summary : dict
        :class:`~structnoise.methods.summary.TrainSummary` of the last ``fit``.
    snapshot_hook : tuple, optional
        ``(minutes, fn)`` or ``(steps, fn, "steps")``: ``fn(self, info)`` is called during
        ``fit`` when training passes each mark (for learning curves; the time ``fn``
        takes is not charged to the budget).
    last_mmse_chunk : int or None
        Posterior samples per batch in the last MMSE estimate (from the free memory and
        the tile size; None before the first).
    """

    #: Name in messages and on the progress bar ("DVLAE", "HDN").
    label: ClassVar[str] = ""
    #: Prefix of the names seeds are derived from ("dvlae", "hdn").
    seed_tag: ClassVar[str] = ""
    #: The parameters the method takes besides the common ones.
    option_names: ClassVar[tuple[str, ...]] = ()
    #: File of the network's state dict.
    weights_file: ClassVar[str] = "model.pt"
    #: Prediction arithmetic when neither ``denoise`` nor the parameters say.
    default_precision: ClassVar[str] = Precision.FLOAT32
    #: The training profiles by name.
    profiles: ClassVar[dict[str, Any]] = {}
    #: Profile fields that a parameter of the same name overrides.
    profile_params: ClassVar[tuple[str, ...]] = ()
    #: Profile fields that are named choices, and their choices.
    profile_choices: ClassVar[dict[str, type]] = {}

    def __init__(self, *, device: str | None = None, **params: Any) -> None:
        common = {k: params.pop(k) for k in list(params) if k in self.common_params}
        unknown = sorted(set(params) - set(self.option_names))
        if unknown:
            raise TypeError(
                f"unknown {self.label} parameter(s) {unknown}; known: "
                f"{', '.join(('device', *self.option_names))}"
            )
        check_profile_overrides(self.label, self.profiles, self.profile_params, params)
        super().__init__(**params, **common)
        self.device_request = device
        self.net: LadderSignalNet | None = None
        self.norm = Normalisation()
        self.train_summary: dict[str, Any] = {}
        self.snapshot_hook: tuple | None = None
        self.last_mmse_chunk: int | None = None

    # ------------------------------------------------------------------ hooks
    def _new_network(self) -> LadderSignalNet:
        """A new, randomly initialised network (called with torch's generator seeded)."""
        raise NotImplementedError

    def _extra_state(self) -> dict:
        """Method-specific values for ``method.json``."""
        return {}

    def _read_state(self, path: Path, extra: dict) -> None:
        """Read method-specific state before the network is built (default: nothing)."""

    @property
    def mean_levels(self) -> list[int]:
        """Levels that use their mean in every posterior sample at prediction."""
        return []

    def _prediction_layout(self, tile: int) -> tuple[int, int]:
        """``(overlap, multiple)`` of the tiles (see :func:`predict_tiled`)."""
        return min(64, tile // 4), 1

    def _pixels_per_pass(self) -> int:
        """Largest samples x pixels of one pass of the MMSE estimate."""
        # one 256x256 sample: batching samples saves nothing in the full-resolution
        # layers, which dominate, and multiplies the memory; the free memory may lower it
        # further (inference.mmse_chunk)
        return 2**16

    def _default_n_samples(self) -> int:
        return int(self.params["n_samples"])

    # ------------------------------------------------------------------ configuration
    @property
    def training_profile(self):
        """The profile with the user's overrides applied."""
        changes = {k: self.params[k] for k in self.profile_params if self.params.get(k) is not None}
        for key, kind in self.profile_choices.items():
            if key in changes:
                changes[key] = parse_choice(kind, changes[key], key)
        return replace(self.profiles[self.profile], **changes)

    @property
    def device(self) -> str:
        """The torch device used for training and prediction."""
        return pick_device(self.device_request)

    def _seed(self, purpose: str) -> int:
        return derive_seed(self.seed, f"{self.seed_tag}-{purpose}")

    def build_network(self) -> LadderSignalNet:
        """A freshly initialised network, seeded by ``seed`` (the caller's RNG untouched).

        Returns
        -------
        LadderSignalNet
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._seed("init"))
            return self._new_network()

    def n_parameters(self) -> int:
        """Trainable parameters of the network (built if not fitted yet).

        Returns
        -------
        int
        """
        return count_parameters(self.net if self.net is not None else self.build_network())

    # ------------------------------------------------------------------ training
    def _training_images(self, images, val, fraction: float):
        """Split off validation images and fit the normalisation on the training ones.

        Parameters
        ----------
        images : numpy.ndarray or list of numpy.ndarray
            All noisy training images (a stack, or images of any sizes).
        val : same type as ``images``, or None
            Validation images given by the user.
        fraction : float
            Held out of ``images`` when ``val`` is None (see :func:`split_validation`).

        Returns
        -------
        train, val : same type as ``images``
        held_out : bool
            False when the model validates on its training images.
        """
        train, val, held_out = split_validation(images, val, fraction, self._seed("split"))
        self.norm = Normalisation.fit(train)
        return train, val, held_out

    def _train(self, module, train, val, prof, **loop):
        """Train ``module.net`` on the normalised images with the seeded generator.

        Parameters
        ----------
        module : structnoise.methods.vae.training.LadderModule
            The method's LightningModule.
        train, val : sequence of numpy.ndarray
            Training and validation images in data units.
        prof : LoopProfile
            The training profile (``max_steps`` is read here).
        **loop
            Passed to :func:`~structnoise.methods.vae.training.fit_network`.

        Returns
        -------
        structnoise.methods.vae.training.FitResult
        """
        from structnoise.methods.vae.callbacks import Snapshots
        from structnoise.methods.vae.training import fit_network

        budget = self.budget_minutes
        with torch.random.fork_rng(devices=rng_devices(self.device)):
            torch.manual_seed(self._seed("train"))
            return fit_network(
                module,
                self.norm.tensors(train),
                self.norm.tensors(val),
                seed=self._seed("crops"),
                max_steps=prof.max_steps,
                max_seconds=None if budget is None else 60.0 * float(budget),
                device=self.device,
                progress=self.progress,
                work_dir=self.work_dir,
                snapshots=Snapshots.from_hook(self.snapshot_hook, self),
                method=self.name,
                label=self.label,
                **loop,
            )

    def _summary(self, result, *, n_train: int, n_val: int, **extra) -> dict[str, Any]:
        """The saved train summary of a run (see :func:`~.results.summarise`)."""
        return summarise(result, device=self.device, n_train=n_train, n_val=n_val, **extra)

    # ------------------------------------------------------------------ prediction
    def denoise(
        self,
        noisy,
        *,
        n_samples: int | None = None,
        tile: int | None = None,
        mode: Mode | str = Mode.MMSE,
        seed: int | None = None,
        precision: Precision | str | None = None,
        axes: str | None = None,
    ) -> np.ndarray:
        """Denoise an image or a stack.

        Parameters
        ----------
        noisy : array_like
            ``(Y, X)`` or ``(N, Y, X)``, or any layout named by ``axes``.
        n_samples : int, optional
            Posterior samples averaged by ``mode="mmse"`` (None: the ``n_samples``
            parameter, else the profile's).
        tile : int, optional
            Largest tile side (None: the ``tile`` parameter, else 512; images up to the
            tile size go whole).
        mode : {"mmse", "sample", "mean"}
            ``mmse``: mean of the samples (the papers' estimate); ``sample``: one
            posterior sample; ``mean``: one pass with every latent at its mean.
        seed : int, optional
            Seed of the samples (default: derived from the method's seed).
        precision : {"32", "bf16", "auto"}, optional
            Arithmetic (default: the ``precision`` parameter, else the method's default;
            "auto" is float32 on GPUs and bfloat16 on CPUs that run it natively).
        axes : str, optional
            Axes of ``noisy`` (see :meth:`BaseDenoiser.denoise`).

        Returns
        -------
        numpy.ndarray
            float32, same shape as ``noisy``.
        """
        options = {"n_samples": n_samples, "tile": tile, "mode": mode}
        return super().denoise(noisy, axes=axes, seed=seed, precision=precision, **options)

    def _inference_precision(self, precision: str | None) -> Precision:
        precision = precision or self.params.get("precision") or self.default_precision
        if precision == Precision.AUTO and is_cuda(self.device):
            return Precision.FLOAT32
        return resolve_precision(precision, self.device)

    def _prepare_net(
        self, precision: str = Precision.FLOAT32, *, fold: bool = False
    ) -> tuple[LadderSignalNet, str]:
        """The network on the device in evaluation mode, and the device.

        ``fold`` gives a copy with the batch norms folded into the convolutions before
        them (:func:`~structnoise.methods.vae.inference.fold_batchnorm`; prediction
        only, the same function up to rounding); ``self.net`` stays as it is.
        """
        if self.net is None:
            raise RuntimeError(f"{self.name}: call fit() (or load a saved model) first")
        dev = self.device
        net = self.net.to(dev).eval()
        if fold:
            net = fold_batchnorm(net)
        net.to(memory_format=self._memory_format(precision, dev))
        return net, dev

    @staticmethod
    def _memory_format(precision: str, device: str) -> torch.memory_format:
        # channels-last for bfloat16 on CPUs only. In float32 it was faster too, but
        # denoise(stack[:2]) then differed from denoise(stack)[:2] in the last bits
        # (tests/test_conformance.py, dvlae-large): not used until that is understood.
        return memory_format(precision == Precision.BF16 and device == "cpu")

    def _denoise(self, noisy, *, n_samples=None, tile=None, mode="mmse", seed=None, precision=None):
        mode = parse_choice(Mode, mode, "mode")
        n = self._default_n_samples() if n_samples is None else int(n_samples)
        if n < 1:
            raise ValueError(f"n_samples must be at least 1, got {n}")
        tile = self.params.get("tile") if tile is None else tile
        tile = DEFAULT_TILE if tile is None else int(tile)
        if tile < self.min_size:
            raise ValueError(f"tile must be at least {self.min_size} pixels, got {tile}")
        prec = self._inference_precision(precision)
        net, dev = self._prepare_net(prec, fold=True)
        seed = self._seed("denoise") if seed is None else int(seed)
        fn = self._predictor(net, dev, mode, n, self._memory_format(prec, dev))
        overlap, multiple = self._prediction_layout(tile)
        with (
            torch.random.fork_rng(devices=rng_devices(dev)),
            torch.inference_mode(),
            autocast(prec, dev),
        ):
            torch.manual_seed(seed)
            out = predict_tiled(
                fn,
                noisy,
                tile=tile,
                overlap=overlap,
                multiple=multiple,
                progress=self.progress,
                desc=f"{self.name} {mode}",
            )
        self.net.cpu()
        return out

    def _predictor(self, net, dev: str, mode: Mode, n: int, fmt) -> Callable:
        """The function :func:`predict_tiled` applies to every tile."""
        if mode is Mode.DIRECT:
            raise ValueError(f"{self.name} has no direct denoiser: mode='direct' needs one")
        norm, mean_levels = self.norm, self.mean_levels

        def fn(batch: np.ndarray) -> np.ndarray:
            x = torch.from_numpy(norm.apply(batch)).to(dev)[:, None]
            x = x.contiguous(memory_format=fmt)
            if mode is Mode.MEAN:
                out = net.signal(x, use_mean=True)
            elif mode is Mode.SAMPLE:
                out = net.signal(x, mean_levels=mean_levels)
            else:
                chunk = mmse_chunk(
                    n,
                    x.shape[-1] * x.shape[-2],
                    net.vae.s_code_channels,
                    max_pixels=self._pixels_per_pass(),
                    free_bytes=available_memory(dev),
                )
                self.last_mmse_chunk = chunk
                out = net.mmse(x, n, chunk=chunk, mean_levels=mean_levels)
            return norm.invert(out[:, 0].float().cpu().numpy()).astype(np.float32)

        return fn

    # ------------------------------------------------------------------ storage
    def _save_state(self, path: Path) -> None:
        if self.net is None:
            return
        with atomic_path(path / self.weights_file) as tmp:
            torch.save(self.net.state_dict(), tmp)
        with atomic_path(path / "history.json") as tmp:
            tmp.write_text(json.dumps(self.history, indent=1))

    def _extra_meta(self) -> dict:
        return {
            "variant": self.variant,
            "norm": self.norm.to_dict(),
            "train": self.train_summary,
            **self._extra_state(),
        }

    def _load_state(self, path: Path, extra: dict) -> None:
        if not (path / self.weights_file).is_file():
            return  # an unfitted model (``load_state`` checks the saved ``fitted``)
        self.norm = Normalisation.from_meta(extra)
        self.train_summary = read_summary(extra.get("train"))
        self._read_state(path, extra)
        net = self.build_network()
        state = torch.load(path / self.weights_file, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        self.net = net
        hist = path / "history.json"
        if hist.is_file():
            self.history = json.loads(hist.read_text())

    def _state_complete(self) -> bool:
        return self.net is not None


#: Upper limits of profile overrides that size a training batch (beyond them a setting
#: only allocates without end).
OVERRIDE_LIMITS = {"crop": 4096, "batch": 4096}


def check_profile_overrides(
    label: str, profiles: dict[str, Any], names: tuple[str, ...], params: dict[str, Any]
) -> None:
    """Check the values of profile overrides against the profile's field types.

    The same check at ``train`` and when a saved model is loaded (both create the method):
    a whole-number field takes a whole number >= 0, a real-valued one a finite number >= 0,
    a flag true or false (None always means "the profile's value").

    Parameters
    ----------
    label : str
        The method, for the message.
    profiles : dict
        The method's training profiles (dataclass instances).
    names : tuple of str
        The overridable fields.
    params : dict
        The parameters given.

    Raises
    ------
    ValueError
        Naming the parameter and its value.
    """
    if not profiles:
        return
    kinds = {f.name: str(f.type) for f in fields(next(iter(profiles.values())))}
    for key in names:
        value = params.get(key)
        kind = kinds.get(key, "").split("|")[0].strip()
        if value is None or kind not in ("int", "float", "bool"):
            continue
        if kind == "bool":
            if not isinstance(value, bool | np.bool_):
                raise ValueError(f"{label}: {key} must be true or false, got {value!r}")
            continue
        number = isinstance(value, int | float | np.number) and not isinstance(value, bool)
        ok = number and np.isfinite(value) and value >= 0
        if ok and kind == "int":
            ok = float(value).is_integer()
        if not ok:
            what = "a whole number >= 0" if kind == "int" else "a finite number >= 0"
            hint = ""
            if isinstance(value, str) and re.fullmatch(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+", value):
                hint = f" (text: YAML reads {value} as text; write {float(value)!r})"
            raise ValueError(f"{label}: {key} must be {what}, got {value!r}{hint}")
        if key in OVERRIDE_LIMITS and value > OVERRIDE_LIMITS[key]:
            raise ValueError(
                f"{label}: {key} must be at most {OVERRIDE_LIMITS[key]}, got {value!r}"
            )
