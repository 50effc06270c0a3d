"""The DVLAE network: ladder VAE encoder, AR noise decoder and signal decoder.

``DVLAENet`` is a plain ``torch.nn.Module`` (no Lightning), so that it can be used, saved
(state dict) and timed on its own. Losses (paper, section 4 and the authors' code):

* ELBO loss = KL + mean negative log-likelihood of the AR decoder, both per pixel: the
  KL summed over all levels and latent channels divided by the number of input pixels
  ``B * C_in * H * W`` (the authors' normalisation);
* signal-decoder loss = MSE between the signal decoder's output on the *detached*
  ``s_code`` and the (normalised) noisy input (Noise2Noise, eq. 8); no gradient from it
  reaches the encoder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from structnoise.methods.dvlae.ar_decoder import ARDecoder
from structnoise.methods.vae.device import at_least_float32
from structnoise.methods.vae.ladder import LadderVAE
from structnoise.methods.vae.network import LadderSignalNet

__all__ = ["Architecture", "DVLAENet", "Losses", "SignalDecoder"]


@dataclass
class Architecture:
    """Every size of the network (what the presets differ in).

    Attributes
    ----------
    n_filters : int
        Feature channels ``C`` of the ladder VAE (also the s_code's channels).
    z_dims : list of int
        Latent channels per level, bottom first.
    downsample : list of bool
        Whether each level halves the resolution.
    ar_filters : int
        Filters of the AR decoder (64 in the paper).
    sd_filters : int
        Filters of the signal decoder's hidden layers.
    sd_layers : int
        Convolutions of the signal decoder (4 in the paper).
    rf : int
        AR receptive field in pixels.
    axis : str
        ``"horizontal"`` or ``"vertical"``.
    n_gaussians : int
        Mixture components of the AR likelihood.
    scale_floor : float
        Smallest mixture scale (normalised units).
    gated_stem : bool
        Whether the encoder stem's residual block has a gate (True; the authors' code
        has none there).
    top_prior : {"vector", "spatial"}
        The top level's learnt prior: one vector broadcast over space (ours), or a
        spatial tensor sized for the training crop (the authors' code; see
        :class:`~structnoise.methods.vae.ladder.LadderVAE` for other sizes).
    prior_crop : int or None
        Side of the training crop a spatial prior is sized for: its spatial size is
        ``ceil(prior_crop / 2 ** downsamplings)`` (the top level of that crop, as the
        authors size it). Required by ``top_prior="spatial"``.
    shared_sd_middle : bool
        Whether the signal decoder's middle convolutions share one set of weights (the
        authors' code at ``acbab39``, a list-multiplication slip) or not (ours).
    """

    n_filters: int = 64
    z_dims: list[int] = field(default_factory=lambda: [32] * 6)
    downsample: list[bool] = field(default_factory=lambda: [True] * 6)
    ar_filters: int = 64
    sd_filters: int = 64
    sd_layers: int = 4
    rf: int = 40
    axis: Literal["horizontal", "vertical"] = "horizontal"
    n_gaussians: int = 3
    scale_floor: float = 1e-3
    gated_stem: bool = True
    top_prior: Literal["vector", "spatial"] = "vector"
    prior_crop: int | None = None
    shared_sd_middle: bool = False

    def to_dict(self) -> dict:
        """JSON-serialisable copy."""
        return asdict(self)

    def top_prior_size(self) -> tuple[int, int] | None:
        """Spatial size of the top prior (None for a vector prior).

        Returns
        -------
        (int, int) or None
        """
        if self.top_prior == "vector":
            return None
        if self.top_prior != "spatial":
            raise ValueError(f"top_prior must be 'vector' or 'spatial', got {self.top_prior!r}")
        if self.prior_crop is None or int(self.prior_crop) < 1:
            raise ValueError("a spatial top prior needs prior_crop (the training crop side)")
        m = 2 ** sum(bool(d) for d in self.downsample)
        side = -(-int(self.prior_crop) // m)
        return side, side


class SignalDecoder(nn.Module):
    """``n_layers`` 3x3 convolutions (reflect padding) with ReLU between: s_code -> image.

    Parameters
    ----------
    in_channels : int
        Channels of the s_code.
    n_filters : int
        Hidden channels.
    n_layers : int
        Number of convolutions (at least 2).
    out_channels : int
        Image channels.
    shared_middle : bool
        One convolution (the same weights) for every middle layer, as in the authors'
        code at ``acbab39``; it appears once among the parameters and under each of its
        positions in the state dict.
    """

    def __init__(
        self,
        in_channels: int,
        n_filters: int,
        n_layers: int = 4,
        out_channels: int = 1,
        *,
        shared_middle: bool = False,
    ) -> None:
        super().__init__()
        if n_layers < 2:
            raise ValueError(f"the signal decoder needs at least 2 layers, got {n_layers}")
        layers: list[nn.Module] = []
        c = in_channels
        middle: nn.Module | None = None
        for i in range(n_layers):
            last = i == n_layers - 1
            c_out = out_channels if last else n_filters
            if shared_middle and 0 < i < n_layers - 1:
                if middle is None:
                    middle = nn.Conv2d(c, c_out, 3, padding=1, padding_mode="reflect")
                layers.append(middle)
            else:
                layers.append(nn.Conv2d(c, c_out, 3, padding=1, padding_mode="reflect"))
            if not last:
                layers.append(nn.ReLU(inplace=True))
            c = c_out
        self.net = nn.Sequential(*layers)

    def forward(self, s_code: torch.Tensor) -> torch.Tensor:  # noqa: D102
        h = self.net[:-1](s_code)
        # the output layer always runs in float32 (the denoised image keeps its precision
        # when the rest runs under bfloat16 autocast)
        with torch.autocast(h.device.type, enabled=False):
            return self.net[-1](at_least_float32(h))


@dataclass
class Losses:
    """The terms of one training step (tensors, per pixel)."""

    nll: torch.Tensor
    kl: torch.Tensor
    kl_levels: torch.Tensor
    sd: torch.Tensor
    #: Latent variables per input pixel at each level (for free bits per latent).
    latents_per_pixel: torch.Tensor | None = None
    #: The signal decoder's output (the direct denoiser's target).
    s_hat: torch.Tensor | None = None

    @property
    def elbo(self) -> torch.Tensor:
        """Negative ELBO per pixel (nats): KL + NLL."""
        return self.kl + self.nll


class DVLAENet(LadderSignalNet):
    """Ladder VAE + AR noise decoder + signal decoder (the signal head).

    Parameters
    ----------
    arch : Architecture
        The sizes.
    """

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        self.vae = LadderVAE(
            in_channels=1,
            n_filters=arch.n_filters,
            z_dims=arch.z_dims,
            downsample=arch.downsample,
            gated_stem=arch.gated_stem,
            top_prior_size=arch.top_prior_size(),
        )
        self.ar = ARDecoder(
            arch.n_filters,
            rf=arch.rf,
            axis=arch.axis,
            n_filters=arch.ar_filters,
            n_gaussians=arch.n_gaussians,
            scale_floor=arch.scale_floor,
        )
        self.sd = SignalDecoder(
            arch.n_filters, arch.sd_filters, arch.sd_layers, shared_middle=arch.shared_sd_middle
        )

    def to_signal(self, s_code: torch.Tensor) -> torch.Tensor:
        """The signal decoder's image from the s_code."""
        return self.sd(s_code)

    def losses(self, x: torch.Tensor) -> Losses:
        """All loss terms for a normalised batch ``x`` ``(B, 1, H, W)``.

        Parameters
        ----------
        x : torch.Tensor
            Normalised noisy crops.

        Returns
        -------
        Losses
        """
        out = self.vae(x)
        n_pix = x.shape[0] * x.shape[1] * x.shape[2] * x.shape[3]
        # Under autocast the convolutions run in reduced precision; the loss terms are
        # always computed in float32 (or float64 for a float64 network).
        kl_levels = torch.stack([at_least_float32(k).sum() for k in out.kl]) / n_pix
        per_pixel = torch.tensor([k.numel() / n_pix for k in out.kl], device=x.device)
        params = at_least_float32(self.ar(x, out.s_code))
        x32 = at_least_float32(x)
        nll = -self.ar.log_likelihood(x32, params).mean()
        s_hat = self.sd(out.s_code.detach())
        sd = F.mse_loss(at_least_float32(s_hat), x32)
        return Losses(
            nll=nll,
            kl=kl_levels.sum(),
            kl_levels=kl_levels,
            sd=sd,
            latents_per_pixel=per_pixel,
            s_hat=s_hat,
        )

    @torch.no_grad()
    def sample_noisy(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Encode ``x`` (sampling z) and draw a new noisy image from the AR decoder.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, 1, H, W)`` normalised noisy images.
        generator : torch.Generator, optional
            For the AR decoder's draws.

        Returns
        -------
        torch.Tensor
            ``(B, 1, H, W)`` in normalised units.
        """
        s_code = self.vae(x).s_code
        return self.ar.sample(s_code, generator=generator)
