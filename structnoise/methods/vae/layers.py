"""Building blocks of the ladder VAE (:mod:`structnoise.methods.ladder`).

The residual block with its gate, the merge of two feature maps, the stochastic layer
(``NormalLayer``) and the upsampling of a top-down level, with the options that choose
between the project's defaults, the DVLAE authors' network and HDN's network (see the
documentation of :mod:`structnoise.methods.ladder`).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

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
