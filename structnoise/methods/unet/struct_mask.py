"""StructN2V's struct mask: the input manipulation, the span's checks and its proposal.

Struct-mask values: careamics 0.3.5 fills the struct mask with values drawn from
``[min, max]`` of each patch; the structN2V authors draw zero-mean values from
``[-2, 2]`` (normalised units). ``sn2v`` follows the authors
(:class:`StructMaskManipulate` replaces the careamics module's manipulation; the
blind spot itself stays careamics').

``span="full"``: careamics 0.3.5 validates ``span <= 15``. A whole-line mask is set past
that validator: the mask is built with span ``2 * patch - 1``, so it covers the whole
row/column of every training patch whatever the blind-spot position (careamics drops
mask pixels outside the patch; see :func:`structnoise.methods.unet.config.build_config`).
Its saved careamics configuration therefore does not pass careamics' own validation; the
methods never reload it through careamics (the network is rebuilt from the saved UNet
parameters).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from structnoise.datasets.noise_stats import CAREAMICS_MAX_SPAN

__all__ = [
    "Axis",
    "Span",
    "StructMaskManipulate",
    "check_span",
]

#: The direction structured noise is correlated along (``"horizontal"``: along X).
Axis = Literal["horizontal", "vertical"]
#: A struct-mask span: odd pixels centred on the blind spot, or the whole line.
Span = int | Literal["full"]


class StructMaskManipulate:
    """The structN2V input manipulation as published: zero-mean random values on the mask.

    careamics' N2V blind spot (a random neighbour's value, ``N2VManipulate`` without its
    struct mask), then every pixel of the 1-D struct mask around each blind spot is
    replaced by a value drawn uniformly from ``[-2, 2]`` in normalised units (data mean
    0, standard deviation 1), as the structN2V authors' ``apply_structN2Vmask`` does.
    careamics 0.3.5 instead draws from ``[min, max]`` of each patch, whose mean is not
    the data mean; on ``embedded-stripe`` that biased the SN2V output by +0.01 to +0.03
    (intensities in [0, 1]) and cost 1-2 dB. Mask pixels outside the patch are dropped.

    Parameters
    ----------
    config : careamics N2VManipulateConfig
        The run's N2V configuration (its ``struct_mask`` gives axis and span; the span
        may exceed careamics' validated 15, see the module docstring).
    """

    def __init__(self, config) -> None:
        import torch
        from careamics.lightning.modules.n2v_utils import N2VManipulate

        self.struct = config.struct_mask
        blind = config.model_copy(update={"struct_mask": None})
        self.blind_spot = N2VManipulate(blind, device="cpu")
        self.seed = int(config.seed) + 1
        self._rng = None
        self._torch = torch

    def _generator(self, device):
        if self._rng is None or self._rng.device != device:
            self._rng = self._torch.Generator(device=device).manual_seed(self.seed)
        return self._rng

    def __call__(self, batch, *args: Any, **kwargs: Any):
        """Manipulate a ``(B, C, Y, X)`` batch; returns ``(masked, original, mask)``."""
        torch = self._torch
        if self.blind_spot.rng.device != batch.device:
            self.blind_spot.rng = torch.Generator(device=batch.device).manual_seed(self.seed - 1)
        masked, original, mask = self.blind_spot(batch)
        half = self.struct.span // 2
        offsets = torch.cat([torch.arange(-half, 0), torch.arange(1, half + 1)]).to(batch.device)
        dim = -1 if self.struct.axes == "horizontal" else -2
        size = batch.shape[dim]
        for c in range(batch.shape[1]):
            centres = torch.nonzero(mask[:, c])  # (n, 3): batch, y, x
            if centres.numel() == 0:
                continue
            pts = centres[:, None, :].repeat(1, offsets.numel(), 1)
            pts[..., dim] = pts[..., dim] + offsets[None, :]
            pts = pts.reshape(-1, 3)
            pts = pts[(pts[:, dim] >= 0) & (pts[:, dim] < size)]
            values = torch.rand(
                len(pts), generator=self._generator(batch.device), device=batch.device
            )
            masked[pts[:, 0], c, pts[:, 1], pts[:, 2]] = (values * 4 - 2).to(masked.dtype)
        return masked, original, mask


def check_span(span) -> Span | None:
    """Validate a struct-mask span.

    Parameters
    ----------
    span : int, str, float or None
        An odd integer ``1 .. 15`` (also as a string or an integral float), ``"full"``,
        or None (propose one during ``fit``).

    Returns
    -------
    int, "full" or None
        The span as an ``int``, ``"full"`` or None.

    Raises
    ------
    ValueError
        For anything else, with the accepted values.
    """
    if span is None or span == "full":
        return span
    if isinstance(span, str):
        try:
            span = int(span)
        except ValueError:
            raise ValueError(f"span must be an odd integer, 'full' or None, got {span!r}") from None
    if isinstance(span, float) and span.is_integer():
        span = int(span)
    if not isinstance(span, int | np.integer) or isinstance(span, bool):
        raise ValueError(f"span must be an odd integer, 'full' or None, got {span!r}")
    span = int(span)
    if span < 1 or span % 2 == 0:
        raise ValueError(f"span must be odd and >= 1 (1 = single pixel), got {span}")
    if span > CAREAMICS_MAX_SPAN:
        raise ValueError(
            f"span {span} exceeds careamics' largest mask ({CAREAMICS_MAX_SPAN}); "
            "use span='full' for a mask over the whole row/column of each patch"
        )
    return span
