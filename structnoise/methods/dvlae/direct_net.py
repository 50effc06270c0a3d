"""DVLAE's direct denoiser: a small U-Net that maps a noisy image to the MMSE estimate.

This module imports only torch, so that it can travel as the architecture source of an
exported model (BioImage Model Zoo ``pytorch_state_dict`` weights) and be compiled with
TorchScript (:func:`torch.jit.script`).

Design (after the authors' later code, COSDD: krulllab/COSDD ``models/unet.py``, whose
direct denoiser is a deterministic copy of the ladder VAE's shape: the VAE's filter
count, one level per VAE level with the same downsampling, one residual block per level;
written anew here):

* a 5x5 stem convolution (replicate padding) to ``n_filters`` channels;
* per level, bottom-up: a 3x3 convolution (stride 2 where the VAE downsamples) and a
  residual block; the output of every level is kept for the skip connection;
* per level, top-down: a 3x3 convolution, nearest-neighbour upsampling (where the level
  downsampled), a 1x1 merge with the level's skip, and a residual block;
* a 1x1 output convolution added to the input (the network learns the correction).

Full resolution thus costs one 5x5 convolution from one channel, a 1x1 merge and one
residual block: about as much as one pass of the signal decoder, the part of a posterior
sample that the MMSE must repeat (measured in ``benchmarks/dvlae_direct.py``).

Inputs of any size are padded (replicate) to a multiple of ``2 ** downsamplings`` and the
output is cropped back. Everything runs in the VAE's normalised units.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DirectUNet", "ResidualBlock"]


class ResidualBlock(nn.Module):
    """``x + conv(act(conv(act(x))))`` with 3x3 convolutions and SiLU activations.

    Parameters
    ----------
    channels : int
        Input and output channels.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="replicate")
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="replicate")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class _Down(nn.Module):
    def __init__(self, channels: int, downsample: bool) -> None:
        super().__init__()
        stride = 2 if downsample else 1
        self.conv = nn.Conv2d(channels, channels, 3, stride=stride, padding=1)
        self.block = ResidualBlock(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.conv(F.silu(x)))


class _Up(nn.Module):
    def __init__(self, channels: int, upsample: bool) -> None:
        super().__init__()
        self.upsample = bool(upsample)
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="replicate")
        self.merge = nn.Conv2d(2 * channels, channels, 1)
        self.block = ResidualBlock(channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.silu(x))
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.block(self.merge(torch.cat([x, skip], dim=1)))


class DirectUNet(nn.Module):
    """U-Net from a noisy image to the denoised one (see the module documentation).

    Parameters
    ----------
    n_filters : int
        Channels of every level.
    downsample : list of bool
        One entry per level: whether it halves the resolution.
    in_channels : int
        Image channels (1).

    Attributes
    ----------
    multiple : int
        Inputs are padded to a multiple of this inside :meth:`forward`.
    """

    def __init__(self, n_filters: int = 32, downsample=(True,) * 6, in_channels: int = 1) -> None:
        super().__init__()
        downsample = [bool(d) for d in downsample]
        if int(n_filters) < 1:
            raise ValueError(f"the direct denoiser needs at least 1 filter, got {n_filters}")
        if not downsample:
            raise ValueError("the direct denoiser needs at least one level")
        c = int(n_filters)
        self.multiple = 2 ** sum(downsample)
        self.stem = nn.Conv2d(in_channels, c, 5, padding=2, padding_mode="replicate")
        self.downs = nn.ModuleList([_Down(c, d) for d in downsample])
        # top-down order: the top level first
        self.ups = nn.ModuleList([_Up(c, d) for d in reversed(downsample)])
        self.head = nn.Conv2d(c, in_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The denoised image.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, C, H, W)`` normalised noisy images, any ``H`` and ``W``.

        Returns
        -------
        torch.Tensor
            ``(B, C, H, W)``.
        """
        h, w = x.shape[-2], x.shape[-1]
        m = self.multiple
        ph = (m - h % m) % m
        pw = (m - w % m) % m
        xp = F.pad(x, [0, pw, 0, ph], mode="replicate") if ph + pw > 0 else x
        feats = self.stem(xp)
        skips = [feats]
        for down in self.downs:
            feats = down(feats)
            skips.append(feats)
        n = len(skips)
        for i, up in enumerate(self.ups):
            feats = up(feats, skips[n - 2 - i])
        out = xp + self.head(F.silu(feats))
        return out[..., :h, :w]
