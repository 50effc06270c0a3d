"""The autoregressive (AR) noise decoder of DVLAE and its Gaussian-mixture likelihood.

The decoder models ``p(x | s_code)`` pixel by pixel, each pixel conditioned on the latent
code and on the ``rf`` pixels *strictly before it on the same line* (row for
``axis="horizontal"``, column for ``axis="vertical"``). It can therefore model noise that
is correlated along that line, but not the 2-D structure of the signal, which the latent
code has to carry (paper, section 4.1).

Architecture (paper supplement 1.1; details as in the authors' code at ``acbab39``):
8 residual blocks of causal 1-D convolutions with 64 filters. Each block computes
``in_conv(x) + conv1x1(s_code) -> ReLU -> conv1x1``, residual where the channel counts
match; the latent code conditions every block by addition. A causal convolution has a
``(1, k)`` kernel with dilation ``d`` and ``d * (k - 1)`` zeros padded on the left; the
first one masks its last tap, so the current pixel is excluded. A final 1x1 convolution
gives ``3 * n_gaussians`` channels: mixture logits, locations and scales (softplus plus
a floor; the authors' code had no floor and could produce NaNs).

Receptive field: block ``b`` extends it by ``(k_b - 1) * d_b`` pixels, so
``rf = sum_b (k_b - 1) * d_b``. :func:`ar_layout` picks the kernels and dilations:

* ``rf`` a multiple of 10 (the paper's 40): the paper's layout, 4 stages of a dilated and
  an undilated block with stage dilations ``1, 2, 2, 1`` and ``k = rf / 10 + 1``
  (``k = 5`` for 40 pixels, as in the authors' code);
* otherwise: no dilation, ``rf`` spread as evenly as possible over the 8 kernels (blocks
  whose share is 0 get ``k = 1``, a position-wise block), e.g. ``rf = 6`` gives kernels
  ``2, 2, 2, 2, 2, 2, 1, 1``.

Both give a contiguous receptive field of exactly ``rf`` pixels.

Vertical orientation transposes ``x`` and ``s_code`` on the way in and the result on the
way out (the authors rotated by 90 degrees, which is the same up to a flip of the other
axis).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from structnoise.methods.vae.device import at_least_float32
from structnoise.methods.vae.ladder import PointwiseConv2d

#: Blocks of the AR decoder (4 stages x (dilated, undilated)), as in the paper.
N_BLOCKS = 8
_PAPER_DILATIONS = (1, 1, 2, 1, 2, 1, 1, 1)


def ar_layout(rf: int, n_blocks: int = N_BLOCKS) -> list[tuple[int, int]]:
    """Kernel sizes and dilations giving a receptive field of exactly ``rf`` pixels.

    Parameters
    ----------
    rf : int
        Receptive field in pixels (strictly before the current one), at least 1.
    n_blocks : int
        Number of blocks.

    Returns
    -------
    list of (int, int)
        ``(kernel, dilation)`` per block.
    """
    rf = int(rf)
    if rf < 1:
        raise ValueError(f"rf must be at least 1 pixel, got {rf}")
    if n_blocks == N_BLOCKS and rf % 10 == 0:
        k = rf // 10 + 1
        return [(k, d) for d in _PAPER_DILATIONS]
    base, extra = divmod(rf, n_blocks)
    return [(base + (1 if b < extra else 0) + 1, 1) for b in range(n_blocks)]


class CausalConv1d(nn.Module):
    """A ``(1, k)`` convolution along rows that sees only the current and earlier pixels.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels.
    kernel_size : int
        Taps ``k``.
    dilation : int
        Dilation ``d``; the left padding is ``d * (k - 1)``.
    exclude_current : bool
        Mask the last tap (the current pixel): the output depends on strictly earlier
        pixels only. Needs ``k >= 2``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        *,
        exclude_current: bool = False,
    ) -> None:
        super().__init__()
        if exclude_current and kernel_size < 2:
            raise ValueError("a conv excluding the current pixel needs kernel_size >= 2")
        self.kernel_size = int(kernel_size)
        self.dilation = int(dilation)
        self.shift = self.dilation * (self.kernel_size - 1)
        self.exclude_current = exclude_current
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 1, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        mask = torch.ones(1, 1, 1, kernel_size)
        if exclude_current:
            mask[..., -1] = 0.0
        self.register_buffer("mask", mask, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise like ``torch.nn.Conv2d``."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        fan_in = self.weight.shape[1] * self.kernel_size
        bound = 1 / math.sqrt(fan_in)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        w = self.weight * self.mask if self.exclude_current else self.weight
        if self.shift:
            x = F.pad(x, (self.shift, 0))
        return F.conv2d(x, w, self.bias, dilation=(1, self.dilation))


class ARBlock(nn.Module):
    """``in_conv(x) + cond -> ReLU -> conv1x1``, plus ``x`` where the channels match.

    The conditioning term ``conv1x1(s_code)`` is computed once for all blocks by
    :class:`ARDecoder` (one 1x1 convolution with ``8 x filters`` outputs, the same
    parameters as eight separate ones) and passed in.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        *,
        first: bool,
    ) -> None:
        super().__init__()
        self.in_conv = CausalConv1d(
            in_channels, out_channels, kernel_size, dilation, exclude_current=first
        )
        self.out_conv = PointwiseConv2d(out_channels, out_channels)
        self.residual = in_channels == out_channels

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = self.out_conv(F.relu(self.in_conv(x) + cond))
        return out + x if self.residual else out


class ARDecoder(nn.Module):
    """Causal 1-D autoregressive decoder with a Gaussian-mixture output.

    Parameters
    ----------
    s_code_channels : int
        Channels of the latent code.
    rf : int
        Receptive field in pixels strictly before the current one (default 40).
    axis : {"horizontal", "vertical"}
        The line the receptive field lies on.
    n_filters : int
        Filters of every block (64 in the paper).
    n_gaussians : int
        Mixture components (3 in the paper for microscopy).
    scale_floor : float
        Smallest mixture scale (in normalised intensity units).
    in_channels : int
        Image channels (1).
    """

    def __init__(
        self,
        s_code_channels: int,
        *,
        rf: int = 40,
        axis: Literal["horizontal", "vertical"] = "horizontal",
        n_filters: int = 64,
        n_gaussians: int = 3,
        scale_floor: float = 1e-3,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        if axis not in ("horizontal", "vertical"):
            raise ValueError(f"unknown axis {axis!r}: expected 'horizontal' or 'vertical'")
        if n_gaussians < 1:
            raise ValueError(f"n_gaussians must be at least 1, got {n_gaussians}")
        self.rf = int(rf)
        self.axis = axis
        self.n_filters = int(n_filters)
        self.n_gaussians = int(n_gaussians)
        self.scale_floor = float(scale_floor)
        self.in_channels = int(in_channels)
        self.layout = ar_layout(self.rf)
        self.blocks = nn.ModuleList(
            ARBlock(in_channels if b == 0 else n_filters, n_filters, k, d, first=(b == 0))
            for b, (k, d) in enumerate(self.layout)
        )
        self.cond = PointwiseConv2d(s_code_channels, len(self.layout) * n_filters)
        self.out = PointwiseConv2d(n_filters, 3 * n_gaussians * in_channels)

    def _orient(self, t: torch.Tensor) -> torch.Tensor:
        return t.transpose(-1, -2) if self.axis == "vertical" else t

    def forward_rows(self, x: torch.Tensor, s_code: torch.Tensor) -> torch.Tensor:
        """Mixture parameters with the line along the last axis (no transposition).

        Parameters
        ----------
        x : torch.Tensor
            ``(B, C_in, H, W)`` image, lines along ``W``.
        s_code : torch.Tensor
            ``(B, C, H, W)`` latent code.

        Returns
        -------
        torch.Tensor
            ``(B, 3 * n_gaussians * C_in, H, W)``.
        """
        conds = self.cond(s_code).chunk(len(self.blocks), dim=1)
        h = x
        for block, c in zip(self.blocks, conds, strict=True):
            h = block(h, c)
        # mixture parameters in float32 even under bfloat16 autocast
        with torch.autocast(h.device.type, enabled=False):
            return self.out(at_least_float32(h))

    def forward(self, x: torch.Tensor, s_code: torch.Tensor) -> torch.Tensor:
        """Mixture parameters for every pixel of ``x`` given ``s_code``.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, C_in, H, W)`` normalised image.
        s_code : torch.Tensor
            ``(B, C, H, W)`` latent code.

        Returns
        -------
        torch.Tensor
            ``(B, 3 * n_gaussians * C_in, H, W)``: logits, locations, raw scales.
        """
        return self._orient(self.forward_rows(self._orient(x), self._orient(s_code)))

    # ------------------------------------------------------------------ likelihood
    def split_params(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(log_weights, loc, scale)``, each ``(B, C_in, K, H, W)``.

        Parameters
        ----------
        params : torch.Tensor
            Output of :meth:`forward`.

        Returns
        -------
        tuple of torch.Tensor
        """
        b, _, h, w = params.shape
        p = params.view(b, self.in_channels, 3, self.n_gaussians, h, w)
        log_w = F.log_softmax(p[:, :, 0], dim=2)
        loc = p[:, :, 1]
        scale = F.softplus(p[:, :, 2]) + self.scale_floor
        return log_w, loc, scale

    def log_likelihood(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Per-pixel log-likelihood of ``x`` under the mixture.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, C_in, H, W)``.
        params : torch.Tensor
            Output of :meth:`forward` for the same ``x``.

        Returns
        -------
        torch.Tensor
            ``(B, C_in, H, W)`` log-densities (nats).
        """
        log_w, loc, scale = self.split_params(params)
        z = (x.unsqueeze(2) - loc) / scale
        comp = -0.5 * z * z - torch.log(scale) - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(log_w + comp, dim=2)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(self, s_code: torch.Tensor, *, generator: torch.Generator | None = None):
        """Draw an image from ``p(x | s_code)``, pixel by pixel along the line.

        All lines (and images) are sampled in parallel; the pixels of a line are drawn in
        order, each from the decoder evaluated on the ``rf + 1`` most recent columns,
        which is exact because nothing outside that window can reach the current output.

        Parameters
        ----------
        s_code : torch.Tensor
            ``(B, C, H, W)`` latent code.
        generator : torch.Generator, optional
            Random generator on ``s_code``'s device.

        Returns
        -------
        torch.Tensor
            ``(B, C_in, H, W)`` sampled image (normalised units).
        """
        s_rows = self._orient(s_code)
        b, _, h, w = s_rows.shape
        x = s_rows.new_zeros(b, self.in_channels, h, w)
        win = self.rf + 1
        for j in range(w):
            j0 = max(0, j + 1 - win)
            params = self.forward_rows(x[..., j0 : j + 1], s_rows[..., j0 : j + 1])
            log_w, loc, scale = self.split_params(params[..., -1:])
            # log_w etc: (B, C_in, K, H, 1)
            u = torch.rand(log_w.shape, device=x.device, generator=generator, dtype=x.dtype)
            # Gumbel-max draw of the component: -log(u) is Exp(1), -log of that Gumbel.
            # (Written as -torch.log(...).clamp_min(...) the minus applied after the clamp,
            # made every Gumbel value NaN and argmax always picked component 0.)
            expo = -torch.log(u.clamp_min(1e-20))
            gumbel = -torch.log(expo.clamp_min(1e-20))
            k = torch.argmax(log_w + gumbel, dim=2, keepdim=True)
            mu = torch.gather(loc, 2, k).squeeze(2)
            sd = torch.gather(scale, 2, k).squeeze(2)
            eps = torch.randn(mu.shape, device=x.device, generator=generator, dtype=x.dtype)
            x[..., j : j + 1] = mu + sd * eps
        return self._orient(x)
