"""The base class of the built-in methods: :class:`BaseDenoiser` does the chores.

Methods built on :class:`BaseDenoiser` get input validation, shape handling, the
clean-data check, the declared-option checks and the on-disk format for free and
implement only the hooks ``_fit`` and ``_denoise`` and, when they have learnt state,
``_save_state`` / ``_load_state``. The contract itself (:class:`Denoiser`,
:class:`MethodInfo`) is in :mod:`structnoise.methods.contract`, the shared guards
(:class:`TrainingDivergedError`, :func:`check_data_range` ...) in
:mod:`structnoise.methods.checks`.

On-disk format of a saved method (a folder)::

    method.json   {"format": 1, "method": <registered name>, "params": {...},
                   "structnoise": <version>, "extra": {...}}
    ...           whatever the method writes in ``_save_state`` (torch state dicts are
                  loaded with ``weights_only=True``)

:func:`structnoise.methods.load` reads ``method.json``, re-creates the method through the
registry with the saved parameters and calls its ``load_state(folder)``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from structnoise._validate import as_stack, check_same_shape
from structnoise.axes import fold_axes, to_stack
from structnoise.methods.checks import (
    DataRangeWarning,
    check_data_range,
    check_finite_output,
)
from structnoise.methods.contract import PROFILES, MethodInfo
from structnoise.utils import atomic_path, json_default

__all__ = [
    "FORMAT_VERSION",
    "BaseDenoiser",
    "ModelFolderError",
    "check_common_params",
    "read_method_json",
]

FORMAT_VERSION = 1


class ModelFolderError(ValueError):
    """A saved model's files are damaged, edited or written by a newer structnoise."""


def read_method_json(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a saved model's ``method.json`` (types and ranges of every key).

    The one place the file is read: :func:`structnoise.methods.load` and
    :meth:`BaseDenoiser.load_state` both call it. The parameters (``params``) are checked
    afterwards by the method's constructor, as at ``train``.

    Parameters
    ----------
    path : path-like
        The model folder.

    Returns
    -------
    dict
        The description, with ``params`` and ``extra`` dicts (empty when absent).

    Raises
    ------
    FileNotFoundError
        When the folder has no ``method.json``.
    ModelFolderError
        Naming the file, the key and the value, when it is not what ``save`` writes.
    """
    file = Path(path) / "method.json"
    if not file.is_file():
        raise FileNotFoundError(f"{path} is not a saved structnoise model (no method.json)")
    redo = "the file was edited or damaged: train the model again"
    try:
        meta = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{file}: corrupt model description ({exc}); {redo}") from None
    if not isinstance(meta, dict):
        raise ModelFolderError(
            f"{file}: expected a JSON object with keys method, params, ..., got a "
            f"{type(meta).__name__}; {redo}"
        )
    fmt = meta.get("format", FORMAT_VERSION)
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise ModelFolderError(f"{file}: format must be a whole number >= 1, got {fmt!r}; {redo}")
    if fmt > FORMAT_VERSION:
        raise ModelFolderError(
            f"{file}: the model was saved in format {fmt}, newer than this structnoise reads "
            f"(format {FORMAT_VERSION}): upgrade structnoise to load it"
        )
    if not isinstance(meta.get("method"), str) or not meta["method"]:
        raise ModelFolderError(
            f"{file}: method must be a method name (a string), got {meta.get('method')!r}; {redo}"
        )
    for key in ("params", "extra"):
        value = meta.get(key)
        if value is None:
            meta[key] = {}
        elif not isinstance(value, dict):
            raise ModelFolderError(
                f"{file}: {key} must be a JSON object (name: value), got a "
                f"{type(value).__name__}; {redo}"
            )
    if not isinstance(meta.get("fitted", True), bool):
        raise ModelFolderError(f"{file}: fitted must be true or false, got {meta['fitted']!r}")
    rng = meta.get("data_range")
    if rng is not None:
        ok = isinstance(rng, list) and len(rng) == 2
        ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in rng)
        ok = ok and all(np.isfinite(v) for v in rng) and rng[0] <= rng[1]
        if not ok:
            raise ModelFolderError(
                f"{file}: data_range must be [min, max], two finite numbers with min <= max, "
                f"got {rng!r}; {redo}"
            )
    return meta


def check_common_params(
    name: str, *, seed: Any, profile: Any, max_minutes: Any, progress: Any = False
) -> None:
    """Check the parameters every method takes (at ``train`` and when a model is loaded).

    Parameters
    ----------
    name : str
        The method, for the message.
    seed, profile, max_minutes, progress
        The values to check.

    Raises
    ------
    ValueError
        Naming the parameter and its value.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(PROFILES)}")
    whole = isinstance(seed, int | np.integer) or (isinstance(seed, float) and seed.is_integer())
    if isinstance(seed, bool) or not whole:
        raise ValueError(f"{name}: seed must be a whole number, got {seed!r}")
    if max_minutes is not None:
        bad = isinstance(max_minutes, bool) or not isinstance(max_minutes, int | float)
        if bad or not np.isfinite(max_minutes) or max_minutes <= 0:
            raise ValueError(
                f"{name}: max_minutes must be a positive number of minutes, got {max_minutes!r}"
            )


class BaseDenoiser:
    """Convenience base class implementing :class:`Denoiser` around a few hooks.

    Parameters
    ----------
    seed : int
        Seed for everything random in ``fit`` and ``denoise``.
    profile : {"smoke", "quick", "paper"}
        Training profile: ``smoke`` seconds for tests, ``quick`` minutes on a CPU,
        ``paper`` the paper's settings (for a GPU).
    max_minutes : float, optional
        Wall-clock training budget; ``None`` uses the profile's default from ``info``.
    progress : bool
        Show progress bars.
    work_dir : str, optional
        Folder for the method's own scratch files (checkpoints, logs); a temporary
        folder when not given. Nothing is ever written to the current directory.
    **params
        Method-specific parameters; all must be JSON-serialisable (they are saved).
    """

    info: ClassVar[MethodInfo] = MethodInfo()
    #: Smallest height/width the method accepts.
    min_size: ClassVar[int] = 1
    #: Method-specific parameter names; when set, any other ``**params`` key is rejected
    #: with the list of the ones the method takes (None: the subclass checks itself).
    param_names: ClassVar[tuple[str, ...] | None] = None
    #: Parameters every method takes (handled by this class).
    common_params: ClassVar[tuple[str, ...]] = (
        "seed",
        "profile",
        "max_minutes",
        "progress",
        "work_dir",
    )

    def __init__(
        self,
        *,
        seed: int = 0,
        profile: str = "quick",
        max_minutes: float | None = None,
        progress: bool = False,
        work_dir: str | None = None,
        **params: Any,
    ) -> None:
        check_common_params(
            type(self).__name__, seed=seed, profile=profile, max_minutes=max_minutes
        )
        if self.param_names is not None:
            unknown = sorted(set(params) - set(self.param_names))
            if unknown:
                takes = ", ".join([*self.param_names, *self.common_params])
                raise TypeError(
                    f"unknown parameter(s) {unknown} for {type(self).__name__}; it takes: {takes}"
                )
        self.seed = int(seed)
        self.profile = profile
        self.max_minutes = max_minutes
        self.progress = progress
        self.work_dir = work_dir
        self.params: dict[str, Any] = dict(params)
        self.name: str = type(self).__name__.lower()
        self.fitted = False
        self.history: list[dict[str, float]] = []
        #: ``(min, max)`` of the noisy training images (saved; ``denoise`` warns about
        #: input far outside it). None before ``fit`` and for models saved without it.
        self.data_range: tuple[float, float] | None = None

    # ------------------------------------------------------------------ public API
    @property
    def budget_minutes(self) -> float | None:
        """The training budget in minutes: ``max_minutes`` or the profile's default."""
        if self.max_minutes is not None:
            return float(self.max_minutes)
        return self.info.budgets.get(self.profile)

    def get_params(self) -> dict[str, Any]:
        """All constructor parameters (what ``save`` stores and ``load`` passes back)."""
        return {
            "seed": self.seed,
            "profile": self.profile,
            "max_minutes": self.max_minutes,
            **self.params,
        }

    def resolved_params(self) -> dict[str, Any]:
        """Every setting ``fit`` will use, by name (what ``structnoise run --plan`` prints).

        The fields of the method's ``training_profile``, if it has one (a dataclass: the
        profile with the user's overrides applied), then the constructor parameters
        (:meth:`get_params`, which win on a shared name unless they are None, i.e. "the
        profile's"); ``notes`` is left out. A subclass adds what it resolves itself
        (e.g. DVLAE's network sizes).

        Returns
        -------
        dict
        """
        out: dict[str, Any] = {}
        prof = getattr(self, "training_profile", None)
        if dataclasses.is_dataclass(prof) and not isinstance(prof, type):
            out.update({k: v for k, v in dataclasses.asdict(prof).items() if k != "notes"})
        out.update({k: v for k, v in self.get_params().items() if v is not None or k not in out})
        return out

    def fit(
        self,
        noisy,
        clean=None,
        *,
        val=None,
        extra_noisy=None,
        axes: str | None = None,
    ) -> BaseDenoiser:
        """Learn from noisy images; clean targets are required by supervised methods.

        Parameters
        ----------
        noisy : array_like
            ``(Y, X)`` or ``(N, Y, X)`` noisy training images, or any layout named by
            ``axes``.
        clean : array_like, optional
            Clean images of the same shape (required when ``info.needs_clean``; what the
            method does with them is ``info.clean_use``).
        val : array_like or tuple, optional
            Validation noisy images, or a ``(noisy, clean)`` pair; methods that need a
            validation set split one off ``noisy`` when this is not given.
        extra_noisy : array_like, optional
            More noisy images ``(Y, X)`` or ``(N, Y, X)`` to learn from, only for methods
            that declare ``info.extra_noisy``.
        axes : str, optional
            Axes of ``noisy``, ``clean`` and ``extra_noisy`` (e.g. ``"YXC"``, see
            :mod:`structnoise.axes`): channels, time points and planes become images of
            the training stack.

        Returns
        -------
        self

        Raises
        ------
        TypeError
            When ``extra_noisy`` is given to a method that does not declare it.
        ValueError
            On bad images, or without ``clean`` for a supervised method.
        """
        if extra_noisy is not None and not self.info.extra_noisy:
            raise TypeError(
                f"{self.name} does not take extra_noisy: it learns from the images passed "
                "as noisy only (its info.extra_noisy is False)"
            )
        x = self._stack(fold_axes(noisy, axes), "noisy")
        c = None
        if clean is not None:
            c = self._stack(fold_axes(clean, axes), "clean")
            check_same_shape(x, c, ("noisy", "clean"))
        if self.info.needs_clean and c is None:
            raise ValueError(
                f"{self.name} is supervised and needs clean targets: call fit(noisy, clean)"
            )
        v = None
        if val is not None:
            if isinstance(val, tuple):
                vn = self._stack(val[0], "val noisy")
                vc = None
                if len(val) > 1 and val[1] is not None:
                    vc = self._stack(val[1], "val clean")
                    check_same_shape(vn, vc, ("val noisy", "val clean"))
                v = (vn, vc)
            else:
                v = (self._stack(val, "val"), None)
        if extra_noisy is None:
            self._fit(x, c, v)
        else:  # declared (checked above)
            e = self._stack(fold_axes(extra_noisy, axes), "extra_noisy")
            self._fit(x, c, v, extra_noisy=e)
        self.record_data_range(x)
        self.fitted = True
        return self

    def _stack(self, images, name: str) -> np.ndarray:
        """Validate images as a float32 ``(N, Y, X)`` stack of at least ``min_size``."""
        return as_stack(images, name=name, min_size=self.min_size)[0]

    def record_data_range(self, x: np.ndarray) -> None:
        """Remember ``(min, max)`` of the training images (call from a ``fit`` override).

        Parameters
        ----------
        x : numpy.ndarray
            The validated noisy training stack.
        """
        self.data_range = (float(np.min(x)), float(np.max(x)))

    def denoise(self, noisy, *, axes: str | None = None, **options: Any) -> np.ndarray:
        """Denoise an image or a stack.

        Images that are exactly constant are returned unchanged (there is no noise to
        remove, and a flat image is far from any noisy training data, where a learnt
        model's output means nothing); a warning names them. Input far outside the range
        of the training data gets a :class:`DataRangeWarning` naming both ranges.

        Parameters
        ----------
        noisy : array_like
            ``(Y, X)`` or ``(N, Y, X)``, any real numeric dtype, or any layout named by
            ``axes``.
        axes : str, optional
            Axes of ``noisy`` (e.g. ``"YXC"``, ``"CYX"``, ``"TYXC"``; see
            :mod:`structnoise.axes`): every channel, time point and plane is denoised as
            an image of its own and the result has the input's shape and axis order.
            Without it, 2-D is ``YX`` and 3-D is ``SYX``; a 3-D array whose last axis has
            3 or 4 elements is refused as ambiguous.
        **options
            Method-specific inference options (e.g. ``n_samples``, ``tile``): those
            ``info.denoise_options`` declares.

        Returns
        -------
        numpy.ndarray
            float32, same shape as ``noisy``.

        Raises
        ------
        TypeError
            For an option the method does not declare.
        RuntimeError
            If the method is not fitted, or produced NaN or infinite values from finite
            input (a broken model).
        """
        if self.info.learns and not self.fitted:
            raise RuntimeError(f"{self.name}: call fit() (or load a saved model) before denoise()")
        folded, layout = to_stack(noisy, axes)
        x, _ = as_stack(folded, name="noisy", min_size=self.min_size)
        check_data_range(x, self.data_range, self.name)
        self._check_options(options)
        out = np.asarray(self._denoise(x, **options), dtype=np.float32)
        if out.shape != x.shape:  # pragma: no cover - a bug in a method
            raise RuntimeError(f"{self.name} returned shape {out.shape} for input {x.shape}")
        flat = x.max(axis=(1, 2)) == x.min(axis=(1, 2))
        if flat.any():
            out[flat] = x[flat]
        if flat.any() and self.info.learns:
            idx = np.flatnonzero(flat)
            shown = ", ".join(map(str, idx[:5])) + (" ..." if idx.size > 5 else "")
            warnings.warn(
                f"{self.name}: {idx.size} constant image(s) (index {shown}) returned unchanged",
                DataRangeWarning,
                stacklevel=2,
            )
        check_finite_output(out, self.name)
        return layout.restore(out)

    def _check_options(self, options: dict[str, Any]) -> None:
        """Refuse options the method does not declare (``info.denoise_options``)."""
        declared = self.info.denoise_options
        if declared is None or not options:
            return
        unknown = sorted(set(options) - set(declared))
        if unknown and not declared:
            raise TypeError(f"{self.name}.denoise() takes no options, got {sorted(options)}")
        if unknown:
            raise TypeError(
                f"{self.name}.denoise() does not take {unknown}; it takes {', '.join(declared)}"
            )

    def save(self, path: str | os.PathLike) -> None:
        """Save parameters and learnt state to the folder ``path`` (created if needed).

        Parameters
        ----------
        path : path-like
            Destination folder.
        """
        from structnoise import __version__

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_state(path)
        meta = {
            "format": FORMAT_VERSION,
            "method": self.name,
            "params": self.get_params(),
            "structnoise": __version__,
            "fitted": self.fitted,
            "data_range": None if self.data_range is None else list(self.data_range),
            "extra": self._extra_meta(),
        }
        with atomic_path(path / "method.json") as tmp:
            tmp.write_text(json.dumps(meta, indent=2, default=json_default))

    def load_state(self, path: str | os.PathLike) -> None:
        """Restore learnt state written by ``save`` (called by ``structnoise.methods.load``).

        Parameters
        ----------
        path : path-like
            The folder ``save`` wrote.
        """
        meta = read_method_json(path)
        self._load_state(Path(path), meta.get("extra", {}))
        # a model saved as fitted whose weights file is missing comes back unfitted, so
        # that structnoise.methods.load reports it as incomplete
        self.fitted = bool(meta.get("fitted", True)) and self._state_complete()
        rng = meta.get("data_range")
        self.data_range = None if rng is None else (float(rng[0]), float(rng[1]))

    # ------------------------------------------------------------------ hooks
    def _fit(self, noisy: np.ndarray, clean: np.ndarray | None, val, **declared: Any) -> None:
        """Learn from validated float32 ``(N, Y, X)`` stacks.

        ``val`` is None or a ``(noisy, clean or None)`` pair. ``fit`` calls
        ``_fit(noisy, clean, val)``, and ``_fit(noisy, clean, val, extra_noisy=stack)``
        when it was given extra noisy images, which only methods that declare
        ``info.extra_noisy`` accept: their hook takes ``extra_noisy=None``.
        """
        raise NotImplementedError

    def _denoise(self, noisy: np.ndarray, **options: Any) -> np.ndarray:
        """Denoise a validated float32 ``(N, Y, X)`` stack."""
        raise NotImplementedError

    def _save_state(self, path: Path) -> None:
        """Write learnt state into ``path`` (default: nothing to save)."""

    def _load_state(self, path: Path, extra: dict) -> None:
        """Read learnt state from ``path`` (default: nothing to load)."""

    def _state_complete(self) -> bool:
        """Whether ``_load_state`` found all learnt state (default: nothing can be missing)."""
        return True

    def _extra_meta(self) -> dict:
        """Small JSON-serialisable learnt values to keep in ``method.json``."""
        return {}
