"""The careamics baselines: :class:`N2V`, :class:`StructN2V` and :class:`CARE`.

- ``sn2v``: structured Noise2Void (Broaddus et al. 2020). The struct mask hides
  ``span`` pixels centred on each blind-spot pixel along the noise ``axis``
  (``"horizontal"``: along X, i.e. a row; ``"vertical"``: along Y); with ``span=None`` a
  span is proposed from the noise autocorrelation
  (:func:`~structnoise.datasets.noise_stats.propose_span`).
- ``n2v``: plain Noise2Void, single-pixel blind spot.
- ``care``: supervised CARE (Weigert et al. 2018), needs clean targets.

Batch normalisation: careamics' UNet normalises batches by default. ``sn2v`` and ``n2v``
train without it: the blind-spot and struct-mask values exist only in training inputs, and
statistics learnt with them degrade predictions the longer training runs (measured on
``embedded-stripe``, see :class:`StructN2V`); ``batch_norm=True`` restores careamics'
choice. ``care`` keeps it and uses a residual UNet (output = input + correction), the
default of CSBDeep's CARE when input and output channels match (careamics: not residual);
without it CARE's quick profile stayed below the noisy input after 300 steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from structnoise._validate import check_axis
from structnoise.datasets.noise_stats import propose_span
from structnoise.methods.contract import MethodInfo
from structnoise.methods.registry import register
from structnoise.methods.unet.config import Algorithm, Augment
from structnoise.methods.unet.denoiser import CareamicsDenoiser
from structnoise.methods.unet.profiles import BUDGETS
from structnoise.methods.unet.struct_mask import Axis, Span, check_span

__all__ = ["CARE", "CARE_INFO", "N2V", "N2V_INFO", "SN2V_INFO", "StructN2V"]

N2V_INFO = MethodInfo(
    description="Noise2Void (careamics): self-supervised, single-pixel blind spot; "
    "for pixel-independent noise",
    uses_axis=False,
    learns=True,
    budgets=dict(BUDGETS),
    paper_name=None,
    denoise_options=("tile", "tile_overlap"),
    snapshots=True,
)
#: SN2V's masks as in the paper (supplement 1.3), on every profile: 4 pixels each side of
#: the target along the noise axis (span 9) for Convallaria A/B, Mouse Actin and
#: FFHQ-Stripe (and embedded-stripe, the same noise model); whole columns for
#: FFHQ-Checkerboard (and embedded-checkerboard); a single pixel (plain N2V) for the
#: unstructured Mouse Nuclei. The mask's axis comes from the dataset.
SN2V_SPANS: dict[str, dict[str, int | str]] = {
    "convallaria-a": {"span": 9},
    "convallaria-b": {"span": 9},
    "mouse-actin": {"span": 9},
    "ffhq-stripe": {"span": 9},
    "embedded-stripe": {"span": 9},
    "ffhq-checkerboard": {"span": "full"},
    "embedded-checkerboard": {"span": "full"},
    "mouse-nuclei": {"span": 1},
}

SN2V_INFO = MethodInfo(
    description="structured Noise2Void (careamics): blind spot plus a 1-D mask of `span` "
    "pixels along the noise axis",
    uses_axis=True,
    learns=True,
    budgets=dict(BUDGETS),
    paper_name="SN2V",
    denoise_options=("tile", "tile_overlap"),
    snapshots=True,
    dataset_defaults={"*": SN2V_SPANS},
)
CARE_INFO = MethodInfo(
    description="CARE (careamics): supervised UNet trained on (noisy, clean) pairs",
    clean_use="target",
    uses_axis=False,
    learns=True,
    budgets=dict(BUDGETS),
    paper_name="CARE",
    denoise_options=("tile", "tile_overlap"),
    snapshots=True,
)


@register("n2v")
class N2V(CareamicsDenoiser):
    """Noise2Void (Krull et al. 2019) through careamics: single-pixel blind spot.

    The paper's choice for unstructured noise (Mouse Nuclei). Parameters as in
    :class:`CareamicsDenoiser`; ``batch_norm`` defaults to False: with careamics'
    batch-normalised UNet the quick profile on ``embedded-stripe`` ended below the noisy
    input (26.2 dB against 26.9 dB), without it above (27.8 dB), as for :class:`StructN2V`.
    """

    info: ClassVar[MethodInfo] = N2V_INFO
    algorithm: ClassVar[Algorithm] = "n2v"
    default_augment: ClassVar[Augment] = Augment.ALL
    default_batch_norm: ClassVar[bool] = False


@register("sn2v")
class StructN2V(CareamicsDenoiser):
    """Structured Noise2Void (Broaddus et al. 2020) through careamics.

    Parameters
    ----------
    axis : {"horizontal", "vertical"}
        Direction the noise is correlated along; the mask runs along it
        (``"horizontal"``: along X).
    span : int, "full" or None
        Mask length in pixels centred on the blind spot (odd, 1..15; 9 = the paper's
        4 pixels each side), ``"full"`` for the whole row/column of each patch (the
        paper's checkerboard mask), or None to propose one from the data with
        :func:`propose_span` during ``fit``.
    augment : {"none", "x_flip", "flips"}
        Augmentations; default ``"x_flip"``. Flips keep a 1-D mask's orientation,
        90-degree rotations would not and are refused.
    batch_norm : bool
        Default False. During training the struct mask fills a line around every blind
        spot with random values that never occur at prediction; batch-normalisation
        statistics learnt with them mis-scale the features at prediction, and the
        output drifts away as training goes on (on ``embedded-stripe`` with careamics'
        default UNet: 25.9 dB after 300 steps, 20.1 dB after 3000, the noisy input
        having 26.9 dB; without batch normalisation 28.4 dB after 600 steps).
    **params
        As in :class:`CareamicsDenoiser`.
    """

    info: ClassVar[MethodInfo] = SN2V_INFO
    algorithm: ClassVar[Algorithm] = "n2v"
    default_augment: ClassVar[Augment] = Augment.X_FLIP
    default_batch_norm: ClassVar[bool] = False

    def __init__(
        self, *, axis: Axis = "horizontal", span: Span | str | None = None, **params: Any
    ) -> None:
        if params.get("augment") == Augment.ALL:
            raise ValueError(
                "sn2v: augment='all' rotates patches by 90 degrees, which would turn the 1-D "
                "struct mask across the noise; use 'none', 'x_flip' or 'flips'"
            )
        super().__init__(axis=check_axis(axis), span=check_span(span), **params)
        #: The span used by the last ``fit`` (the proposal when ``span`` is None).
        self.span_used: Span | None = None

    @classmethod
    def _method_params(cls) -> tuple[str, ...]:
        return ("axis", "span")

    def _struct_mask(self, noisy, clean) -> tuple[str, Span | None]:
        span = self.params["span"]
        if span is None:
            span = propose_span(noisy, self.params["axis"], clean=clean)
        self.span_used = span
        return self.params["axis"], span

    def _extra_meta(self) -> dict:
        return {**super()._extra_meta(), "span_used": self.span_used}

    def _load_state(self, path: Path, extra: dict) -> None:
        super()._load_state(path, extra)
        self.span_used = extra.get("span_used")


@register("care")
class CARE(CareamicsDenoiser):
    """CARE (Weigert et al. 2018) through careamics: supervised, needs clean targets.

    ``fit(noisy, clean)``; without ``clean`` it refuses with a ValueError. Evaluate it
    on images it was not trained on. Parameters as in :class:`CareamicsDenoiser`.
    """

    info: ClassVar[MethodInfo] = CARE_INFO
    algorithm: ClassVar[Algorithm] = "care"
    default_augment: ClassVar[Augment] = Augment.ALL
    residual: ClassVar[bool] = True  # CSBDeep's CARE: unet_residual when channels match

    def fit(self, noisy, clean=None, *, val=None, axes: str | None = None) -> CARE:
        """Train on ``(noisy, clean)`` pairs (see :meth:`BaseDenoiser.fit`).

        Parameters
        ----------
        noisy : array_like
            ``(Y, X)`` or ``(N, Y, X)`` noisy training images.
        clean : array_like
            Clean targets of the same shape (required).
        val : tuple, optional
            ``(noisy, clean)`` validation pair; otherwise careamics holds out patches.
        axes : str, optional
            Axes of ``noisy`` and ``clean`` (see :meth:`BaseDenoiser.fit`).

        Returns
        -------
        self
        """
        if clean is None:
            raise ValueError(
                "care is supervised and needs clean targets: call fit(noisy, clean) with "
                "clean images of the same shape (e.g. `structnoise train care noisy.tif "
                "--clean clean.tif`); for data without clean images use sn2v, n2v or dvlae"
            )
        return super().fit(noisy, clean, val=val, axes=axes)
