"""DVLAE's direct denoiser: its sizes, its loss, and how it joins the network.

The direct denoiser (the authors' later version of the method, COSDD: the same arXiv
paper 2310.07887 as published in 2025) is a U-Net (:class:`.direct_net.DirectUNet`)
trained in the same run as the VAE, with its own optimiser, to map the noisy input to
the signal decoder's output for a posterior sample: ``loss(direct(x), s_hat.detach())``.
With the L2 loss it learns the mean over posterior samples, i.e. the MMSE estimate that
``denoise(mode="mmse")`` approximates with ``n_samples`` passes; with L1 their median.
Inference is then one pass of a small network (``denoise(mode="direct")``).

No gradient flows between the direct denoiser and the VAE (its target is detached and
its input is the data), and it is built after the VAE from the same seeded generator, so
the VAE, the AR decoder and the signal decoder train exactly as without it.

Sizes, as the authors' (COSDD ``get_models``: ``UNet(n_filters=s_code_channels,
n_layers=number_layers, downsampling=<the VAE's>)``): the VAE's filter count and one
level per VAE level with the same downsampling; ``direct_filters`` overrides the width.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

import torch
import torch.nn.functional as F

from structnoise.methods.dvlae.direct_net import DirectUNet
from structnoise.methods.dvlae.network import Architecture


class DirectLoss(StrEnum):
    """What the direct denoiser learns of the posterior samples."""

    #: Mean squared error: their mean (the MMSE estimate).
    L2 = "l2"
    #: Mean absolute error: their pixel-wise median.
    L1 = "l1"


@dataclass
class DirectSpec:
    """The direct denoiser's sizes and loss (saved in ``method.json``).

    Attributes
    ----------
    n_filters : int
        Channels of every level.
    downsample : list of bool
        Whether each level halves the resolution.
    loss : {"l2", "l1"}
        Training loss against the signal decoder's output.
    """

    n_filters: int
    downsample: list[bool]
    loss: str = DirectLoss.L2.value

    @classmethod
    def for_network(cls, arch: Architecture, loss: str = "l2", n_filters: int | None = None):
        """The authors' sizes for a DVLAE network: its width and levels.

        Parameters
        ----------
        arch : Architecture
            The VAE's architecture.
        loss : {"l2", "l1"}
            Training loss.
        n_filters : int, optional
            Width (default: the VAE's ``n_filters``).

        Returns
        -------
        DirectSpec
        """
        width = arch.n_filters if n_filters is None else int(n_filters)
        if width < 1:
            raise ValueError(f"direct_filters must be at least 1, got {n_filters}")
        return cls(width, [bool(d) for d in arch.downsample], parse_loss(loss).value)

    def build(self) -> DirectUNet:
        """A new, randomly initialised U-Net of these sizes (torch's generator decides).

        Returns
        -------
        DirectUNet
        """
        return DirectUNet(self.n_filters, self.downsample)

    def to_dict(self) -> dict:
        """JSON-serialisable copy."""
        return asdict(self)


def parse_loss(value) -> DirectLoss:
    """``value`` as a :class:`DirectLoss`, or a ValueError naming the choices.

    Parameters
    ----------
    value : str
        "l2" or "l1" (any case).

    Returns
    -------
    DirectLoss
    """
    try:
        return DirectLoss(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(m.value for m in DirectLoss)
        raise ValueError(f"unknown direct_loss {value!r}: expected one of {choices}") from None


def direct_loss(pred: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """The direct denoiser's loss, in float32, against a detached target.

    Parameters
    ----------
    pred : torch.Tensor
        The direct denoiser's output.
    target : torch.Tensor
        The signal decoder's output for a posterior sample (detached here).
    loss : {"l2", "l1"}
        Which loss.

    Returns
    -------
    torch.Tensor
        A scalar, the mean over pixels.
    """
    pred32, target32 = pred.float(), target.detach().float()
    if parse_loss(loss) is DirectLoss.L1:
        return F.l1_loss(pred32, target32)
    return F.mse_loss(pred32, target32)
