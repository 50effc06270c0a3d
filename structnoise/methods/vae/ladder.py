"""The hierarchical (ladder) VAE encoder shared by DVLAE and HDN, and its building blocks.

Architecture (paper supplement 1.1; details as in the authors' DVLAE code):

* stem: 5x5 conv (replicate padding) -> Mish -> residual block;
* per level ``i`` (0 = highest resolution): one bottom-up residual block, preceded by a
  3x3 stride-2 conv where the level downsamples;
* top-down, from the top level down: a stochastic layer (q from merging the bottom-up
  features with the top-down features, p from the top-down features; the top prior is a
  learnt, zero-initialised tensor), a stochastic skip connection merging z with the
  features from above, and a top-down residual block (nearest x2 upsampling + 1x1 conv
  first where the level upsamples);
* a final top-down residual block gives the *s_code*: the full-resolution deterministic
  output that both decoders read (it depends on every level).

A residual block is 2 x (BatchNorm -> Mish -> 3x3 conv) followed by a gate (1x1 conv to
2C channels, ``tanh(a) * sigmoid(b)``) and added to its input.

Two options choose between our defaults and the authors' network (``acbab39``):

* ``gated_stem``: the stem's residual block has the gate (default) or not (the authors'
  first block has none: ``C * 2C + 2C`` parameters fewer);
* ``top_prior_size``: None (default) makes the top prior one learnt vector broadcast over
  space, which does not tie the model to a crop size; ``(h, w)`` makes it a learnt
  ``(2 z, h, w)`` tensor as in the authors' code, where ``(h, w)`` is the top level of the
  training crop (``ceil(crop / multiple)``). On an input whose top level has another size
  the tensor is repeated periodically (and cropped) to cover it: the KL of the top level
  is then defined at any size (the authors' code can only compute it at the training
  size). Denoising never reads the prior: z is drawn from q, which comes from the
  bottom-up features, so predictions on larger images are not affected by it.

``NormalLayer.std_floor`` (1e-6) is added to every softplus standard deviation; the
authors' code has none (the equivalence check against their code sets it to 0).

Options for HDN's network (juglab/HDN), all off by default (the defaults build the network
above, with unchanged state dicts): ``activation="elu"`` (stem and residual blocks),
``gate_activation="elu"`` (``elu(a) * sigmoid(b)``), ``upsample="transposed"`` (a 3x3
stride-2 transposed convolution instead of nearest x2 + 1x1 conv), ``std_param="exp"``
(``std = exp(s / 2)``, ``s`` a log-variance, instead of ``softplus(s)``), ``final_blocks``
(residual blocks of the final top-down block; HDN: as many as per level) and
``padding_mode="zeros"`` (the stem, the downsampling and the stochastic layers' convolutions).

``uncond_levels`` makes q equal p at those levels (HDN_{3-6} in the HDN paper: the
posterior at the two highest-resolution levels is replaced by the prior, so those
latents carry no information about the input and their KL is exactly zero).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

# ------------------------------------------------------------------------- building blocks
#: Non-linearities of the stem and the residual blocks.
ACTIVATIONS = {"mish": nn.Mish, "elu": nn.ELU}
#: Non-linearities of the gate's first half.
GATE_ACTIVATIONS = {"tanh": torch.tanh, "elu": F.elu}
#: How a top-down level upsamples.
UPSAMPLE = ("nearest", "transposed")
#: How the stochastic layers map a parameter to a standard deviation.
STD_PARAMS = ("softplus", "exp")
#: Padding of the stem, the downsampling and the stochastic layers' convolutions.
PADDING_MODES = ("replicate", "zeros")


class PointwiseConv2d(nn.Conv2d):
    """A 1x1 convolution that runs as a matrix product on channels-last CPU tensors.

    The same module, parameters and state dict as ``nn.Conv2d(c_in, c_out, 1)``. On a
    CPU, torch sends a 1x1 convolution of a channels-last tensor through a slow path
    that first copies the input to the contiguous layout; a channels-last tensor is a
    ``(B, H, W, C)`` array in memory, so the convolution is ``F.linear`` on that view
    (no copy). Every other input takes ``nn.Conv2d``'s path.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if (
            x.device.type == "cpu"
            and x.dim() == 4
            and x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous()
        ):
            w = self.weight.reshape(self.out_channels, self.in_channels)
            return F.linear(x.permute(0, 2, 3, 1), w, self.bias).permute(0, 3, 1, 2)
        return super().forward(x)


def _choice(name: str, value: str, choices) -> str:
    """``value`` if it is one of ``choices``, else a ValueError naming them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}: expected one of {', '.join(choices)}")
    return value


class Gate(nn.Module):
    """``act(a) * sigmoid(b)`` of a 1x1 conv doubling the channels (``act``: tanh or ELU)."""

    def __init__(self, channels: int, activation: Literal["tanh", "elu"] = "tanh") -> None:
        super().__init__()
        self.conv = PointwiseConv2d(channels, 2 * channels)
        self.act = GATE_ACTIVATIONS[_choice("gate_activation", activation, GATE_ACTIVATIONS)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        a, b = self.conv(x).chunk(2, dim=1)
        return self.act(a) * torch.sigmoid(b)


class ResBlock(nn.Module):
    """2 x (BatchNorm -> Mish/ELU -> 3x3 conv [-> Dropout2d]) -> gate, added to the input."""

    def __init__(
        self,
        channels: int,
        *,
        batchnorm: bool = True,
        gated: bool = True,
        dropout: float = 0.0,
        activation: Literal["mish", "elu"] = "mish",
        gate_activation: Literal["tanh", "elu"] = "tanh",
    ) -> None:
        super().__init__()
        act = ACTIVATIONS[_choice("activation", activation, ACTIVATIONS)]
        layers: list[nn.Module] = []
        for _ in range(2):
            if batchnorm:
                layers.append(nn.BatchNorm2d(channels))
            layers += [act(), nn.Conv2d(channels, channels, 3, padding=1)]
            if dropout > 0:
                layers.append(nn.Dropout2d(dropout))
        if gated:
            layers.append(Gate(channels, gate_activation))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x + self.body(x)


class Merge(nn.Module):
    """Concatenate two feature maps -> 1x1 conv -> gated residual block."""

    def __init__(
        self,
        channels: int,
        *,
        batchnorm: bool = True,
        dropout: float = 0.0,
        activation: Literal["mish", "elu"] = "mish",
        gate_activation: Literal["tanh", "elu"] = "tanh",
    ) -> None:
        super().__init__()
        self.conv = PointwiseConv2d(2 * channels, channels)
        self.res = ResBlock(
            channels,
            batchnorm=batchnorm,
            gated=True,
            dropout=dropout,
            activation=activation,
            gate_activation=gate_activation,
        )

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.res(self.conv(torch.cat([a, b], dim=1)))


class NormalLayer(nn.Module):
    """Gaussian q and p from features (3x3 convs, softplus std); z -> features.

    Parameters
    ----------
    channels : int
        Feature channels.
    z_dim : int
        Latent channels.
    top : bool
        The top level has no ``p`` head: its prior parameters are given.
    std_param : {"softplus", "exp"}
        ``std = softplus(s) + 1e-6``, or ``exp(s / 2)`` (``s`` a log-variance, HDN's code).
    padding_mode : {"replicate", "zeros"}
        Padding of the three convolutions.
    """

    #: Added to every softplus standard deviation (numerical safety; 0 in the authors' code).
    std_floor: float = 1e-6

    def __init__(
        self,
        channels: int,
        z_dim: int,
        *,
        top: bool = False,
        std_param: Literal["softplus", "exp"] = "softplus",
        padding_mode: Literal["replicate", "zeros"] = "replicate",
    ) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.std_param = _choice("std_param", std_param, STD_PARAMS)
        pad = _choice("padding_mode", padding_mode, PADDING_MODES)
        self.q_head = nn.Conv2d(channels, 2 * z_dim, 3, padding=1, padding_mode=pad)
        self.p_head = (
            None if top else nn.Conv2d(channels, 2 * z_dim, 3, padding=1, padding_mode=pad)
        )
        self.out = nn.Conv2d(z_dim, channels, 3, padding=1, padding_mode=pad)

    def _normal(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, s = params.chunk(2, dim=1)
        if self.std_param == "exp":
            return mu, torch.exp(0.5 * s)
        return mu, F.softplus(s) + self.std_floor

    def forward(
        self,
        p_in: torch.Tensor,
        q_in: torch.Tensor | None,
        *,
        use_mean: bool,
        with_kl: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Sample z (from q when given, else from p) and return features and KL.

        Parameters
        ----------
        p_in : torch.Tensor
            Features the prior is computed from (the prior's parameters at the top).
        q_in : torch.Tensor or None
            Features the posterior is computed from; None samples from the prior.
        use_mean : bool
            Take the mean instead of a sample.
        with_kl : bool
            Compute the KL. Without it (prediction) the prior is not evaluated when z
            comes from q: its head is skipped, which changes nothing else (it draws no
            random numbers).

        Returns
        -------
        features : torch.Tensor
            ``out(z)``.
        kl : torch.Tensor or None
            Elementwise analytic KL(q || p); None when sampling from p or without
            ``with_kl``.
        """
        kl = None
        if q_in is None:
            mu, std = self._normal(p_in if self.p_head is None else self.p_head(p_in))
        else:
            mu, std = self._normal(self.q_head(q_in))
            if with_kl:
                p_mu, p_std = self._normal(p_in if self.p_head is None else self.p_head(p_in))
                kl = torch.log(p_std / std) + (std**2 + (mu - p_mu) ** 2) / (2 * p_std**2) - 0.5
        z = mu if use_mean else mu + std * torch.randn_like(mu)
        return self.out(z), kl


def _upsampling(channels: int, how: str) -> list[nn.Module]:
    """The layers that double the resolution at the start of a top-down level."""
    if how == "transposed":  # HDN: a 3x3 stride-2 transposed convolution
        return [nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, output_padding=1)]
    return [nn.Upsample(scale_factor=2, mode="nearest"), PointwiseConv2d(channels, channels)]


# ------------------------------------------------------------------------- the ladder
@dataclass
class LadderOutput:
    """What the ladder VAE returns.

    Attributes
    ----------
    s_code : torch.Tensor
        ``(B, C, H, W)`` full-resolution code read by the decoders (cropped to the input).
    kl : list of torch.Tensor
        Per level (0 = highest resolution), elementwise KL ``(B, z, h, w)``; zeros at
        unconditional levels; empty when the pass ran without the KL (prediction).
    """

    s_code: torch.Tensor
    kl: list[torch.Tensor]

    def kl_per_level(self) -> torch.Tensor:
        """``(levels,)`` KL summed over everything but the level (nats)."""
        return torch.stack([k.sum() for k in self.kl])


class LadderVAE(nn.Module):
    """Hierarchical VAE encoder with a full-resolution deterministic output (s_code).

    Parameters
    ----------
    in_channels : int
        Image channels.
    n_filters : int
        Feature channels ``C`` everywhere.
    z_dims : sequence of int
        Latent channels per level, bottom (highest resolution) first.
    downsample : sequence of bool
        Whether each level halves the resolution (one entry per level).
    s_code_channels : int, optional
        Channels of the output code (default ``n_filters``).
    uncond_levels : sequence of int
        Levels whose posterior is replaced by the prior (q = p, no KL).
    batchnorm : bool
        Use BatchNorm in residual blocks.
    dropout : float
        ``Dropout2d`` rate after every 3x3 conv of the residual blocks (HDN uses 0.2;
        0 adds no module, so state dicts stay as without the option).
    blocks_per_level : int
        Residual blocks per level in the bottom-up and the top-down path (HDN uses 5; the
        stem keeps one).
    gated_stem : bool
        Whether the stem's residual block has a gate (False in the authors' DVLAE code).
    top_prior_size : (int, int), optional
        None: the top prior is one learnt vector; ``(h, w)``: a learnt ``(2 z, h, w)``
        tensor (the authors' code), repeated periodically on other sizes (see the module
        documentation).
    activation : {"mish", "elu"}
        Non-linearity of the stem and the residual blocks (HDN: ELU).
    gate_activation : {"tanh", "elu"}
        Non-linearity of the gate's first half (HDN: ELU, its block non-linearity).
    upsample : {"nearest", "transposed"}
        Where a top-down level upsamples: nearest x2 + 1x1 conv, or a 3x3 stride-2
        transposed convolution (HDN).
    std_param : {"softplus", "exp"}
        Standard deviations of q and p: ``softplus(s)``, or ``exp(s / 2)`` (HDN).
    final_blocks : int
        Residual blocks of the final top-down block (HDN: ``blocks_per_level``).
    padding_mode : {"replicate", "zeros"}
        Padding of the stem's 5x5, the downsampling 3x3 and the stochastic layers'
        convolutions (HDN: zeros; the residual blocks always pad with zeros).
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        n_filters: int = 64,
        z_dims: Sequence[int] = (32,) * 6,
        downsample: Sequence[bool] | None = None,
        s_code_channels: int | None = None,
        uncond_levels: Sequence[int] = (),
        batchnorm: bool = True,
        dropout: float = 0.0,
        blocks_per_level: int = 1,
        gated_stem: bool = True,
        top_prior_size: Sequence[int] | None = None,
        activation: Literal["mish", "elu"] = "mish",
        gate_activation: Literal["tanh", "elu"] = "tanh",
        upsample: Literal["nearest", "transposed"] = "nearest",
        std_param: Literal["softplus", "exp"] = "softplus",
        final_blocks: int = 1,
        padding_mode: Literal["replicate", "zeros"] = "replicate",
    ) -> None:
        super().__init__()
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if int(blocks_per_level) < 1:
            raise ValueError(f"blocks_per_level must be >= 1, got {blocks_per_level}")
        if int(final_blocks) < 1:
            raise ValueError(f"final_blocks must be >= 1, got {final_blocks}")
        nb = int(blocks_per_level)
        act = ACTIVATIONS[_choice("activation", activation, ACTIVATIONS)]
        pad = _choice("padding_mode", padding_mode, PADDING_MODES)
        _choice("upsample", upsample, UPSAMPLE)
        z_dims = [int(z) for z in z_dims]
        downsample = [True] * len(z_dims) if downsample is None else [bool(d) for d in downsample]
        if len(downsample) != len(z_dims):
            raise ValueError("downsample needs one entry per level (len(z_dims))")
        self.z_dims = z_dims
        self.downsample = downsample
        self.n_levels = len(z_dims)
        self.uncond_levels = sorted(set(int(i) for i in uncond_levels))
        if any(i < 0 or i >= self.n_levels for i in self.uncond_levels):
            raise ValueError(f"uncond_levels {self.uncond_levels} outside 0..{self.n_levels - 1}")
        if self.n_levels - 1 in self.uncond_levels:
            raise ValueError("the top level cannot be unconditional")
        c = n_filters
        rb = {
            "batchnorm": batchnorm,
            "dropout": float(dropout),
            "activation": activation,
            "gate_activation": gate_activation,
        }
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c, 5, padding=2, padding_mode=pad),
            act(),
            ResBlock(c, gated=bool(gated_stem), **rb),
        )
        self.bottom_up = nn.ModuleList(
            nn.Sequential(
                *([nn.Conv2d(c, c, 3, stride=2, padding=1, padding_mode=pad)] if down else []),
                *(ResBlock(c, **rb) for _ in range(nb)),
            )
            for down in downsample
        )
        top = self.n_levels - 1
        self.stochastic = nn.ModuleList(
            NormalLayer(c, z, top=(i == top), std_param=std_param, padding_mode=pad)
            for i, z in enumerate(z_dims)
        )
        self.q_merge = nn.ModuleList(
            nn.Identity() if i == top else Merge(c, **rb) for i in range(self.n_levels)
        )
        self.skip_merge = nn.ModuleList(
            nn.Identity() if i == top else Merge(c, **rb) for i in range(self.n_levels)
        )
        self.top_down = nn.ModuleList(
            nn.Sequential(
                *(_upsampling(c, upsample) if down else []),
                *(ResBlock(c, **rb) for _ in range(nb)),
            )
            for down in downsample
        )
        ph, pw = (1, 1) if top_prior_size is None else (int(v) for v in top_prior_size)
        if ph < 1 or pw < 1:
            raise ValueError(f"top_prior_size must be positive, got {top_prior_size}")
        self.top_prior = nn.Parameter(torch.zeros(1, 2 * z_dims[-1], ph, pw))
        out_c = s_code_channels or c
        self.final = nn.Sequential(
            *(ResBlock(c, **rb) for _ in range(int(final_blocks))),
            *([PointwiseConv2d(c, out_c)] if out_c != c else []),
        )
        self.s_code_channels = out_c

    @property
    def multiple(self) -> int:
        """Input sides are padded to a multiple of this (2 ** number of downsamplings)."""
        return 2 ** sum(self.downsample)

    def forward(
        self,
        x: torch.Tensor,
        *,
        use_mean: bool = False,
        mean_levels: Sequence[int] = (),
        with_kl: bool = True,
    ) -> LadderOutput:
        """Encode ``x`` and run the top-down pass.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, C_in, H, W)``; padded internally (replicate) to a multiple of
            :attr:`multiple` and cropped back.
        use_mean : bool
            Use the mean of every distribution instead of sampling (the mean-latent
            prediction; unconditional levels then use the prior mean).
        mean_levels : sequence of int
            Levels that use the mean of their distribution while the others sample
            (HDN_{3-6} predicts with the prior mean at its unconditional levels).
        with_kl : bool
            Compute the KL terms (False for prediction: see :meth:`decode_top_down`).

        Returns
        -------
        LadderOutput
        """
        bu = self.encode_bottom_up(x)
        return self.decode_top_down(
            bu, x.shape[-2:], use_mean=use_mean, mean_levels=mean_levels, with_kl=with_kl
        )

    def encode_bottom_up(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The deterministic bottom-up pass (the same for every posterior sample).

        Parameters
        ----------
        x : torch.Tensor
            ``(B, C_in, H, W)``; padded internally (replicate) to a multiple of
            :attr:`multiple`.

        Returns
        -------
        list of torch.Tensor
            Features per level (0 = highest resolution), for :meth:`decode_top_down`. They may
            be repeated along the batch axis to draw several samples per image.
        """
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        feats = self.stem(x)
        bu: list[torch.Tensor] = []
        for block in self.bottom_up:
            feats = block(feats)
            bu.append(feats)
        return bu

    def _top_prior_like(self, top: torch.Tensor) -> torch.Tensor:
        """The top prior's parameters over the batch and spatial size of ``top``."""
        prior = self.top_prior
        h, w = top.shape[-2:]
        ph, pw = prior.shape[-2:]
        if (ph, pw) != (1, 1) and (ph, pw) != (h, w):
            # a spatial prior on another size: repeat it periodically and crop
            prior = prior.repeat(1, 1, -(-h // ph), -(-w // pw))[..., :h, :w]
        return prior.expand(top.shape[0], -1, h, w)

    def decode_top_down(
        self,
        bu: Sequence[torch.Tensor],
        size: Sequence[int],
        *,
        use_mean: bool = False,
        mean_levels: Sequence[int] = (),
        with_kl: bool = True,
    ) -> LadderOutput:
        """The stochastic top-down pass from bottom-up features.

        Parameters
        ----------
        bu : sequence of torch.Tensor
            The output of :meth:`encode_bottom_up`.
        size : (int, int)
            ``(H, W)`` of the unpadded input (the s_code is cropped to it).
        use_mean : bool
            Use distribution means instead of samples.
        mean_levels : sequence of int
            Levels that use their distribution's mean even when ``use_mean`` is False.
        with_kl : bool
            Compute the KL terms. False (prediction) skips the prior heads where z comes
            from q and returns an empty ``kl`` list; the s_code is the same.

        Returns
        -------
        LadderOutput
        """
        h, w = int(size[0]), int(size[1])
        kl: list[torch.Tensor | None] = [None] * self.n_levels
        out: torch.Tensor | None = None
        for i in reversed(range(self.n_levels)):
            layer = self.stochastic[i]
            if i == self.n_levels - 1:
                p_in = self._top_prior_like(bu[i])
                q_in = bu[i]
            else:
                p_in = out
                q_in = None if i in self.uncond_levels else self.q_merge[i](bu[i], out)
            z_feat, kl_i = layer(p_in, q_in, use_mean=use_mean or i in mean_levels, with_kl=with_kl)
            if kl_i is None and with_kl:
                b, _, zh, zw = z_feat.shape
                kl_i = z_feat.new_zeros(b, self.z_dims[i], zh, zw)
            kl[i] = kl_i
            if i != self.n_levels - 1:
                z_feat = self.skip_merge[i](z_feat, out)
            out = self.top_down[i](z_feat)
        s_code = self.final(out)[..., :h, :w]
        return LadderOutput(s_code=s_code, kl=kl if with_kl else [])  # type: ignore[arg-type]
