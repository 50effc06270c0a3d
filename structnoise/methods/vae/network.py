"""The network shape both methods share: a ladder VAE whose s_code a head maps to the signal."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from structnoise.methods.vae.ladder import LadderVAE


class LadderSignalNet(nn.Module):
    """A :class:`~structnoise.methods.vae.ladder.LadderVAE` (``vae``) and a signal head.

    Subclasses build ``vae`` and implement :meth:`to_signal` (DVLAE: the signal decoder;
    HDN: a 3x3 convolution, the location of its noise model). Everything here works in
    normalised units.
    """

    vae: LadderVAE

    def to_signal(self, s_code: torch.Tensor) -> torch.Tensor:
        """The signal ``(B, 1, H, W)`` from the ladder's s_code ``(B, C, H, W)``."""
        raise NotImplementedError

    @property
    def multiple(self) -> int:
        """Input sides are padded to a multiple of this inside the encoder."""
        return self.vae.multiple

    def signal(
        self, x: torch.Tensor, *, use_mean: bool = False, mean_levels: Sequence[int] = ()
    ) -> torch.Tensor:
        """One denoised estimate: encode, sample the latents (or take means), decode.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, 1, H, W)`` normalised noisy images.
        use_mean : bool
            Use the means of every level instead of samples.
        mean_levels : sequence of int
            Levels that use their mean while the others sample.

        Returns
        -------
        torch.Tensor
            ``(B, 1, H, W)``.
        """
        out = self.vae(x, use_mean=use_mean, mean_levels=mean_levels, with_kl=False)
        return self.to_signal(out.s_code)

    def decode(
        self, bu, size, *, use_mean: bool = False, mean_levels: Sequence[int] = ()
    ) -> torch.Tensor:
        """The signal from bottom-up features (see ``LadderVAE.decode_top_down``).

        Parameters
        ----------
        bu : list of torch.Tensor
            ``LadderVAE.encode_bottom_up`` output (possibly expanded along the batch).
        size : (int, int)
            Unpadded ``(H, W)``.
        use_mean : bool
            Means instead of samples.
        mean_levels : sequence of int
            Levels using their mean.

        Returns
        -------
        torch.Tensor
            ``(B, 1, H, W)``.
        """
        out = self.vae.decode_top_down(
            bu, size, use_mean=use_mean, mean_levels=mean_levels, with_kl=False
        )
        return self.to_signal(out.s_code)

    def mmse(
        self, x: torch.Tensor, n_samples: int, *, chunk: int = 8, mean_levels: Sequence[int] = ()
    ) -> torch.Tensor:
        """Mean of ``n_samples`` posterior samples of the signal.

        The deterministic bottom-up pass runs once per image; the stochastic top-down
        pass and the head run on ``chunk`` samples at a time.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, 1, H, W)`` normalised noisy images.
        n_samples : int
            Posterior samples to average.
        chunk : int
            Samples per batch (bounded by memory).
        mean_levels : sequence of int
            Levels that use their mean in every sample.

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
            for start in range(0, n_samples, chunk):
                m = min(chunk, n_samples - start)
                bu_m = [f.expand(m, *f.shape[1:]) for f in bu]
                acc += self.decode(bu_m, size, mean_levels=mean_levels).sum(0, keepdim=True)
            outs.append(acc / n_samples)
        return torch.cat(outs)


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
