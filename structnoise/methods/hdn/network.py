"""HDN's network and loss (used by :mod:`structnoise.methods.hdn`).

* :class:`HDNNet`: the project's :class:`~structnoise.methods.vae.ladder.LadderVAE` and a 3x3
  convolution from its s_code to the signal (the location of the noise-model
  likelihood), as ``NoiseModelLikelihood.parameter_net`` in the HDN authors' code.
* :func:`hdn_losses`: the HDN authors' objective (``boilerplate.forward_pass``): mean
  negative log-likelihood per pixel under the noise model, plus the KL divergence of
  every conditioned level with free bits (each sample's KL of each level is clamped from
  below at ``free_bits`` nats, then averaged over the batch, summed over levels) divided
  by the number of pixels.

Deviations from the HDN code, each for a reason:

* HDN_{3-6}: the HDN code computes ``q`` at the unconditional levels with its own
  convolution from the top-down features (a distribution that ignores ``x`` there, but
  differs from ``p``); here ``q`` *is* ``p`` (the DVLAE paper's description: "the
  posterior is replaced by the prior"), so those levels have exactly zero KL and are left
  out of the free-bits term.
* The top prior is one learnt vector broadcast over space (the ladder's choice), so the
  model is not tied to the training crop size; HDN learns a tensor of the top level's
  size for its training crops, which for 64x64 crops and 6 levels is 1x1: the same.
* The stem's residual block is gated (HDN's code: not gated; 8,320 parameters at 64
  filters); inputs are padded (replicate) at the bottom and right to a multiple of 64
  (HDN: zeros, centred), which only matters for sides that are not multiples of 64.
* One batch of 64 crops instead of 8 accumulated "virtual" batches of 8.
* Validation: HDN validates on held-out frames; with ``val=None`` the ``paper`` profile
  holds out 15 % of the images (seeded), the ``quick``/``smoke`` profiles validate on fixed
  crops of the training images (the loss is then a smoothed training loss for the
  learning-rate schedule; a VAE denoiser is fitted to the images it denoises anyway).
* The training stops after the last step (HDN evaluates its "last" weights as well).
* ``min_sigma``: see :mod:`structnoise.methods.hdn.noise` (HDN's 50 is in camera counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from structnoise.methods.vae.ladder import LadderOutput, LadderVAE
from structnoise.methods.vae.network import LadderSignalNet


class HDNNet(LadderSignalNet):
    """Ladder VAE + signal head (HDN's generative model without the noise model).

    Parameters
    ----------
    n_filters : int
        Feature channels.
    z_dims : sequence of int
        Latent channels per level (bottom first).
    uncond_levels : sequence of int
        Levels whose posterior is the prior (HDN_{3-6}: ``[0, 1]``).
    dropout : float
        Dropout2d rate in the residual blocks.
    blocks_per_level : int
        Residual blocks per level and path.
    activation, gate_activation, upsample, std_param, final_blocks : optional
        The ladder's architecture options (see
        :class:`~structnoise.methods.vae.ladder.LadderVAE`; the defaults are the shared ladder,
        HDN's code is ``"elu"``, ``"elu"``, ``"transposed"``, ``"exp"``,
        ``blocks_per_level``).
    padding_mode : {"replicate", "zeros"}
        Padding of the ladder's stem, downsampling and stochastic convolutions and of the
        head (HDN: zeros).
    """

    def __init__(
        self,
        *,
        n_filters: int,
        z_dims: Sequence[int],
        uncond_levels: Sequence[int] = (),
        dropout: float = 0.0,
        blocks_per_level: int = 1,
        activation: str = "mish",
        gate_activation: str = "tanh",
        upsample: str = "nearest",
        std_param: str = "softplus",
        final_blocks: int = 1,
        padding_mode: str = "replicate",
    ) -> None:
        super().__init__()
        self.vae = LadderVAE(
            n_filters=n_filters,
            z_dims=z_dims,
            uncond_levels=uncond_levels,
            dropout=dropout,
            blocks_per_level=blocks_per_level,
            activation=activation,
            gate_activation=gate_activation,
            upsample=upsample,
            std_param=std_param,
            final_blocks=final_blocks,
            padding_mode=padding_mode,
        )
        self.head = nn.Conv2d(n_filters, 1, 3, padding=1, padding_mode=padding_mode)

    @property
    def uncond_levels(self) -> list[int]:
        """Levels that take the prior."""
        return list(self.vae.uncond_levels)

    def to_signal(self, s_code: torch.Tensor) -> torch.Tensor:
        """The signal from the s_code (one 3x3 convolution)."""
        return self.head(s_code)

    def forward(
        self, x: torch.Tensor, *, use_mean: bool = False, mean_levels: Sequence[int] = ()
    ) -> tuple[torch.Tensor, LadderOutput]:
        """Signal (normalised units) and the ladder's output for a normalised batch.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, 1, H, W)``.
        use_mean : bool
            Means instead of samples at every level.
        mean_levels : sequence of int
            Levels that use their mean while the others sample.

        Returns
        -------
        signal : torch.Tensor
            ``(B, 1, H, W)``.
        out : structnoise.methods.vae.ladder.LadderOutput
        """
        out = self.vae(x, use_mean=use_mean, mean_levels=mean_levels)
        return self.head(out.s_code), out


@dataclass
class Losses:
    """One batch's objective and its parts (per pixel, nats)."""

    loss: torch.Tensor
    nll: torch.Tensor
    kl: torch.Tensor
    kl_levels: torch.Tensor


def hdn_losses(net: HDNNet, log_likelihood, x: torch.Tensor, free_bits: float) -> Losses:
    """HDN's training objective for a normalised batch.

    Parameters
    ----------
    net : HDNNet
        The network.
    log_likelihood : callable
        ``log_likelihood(x_norm, s_norm)``: elementwise log densities of the noise model.
    x : torch.Tensor
        ``(B, 1, H, W)`` normalised noisy crops.
    free_bits : float
        Nats per sample and level below which the KL is not penalised (0 = plain ELBO).

    Returns
    -------
    Losses
    """
    signal, out = net(x)
    ll = log_likelihood(x, signal)
    nll = -ll.mean()
    pixels = float(x.shape[-2] * x.shape[-1])
    cond = [i for i in range(len(out.kl)) if i not in net.uncond_levels]
    kl_sl = torch.stack([out.kl[i].sum(dim=(1, 2, 3)) for i in cond], dim=1)  # (B, levels)
    kl_plain = kl_sl.mean(0)
    kl_opt = kl_sl.clamp(min=free_bits).mean(0) if free_bits > 1e-6 else kl_plain
    return Losses(
        loss=nll + kl_opt.sum() / pixels,
        nll=nll,
        kl=kl_plain.sum() / pixels,
        kl_levels=kl_plain.detach(),
    )
