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

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from structnoise.methods.dvlae.ar_decoder import ARDecoder
from structnoise.methods.ladder import LadderVAE


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
    """

    n_filters: int = 64
    z_dims: list[int] = field(default_factory=lambda: [32] * 6)
    downsample: list[bool] = field(default_factory=lambda: [True] * 6)
    ar_filters: int = 64
    sd_filters: int = 64
    sd_layers: int = 4
    rf: int = 40
    axis: str = "horizontal"
    n_gaussians: int = 3
    scale_floor: float = 1e-3

    def to_dict(self) -> dict:
        """JSON-serialisable copy."""
        return asdict(self)


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
    """

    def __init__(
        self, in_channels: int, n_filters: int, n_layers: int = 4, out_channels: int = 1
    ) -> None:
        super().__init__()
        if n_layers < 2:
            raise ValueError(f"the signal decoder needs at least 2 layers, got {n_layers}")
        layers: list[nn.Module] = []
        c = in_channels
        for i in range(n_layers):
            last = i == n_layers - 1
            c_out = out_channels if last else n_filters
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
            return self.net[-1](h.float())


@dataclass
class Losses:
    """The terms of one training step (tensors, per pixel)."""

    nll: torch.Tensor
    kl: torch.Tensor
    kl_levels: torch.Tensor
    sd: torch.Tensor
    #: Latent variables per input pixel at each level (for free bits per latent).
    latents_per_pixel: torch.Tensor | None = None

    @property
    def elbo(self) -> torch.Tensor:
        """Negative ELBO per pixel (nats): KL + NLL."""
        return self.kl + self.nll


class DVLAENet(nn.Module):
    """Ladder VAE + AR noise decoder + signal decoder.

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
        )
        self.ar = ARDecoder(
            arch.n_filters,
            rf=arch.rf,
            axis=arch.axis,
            n_filters=arch.ar_filters,
            n_gaussians=arch.n_gaussians,
            scale_floor=arch.scale_floor,
        )
        self.sd = SignalDecoder(arch.n_filters, arch.sd_filters, arch.sd_layers)

    @property
    def multiple(self) -> int:
        """Input sides are padded to a multiple of this inside the encoder."""
        return self.vae.multiple

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
        # always computed in float32.
        kl_levels = torch.stack([k.float().sum() for k in out.kl]) / n_pix
        per_pixel = torch.tensor([k.numel() / n_pix for k in out.kl], device=x.device)
        params = self.ar(x, out.s_code).float()
        x32 = x.float()
        nll = -self.ar.log_likelihood(x32, params).mean()
        s_hat = self.sd(out.s_code.detach())
        sd = F.mse_loss(s_hat.float(), x32)
        return Losses(
            nll=nll, kl=kl_levels.sum(), kl_levels=kl_levels, sd=sd, latents_per_pixel=per_pixel
        )

    def signal(self, x: torch.Tensor, *, use_mean: bool = False) -> torch.Tensor:
        """One denoised estimate (normalised units): encode, then signal-decode.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, 1, H, W)`` normalised noisy images.
        use_mean : bool
            Use the posterior means instead of samples.

        Returns
        -------
        torch.Tensor
            ``(B, 1, H, W)``.
        """
        return self.sd(self.vae(x, use_mean=use_mean).s_code)

    def mmse(self, x: torch.Tensor, n_samples: int, *, chunk: int = 8) -> torch.Tensor:
        """Mean of ``n_samples`` posterior samples of the signal (normalised units).

        The deterministic bottom-up pass runs once per image; the stochastic top-down
        pass and the signal decoder run on ``chunk`` samples at a time.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, 1, H, W)`` normalised noisy images.
        n_samples : int
            Posterior samples to average.
        chunk : int
            Samples per batch (bounded by memory).

        Returns
        -------
        torch.Tensor
            ``(B, 1, H, W)``.
        """
        size = x.shape[-2:]
        outs = []
        for i in range(x.shape[0]):
            bu = self.vae.encode_bottom_up(x[i : i + 1])
            acc = torch.zeros_like(x[i : i + 1])
            done = 0
            while done < n_samples:
                m = min(chunk, n_samples - done)
                bu_m = [f.expand(m, *f.shape[1:]) for f in bu]
                s_code = self.vae.decode_top_down(bu_m, size).s_code
                acc += self.sd(s_code).sum(0, keepdim=True)
                done += m
            outs.append(acc / n_samples)
        return torch.cat(outs)

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


def count_parameters(module: nn.Module) -> int:
    """Number of learnable parameters.

    Parameters
    ----------
    module : torch.nn.Module
        Any module.

    Returns
    -------
    int
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def z_dims_list(z: int | Sequence[int], n_levels: int) -> list[int]:
    """Expand a single latent size to one per level.

    Parameters
    ----------
    z : int or sequence of int
        One size for all levels, or one per level.
    n_levels : int
        Levels.

    Returns
    -------
    list of int
    """
    if isinstance(z, int):
        return [z] * n_levels
    z = [int(v) for v in z]
    if len(z) != n_levels:
        raise ValueError(f"z_dims has {len(z)} entries for {n_levels} levels")
    return z
