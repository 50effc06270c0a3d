"""The contract between a method and its callers: :class:`Denoiser` and :class:`MethodInfo`.

A method is anything with ``fit``, ``denoise`` and ``save`` (the :class:`Denoiser`
protocol). What a caller may pass to them is *declared* in the method's
:class:`MethodInfo`, never read from signatures: the benchmark runner and the command
line decide from these fields alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np


class Profile(StrEnum):
    """Training profiles every method offers."""

    #: Seconds, for tests.
    SMOKE = "smoke"
    #: Minutes on a CPU.
    QUICK = "quick"
    #: The paper's settings (for a GPU).
    PAPER = "paper"


class Mode(StrEnum):
    """What ``denoise`` of a sampling method (``info.samples``) returns."""

    #: The mean of ``n_samples`` posterior samples (the papers' estimate).
    MMSE = "mmse"
    #: One posterior sample.
    SAMPLE = "sample"
    #: One pass with every latent at its mean.
    MEAN = "mean"
    #: One pass of a network trained to output the MMSE estimate (DVLAE's direct denoiser).
    DIRECT = "direct"


#: The profile names, in order.
PROFILES: tuple[str, ...] = tuple(p.value for p in Profile)

#: What ``fit`` does with clean images (see :attr:`MethodInfo.clean_use`).
CleanUse = Literal["none", "target", "calibration"]


@dataclass(frozen=True)
class MethodInfo:
    """What a method needs and offers, as data the benchmark runner schedules by.

    Attributes
    ----------
    description : str
        One line for ``structnoise list methods``.
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
        The benchmark runner decides what to pass from this, never from signatures;
        any use but ``"none"`` makes clean images required (:attr:`needs_clean`).
    extra_noisy : bool
        ``fit`` takes ``extra_noisy=``: more noisy images to learn from besides the ones
        paired with clean images (HDN: the test images, as unsupervised methods see them).
        :meth:`BaseDenoiser.fit` refuses ``extra_noisy`` with a TypeError for methods
        that do not declare it.
    denoise_options : tuple of str or None
        The keyword options ``denoise`` takes (e.g. ``("n_samples", "tile", "mode",
        "seed")``); ``()`` for none. :meth:`BaseDenoiser.denoise` refuses any other with
        a TypeError and ``structnoise denoise`` refuses the flags of the others before
        loading the input. ``None`` (the default) means *not declared*: the method
        checks its options itself and the command passes on what the user gives. A
        method whose options include ``n_samples`` has stochastic output
        (:attr:`samples`).
    uses_rf : bool
        Takes an ``rf`` parameter (receptive field of an autoregressive decoder), which
        ``structnoise train --rf`` sets.
    dataset_defaults : dict
        Parameters the method takes on a named dataset in a profile, as
        ``{profile: {dataset: {parameter: value}}}``, profile ``"*"`` for every profile
        (e.g. SN2V's mask per dataset, DVLAE's per-dataset paper settings); the
        benchmark passes them to every cell of that profile and dataset (a profile's
        entry over ``"*"``), under the configuration's ``dataset_params`` and the cell's
        own parameters. The one place per-dataset defaults of a method live.
    snapshots : bool
        ``fit`` honours the method's ``snapshot_hook`` attribute: with
        ``method.snapshot_hook = (steps, fn, "steps")`` (or ``(minutes, fn)``),
        ``fn(method, info)`` is called when training passes each mark, with the method
        usable as fitted on its current weights and ``info = {"steps", "minutes",
        "mark"}``; the hook's time is not charged to the training budget. Default False
        (plugins are not expected to offer it).
    """

    description: str = ""
    uses_axis: bool = False
    learns: bool = True
    budgets: dict[str, float | None] = field(
        default_factory=lambda: {"smoke": 0.25, "quick": 5.0, "paper": None}
    )
    paper_name: str | None = None
    clean_use: CleanUse = "none"
    extra_noisy: bool = False
    denoise_options: tuple[str, ...] | None = None
    uses_rf: bool = False
    dataset_defaults: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    snapshots: bool = False

    @property
    def needs_clean(self) -> bool:
        """``fit`` requires clean images (``clean_use`` is not ``"none"``)."""
        return self.clean_use != "none"

    @property
    def samples(self) -> bool:
        """Stochastic output: ``denoise`` takes ``n_samples`` (MMSE over samples)."""
        return "n_samples" in (self.denoise_options or ())


def classical_info(description: str) -> MethodInfo:
    """The :class:`MethodInfo` of a classical method: learns nothing, no options.

    Parameters
    ----------
    description : str
        The one-line description.

    Returns
    -------
    MethodInfo
        ``learns=False``, no time budget in any profile, ``clean_use="none"``,
        ``denoise_options=()``.
    """
    return MethodInfo(
        description=description,
        learns=False,
        budgets=dict.fromkeys(PROFILES),
        clean_use="none",
        denoise_options=(),
    )


@dataclass
class OnePass:
    """A fitted model's one-pass network and what an exported package needs of it.

    What a method's optional ``one_pass_network()`` returns (see :class:`Denoiser`):
    ``structnoise export`` asks the model for it and refuses models without one.

    Attributes
    ----------
    method : str
        The registered method name.
    network : torch.nn.Module
        Normalised input to normalised output, on the CPU, in evaluation mode.
    architecture : dict
        ``{"file": path}`` (a Python file that needs only torch) or ``{"library":
        module}``, with ``callable`` and ``kwargs``.
    in_mean, in_std : float
        Input normalisation ``(x - in_mean) / in_std``.
    out_mean, out_std : float
        Output denormalisation ``y * out_std + out_mean``.
    multiple : int
        Input sides must be multiples of this.
    summary : str
        One sentence on what the network is.
    tags : list of str
        Keywords of the description.
    denoise_options : dict
        The options of the method's ``denoise`` that compute what the network computes
        (DVLAE: ``{"mode": "direct"}``); the package's expected test output is made
        with them.
    """

    method: str
    network: Any
    architecture: dict
    in_mean: float
    in_std: float
    out_mean: float
    out_std: float
    multiple: int
    summary: str
    tags: list[str] = field(default_factory=list)
    denoise_options: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Denoiser(Protocol):
    """The interface of every registered method: one ``fit``, one ``denoise``, ``save``.

    ``fit(noisy, clean=None, *, val=None, extra_noisy=None, axes=None)`` learns from
    noisy ``(Y, X)`` or ``(N, Y, X)`` images (any layout named by ``axes``). Its
    :class:`MethodInfo` says what the other arguments are for, and callers pass them
    from that alone: ``clean`` is used as ``info.clean_use`` says, and required unless
    that is ``"none"`` (``"none"``: ignored, ``"target"``: training targets,
    ``"calibration"``: a noise model's calibration pairs); ``extra_noisy`` (more noisy
    images to learn from) only when ``info.extra_noisy``, and a method that does not
    declare it refuses it with a TypeError; ``val`` is validation noisy images or a
    ``(noisy, clean)`` pair.

    ``denoise(noisy, *, axes=None, **options)`` returns float32 of the input's shape for
    input of any numeric dtype; ``options`` are those ``info.denoise_options`` lists.
    ``save(path)`` writes a folder that :func:`structnoise.methods.load` restores (it
    must hold a ``method.json`` as described in :mod:`structnoise.methods.base`, and the
    method must offer ``load_state(path)``).

    Optional hook: ``one_pass_network()`` returns the :class:`OnePass` of a fitted model
    whose denoising is one pass of a network (what ``structnoise export`` packages), or
    raises ValueError saying why this model has none (e.g. not fitted). Methods without
    the hook are not exportable.
    """

    def fit(
        self, noisy, clean=None, *, val=None, extra_noisy=None, axes: str | None = None
    ) -> Denoiser:
        """Learn from noisy images (clean ones and more noisy ones as ``info`` declares)."""
        ...

    def denoise(self, noisy) -> np.ndarray:
        """Return the denoised images, float32, same shape as ``noisy``."""
        ...

    def save(self, path) -> None:
        """Write the method (parameters and learnt state) to the folder ``path``."""
        ...
