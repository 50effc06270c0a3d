"""The interface every denoising method implements, and a base class that does the chores.

A method is anything with ``fit``, ``denoise`` and ``save`` (the :class:`Denoiser`
protocol). Methods built on :class:`BaseDenoiser` get input validation, shape handling,
the clean-data check and the on-disk format for free and implement only ``_fit``,
``_denoise`` and, when they have learnt state, ``_save_state`` / ``load_state``.

On-disk format of a saved method (a folder)::

    method.json   {"format": 1, "method": <registered name>, "params": {...},
                   "structnoise": <version>, "extra": {...}}
    ...           whatever the method writes in ``_save_state`` (torch state dicts are
                  loaded with ``weights_only=True``)

:func:`structnoise.methods.load` reads ``method.json``, re-creates the method through the
registry with the saved parameters and calls its ``load_state(folder)``.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

from structnoise._validate import as_stack, check_same_shape

FORMAT_VERSION = 1
PROFILES = ("smoke", "quick", "paper")


class TrainingDivergedError(RuntimeError):
    """Training produced a non-finite loss or non-finite weights and was stopped.

    Every learnt method raises this from ``fit`` instead of keeping a broken model; the
    ``train`` command prints its message and exits non-zero without writing a model.

    Parameters
    ----------
    step : int
        The optimisation step at which the divergence was detected.
    loss : float
        The loss at that step (``nan`` or ``inf``; a finite loss when the weights diverged).
    method : str, optional
        The method's name, for the message.
    what : str
        ``"loss"`` or ``"weights"``: what was found non-finite.
    """

    def __init__(
        self, step: int, loss: float, method: str | None = None, what: str = "loss"
    ) -> None:
        self.step = int(step)
        self.loss = float(loss)
        self.method = method
        self.what = what
        prefix = f"{method}: " if method else ""
        detail = f"loss {self.loss:g}"
        if what != "loss":
            detail = f"non-finite weights, {detail}"
        super().__init__(
            f"{prefix}training diverged at step {self.step} ({detail}): lower the learning rate"
        )


@dataclass(frozen=True)
class MethodInfo:
    """What a method needs and offers, as data the benchmark runner schedules by.

    Attributes
    ----------
    description : str
        One line for ``structnoise list methods``.
    needs_clean : bool
        Supervised: ``fit`` requires clean targets (cells without them are skipped).
    samples : bool
        Stochastic output; ``denoise`` accepts ``n_samples`` (MMSE over samples).
    uses_axis : bool
        Takes an ``axis`` parameter ("horizontal" / "vertical") for the structured noise.
    learns : bool
        False for classical methods whose ``fit`` only estimates a few numbers.
    budgets : dict
        Default training budget in minutes per profile (``None`` = no time limit).
    paper_name : str, optional
        The column of the paper's Table 1 this method reproduces.
    clean_use : {"none", "target", "calibration"}
        What ``fit`` does with clean images: nothing, training targets (CARE), or the
        calibration of a noise model while the network learns from noisy images (HDN).
        The benchmark runner decides what to pass from this, never from signatures.
    extra_noisy : bool
        ``fit`` takes ``extra_noisy=``: more noisy images to learn from besides the ones
        paired with clean images (HDN: the test images, as unsupervised methods see them).
    """

    description: str = ""
    needs_clean: bool = False
    samples: bool = False
    uses_axis: bool = False
    learns: bool = True
    budgets: dict[str, float | None] = field(
        default_factory=lambda: {"smoke": 0.25, "quick": 5.0, "paper": None}
    )
    paper_name: str | None = None
    clean_use: Literal["none", "target", "calibration"] = "none"
    extra_noisy: bool = False


@runtime_checkable
class Denoiser(Protocol):
    """The interface of every registered method.

    ``fit`` learns from noisy images (and clean targets, for supervised methods);
    ``denoise`` returns float32 of the input's shape for ``(Y, X)`` or ``(N, Y, X)`` input
    of any numeric dtype; ``save`` writes a folder that :func:`structnoise.methods.load`
    restores (it must hold a ``method.json`` as described in this module, and the
    method must offer ``load_state(path)``).
    """

    def fit(self, noisy, clean=None, *, val=None) -> Denoiser:
        """Learn from noisy images (and clean targets when supervised)."""
        ...

    def denoise(self, noisy) -> np.ndarray:
        """Return the denoised images, float32, same shape as ``noisy``."""
        ...

    def save(self, path) -> None:
        """Write the method (parameters and learnt state) to the folder ``path``."""
        ...


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
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(PROFILES)}")
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

    def fit(self, noisy, clean=None, *, val=None, axes: str | None = None) -> BaseDenoiser:
        """Learn from noisy images; clean targets are required by supervised methods.

        Parameters
        ----------
        noisy : array_like
            ``(Y, X)`` or ``(N, Y, X)`` noisy training images, or any layout named by
            ``axes``.
        clean : array_like, optional
            Clean targets of the same shape (required when ``info.needs_clean``).
        val : array_like or tuple, optional
            Validation noisy images, or a ``(noisy, clean)`` pair; methods that need a
            validation set split one off ``noisy`` when this is not given.
        axes : str, optional
            Axes of ``noisy`` and ``clean`` (e.g. ``"YXC"``, see :mod:`structnoise.axes`):
            channels, time points and planes become images of the training stack.

        Returns
        -------
        self
        """
        x, _ = as_stack(fold_axes(noisy, axes), name="noisy", min_size=self.min_size)
        c = None
        if clean is not None:
            c, _ = as_stack(fold_axes(clean, axes), name="clean", min_size=self.min_size)
            check_same_shape(x, c, ("noisy", "clean"))
        if self.info.needs_clean and c is None:
            raise ValueError(
                f"{self.name} is supervised and needs clean targets: call fit(noisy, clean)"
            )
        v = None
        if val is not None:
            if isinstance(val, tuple):
                vn, _ = as_stack(val[0], name="val noisy", min_size=self.min_size)
                vc = None
                if len(val) > 1 and val[1] is not None:
                    vc, _ = as_stack(val[1], name="val clean", min_size=self.min_size)
                    check_same_shape(vn, vc, ("val noisy", "val clean"))
                v = (vn, vc)
            else:
                v = (as_stack(val, name="val", min_size=self.min_size)[0], None)
        self._fit(x, c, v)
        self.record_data_range(x)
        self.fitted = True
        return self

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
            Method-specific inference options (e.g. ``n_samples``, ``tile``).

        Returns
        -------
        numpy.ndarray
            float32, same shape as ``noisy``.

        Raises
        ------
        RuntimeError
            If the method is not fitted, or produced NaN or infinite values from finite
            input (a broken model).
        """
        if self.info.learns and not self.fitted:
            raise RuntimeError(f"{self.name}: call fit() (or load a saved model) before denoise()")
        from structnoise.axes import to_stack

        folded, layout = to_stack(noisy, axes)
        x, _ = as_stack(folded, name="noisy", min_size=self.min_size)
        check_data_range(x, self.data_range, self.name)
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
        tmp = path / "method.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2, default=_json_default))
        os.replace(tmp, path / "method.json")

    def load_state(self, path: str | os.PathLike) -> None:
        """Restore learnt state written by ``save`` (called by ``structnoise.methods.load``).

        Parameters
        ----------
        path : path-like
            The folder ``save`` wrote.
        """
        meta = json.loads((Path(path) / "method.json").read_text())
        self._load_state(Path(path), meta.get("extra", {}))
        self.fitted = bool(meta.get("fitted", True))
        rng = meta.get("data_range")
        self.data_range = None if rng is None else (float(rng[0]), float(rng[1]))

    # ------------------------------------------------------------------ hooks
    def _fit(self, noisy: np.ndarray, clean: np.ndarray | None, val) -> None:
        """Learn from validated float32 ``(N, Y, X)`` stacks."""
        raise NotImplementedError

    def _denoise(self, noisy: np.ndarray, **options: Any) -> np.ndarray:
        """Denoise a validated float32 ``(N, Y, X)`` stack."""
        raise NotImplementedError

    def _save_state(self, path: Path) -> None:
        """Write learnt state into ``path`` (default: nothing to save)."""

    def _load_state(self, path: Path, extra: dict) -> None:
        """Read learnt state from ``path`` (default: nothing to load)."""

    def _extra_meta(self) -> dict:
        """Small JSON-serialisable learnt values to keep in ``method.json``."""
        return {}


class DataRangeWarning(UserWarning):
    """Input unlike the training data (far outside its range, or constant images)."""


def fold_axes(x, axes: str | None):
    """Fold an array with ``axes`` into a stack (unchanged when ``axes`` is None).

    Parameters
    ----------
    x : array_like
        The image(s).
    axes : str or None
        Their axes (see :mod:`structnoise.axes`); None keeps ``x`` but refuses shapes
        that are ambiguous without axes.

    Returns
    -------
    array_like
        ``x`` itself, or an ``(N, Y, X)`` stack.
    """
    if axes is None:
        from structnoise.axes import guess_axes

        guess_axes(np.shape(x))  # refuses ambiguous shapes
        return x
    from structnoise.axes import to_stack

    return to_stack(x, axes)[0]


def check_data_range(
    x: np.ndarray, data_range: tuple[float, float] | None, name: str = "model"
) -> bool:
    """Warn when ``x`` lies far outside the range of the training data.

    "Far" means beyond the training range by more than its own width on either side
    (for training data in [0, 1]: below -1 or above 2). Learnt models normalise with the
    training statistics, so such input lands where the network never saw data.

    Parameters
    ----------
    x : numpy.ndarray
        The input.
    data_range : tuple of float or None
        ``(min, max)`` of the training data; None skips the check.
    name : str
        The method's name, for the message.

    Returns
    -------
    bool
        True when a warning was given.
    """
    if data_range is None or x.size == 0:
        return False
    lo, hi = data_range
    width = max(hi - lo, 1e-12 * max(abs(lo), abs(hi), 1.0))
    x_lo, x_hi = float(np.min(x)), float(np.max(x))
    if x_lo < lo - width or x_hi > hi + width:
        warnings.warn(
            f"{name}: input values span [{x_lo:.4g}, {x_hi:.4g}], far outside the training "
            f"data's [{lo:.4g}, {hi:.4g}]; the result is unreliable: scale the input like the "
            "training data or train on data like it",
            DataRangeWarning,
            stacklevel=3,
        )
        return True
    return False


def check_finite_output(out: np.ndarray, name: str = "model") -> None:
    """Raise when a method returned NaN or infinite values (its input was finite).

    Parameters
    ----------
    out : numpy.ndarray
        The method's output.
    name : str
        The method's name, for the message.
    """
    finite = np.isfinite(out)
    if not finite.all():
        bad = int(out.size - finite.sum())
        raise RuntimeError(
            f"{name} produced {bad} NaN/infinite value(s) from finite input: the model is "
            "broken (e.g. training diverged); retrain it with a lower learning rate"
        )


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")
