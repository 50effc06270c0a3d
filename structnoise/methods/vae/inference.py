"""Prediction-only speed and memory helpers of the ladder-VAE methods.

* :func:`fold_batchnorm`: a copy of a network whose batch norms that directly follow a
  convolution are folded into it (evaluation mode only: the running statistics make a
  batch norm an affine map per channel, which the convolution's weights can absorb);
* :func:`available_memory` and :func:`mmse_chunk`: how many posterior samples one batch
  of the MMSE estimate may hold, from the memory the device has free.
"""

from __future__ import annotations

import contextlib
import copy
import os

import torch
from torch import nn

#: Bytes of live activations per sample, pixel and feature channel at the peak of a
#: top-down pass: float32 values of up to 8 full-resolution feature maps at once (a
#: residual block's input, its two convolutions' outputs, the gate's doubled channels
#: and the concatenation of a merge), an upper estimate.
BYTES_PER_PIXEL_CHANNEL = 4 * 8
#: Share of the free memory one MMSE batch may take.
MEMORY_SHARE = 0.25


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """``conv`` followed by ``bn`` (evaluation mode) as one convolution."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else None
    if scale is None:
        scale = 1.0 / torch.sqrt(bn.running_var + bn.eps)
    shift = -bn.running_mean * scale + (bn.bias if bn.affine else 0.0)
    fused = copy.deepcopy(conv)
    with torch.no_grad():
        fused.weight.mul_(scale.reshape(-1, 1, 1, 1).to(fused.weight.dtype))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
        new_bias = bias * scale + shift
        if fused.bias is None:
            fused.bias = nn.Parameter(new_bias.to(fused.weight.dtype))
        else:
            fused.bias.copy_(new_bias)
    return fused


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """A copy of ``net`` in evaluation mode with every conv -> batch-norm pair fused.

    Only pairs that are consecutive entries of an ``nn.Sequential`` are fused (the
    batch norm then sees nothing but the convolution's output); the batch norm becomes
    an ``nn.Identity``. Batch norms without running statistics are kept. The result
    computes the same function as ``net.eval()`` up to floating-point rounding, and
    ``net`` itself is not changed.

    Parameters
    ----------
    net : torch.nn.Module
        Any network.

    Returns
    -------
    torch.nn.Module
        The folded copy (in evaluation mode, without gradients).
    """
    folded = copy.deepcopy(net).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for i in range(len(module) - 1):
            conv, bn = module[i], module[i + 1]
            if (
                type(conv) is nn.Conv2d
                and type(bn) is nn.BatchNorm2d
                and bn.track_running_stats
                and bn.running_var is not None
                and conv.out_channels == bn.num_features
            ):
                module[i] = _fold(conv, bn)
                module[i + 1] = nn.Identity()
    folded.requires_grad_(False)
    return folded


def available_memory(device: str | torch.device = "cpu") -> int:
    """Bytes the device has free now (the CPU's ``MemAvailable``; a GPU's free memory).

    Parameters
    ----------
    device : str or torch.device
        Torch device.

    Returns
    -------
    int
        Free bytes; 4 GiB when the system does not say.
    """
    if str(device).startswith("cuda"):
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return 4 * 2**30


def mmse_chunk(
    n_samples: int,
    pixels: int,
    channels: int,
    *,
    max_pixels: int,
    free_bytes: int,
    bytes_per_value: int = BYTES_PER_PIXEL_CHANNEL,
) -> int:
    """Posterior samples per batch of the MMSE estimate.

    The smaller of the samples that fit ``max_pixels`` (samples x pixels of one pass,
    the speed setting: beyond a few hundred thousand pixels a larger batch is no faster
    on a CPU) and those whose activations fit :data:`MEMORY_SHARE` of ``free_bytes``;
    at least 1 and at most ``n_samples``.

    Parameters
    ----------
    n_samples : int
        Samples to draw.
    pixels : int
        Pixels of one image (tile) at full resolution.
    channels : int
        Feature channels of the network.
    max_pixels : int
        Largest samples x pixels of one pass.
    free_bytes : int
        Free memory of the device (:func:`available_memory`).
    bytes_per_value : int
        Bytes of live activations per sample, pixel and channel.

    Returns
    -------
    int
    """
    if n_samples < 1 or pixels < 1 or channels < 1:
        raise ValueError(
            f"n_samples, pixels and channels must be positive, got {n_samples}, {pixels}, "
            f"{channels}"
        )
    by_speed = max_pixels // pixels
    by_memory = int(MEMORY_SHARE * free_bytes) // (pixels * channels * bytes_per_value)
    return max(1, min(n_samples, by_speed, by_memory))
