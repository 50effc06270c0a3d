"""Our :class:`Architecture` of an authors' DVLAE state dict, and the paper's networks.

Re-exported by :mod:`structnoise.methods.authors`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import torch

from structnoise.methods.authors_mapping import AuthorsFormatError
from structnoise.methods.dvlae.ar_decoder import N_BLOCKS
from structnoise.methods.dvlae.network import Architecture
from structnoise.methods.dvlae.profiles import PAPER, PRESETS, resolve_architecture


def architecture_from_authors(state: dict[str, torch.Tensor]) -> Architecture:
    """Our :class:`Architecture` of the network an authors' state dict belongs to.

    Parameters
    ----------
    state : dict of str to torch.Tensor
        The authors' ``DVLAE`` state dict.

    Returns
    -------
    Architecture
        With ``gated_stem``, ``top_prior="spatial"`` (``prior_crop`` from the prior's
        size) and ``shared_sd_middle`` as found; our default ``scale_floor``.

    Raises
    ------
    AuthorsFormatError
        For a state dict the authors' DVLAE code would not have written, or one our
        network cannot hold (several blocks per level, another AR layout, colour images).
    """

    def get(key: str) -> torch.Tensor:
        if key not in state:
            raise AuthorsFormatError(f"not a state dict of the authors' DVLAE: no {key!r}")
        return state[key]

    stem = get("vae.first_bottom_up.0.weight")
    if stem.shape[1] != 1:
        raise AuthorsFormatError(f"{stem.shape[1]} colour channels: structnoise models have 1")
    levels = 1 + max(
        (int(m[1]) for k in state if (m := re.match(r"vae\.bottom_up_layers\.(\d+)\.", k))),
        default=-1,
    )
    if levels < 1:
        raise AuthorsFormatError("not a state dict of the authors' DVLAE: no bottom-up layers")
    if any(re.match(r"vae\.bottom_up_layers\.\d+\.net\.1\.", k) for k in state):
        raise AuthorsFormatError("several residual blocks per level: not the paper's network")
    if get("vae.bottom_up_layers.0.net.0.res.block.0.weight").dim() != 1:
        raise AuthorsFormatError("residual blocks without batch norm first: not the paper's")
    if "vae.bottom_up_layers.0.net.0.res.block.6.conv.weight" not in state:
        raise AuthorsFormatError("residual blocks without gates: not the paper's network")
    downsample = [f"vae.bottom_up_layers.{i}.net.0.pre_conv.weight" in state for i in range(levels)]
    z_dims = [
        int(get(f"vae.top_down_layers.{i}.stochastic.conv_out.weight").shape[1])
        for i in range(levels)
    ]
    prior = get(f"vae.top_down_layers.{levels - 1}.top_prior_params")
    if prior.shape[-1] != prior.shape[-2]:
        raise AuthorsFormatError(f"a top prior of {tuple(prior.shape)}: square crops only")
    if "noise_model.layers.layers.0.in_conv.conv.weight" in state:
        axis, off = "horizontal", 0
    elif "noise_model.layers.layers.1.in_conv.conv.weight" in state:
        axis, off = "vertical", 1
    else:
        raise AuthorsFormatError("not a state dict of the authors' DVLAE: no AR decoder")
    in_convs = [f"noise_model.layers.layers.{b + off}.in_conv.conv.weight" for b in range(20)]
    blocks = [state[k] for k in in_convs if k in state]
    if len(blocks) != N_BLOCKS or any(k not in state for k in in_convs[:N_BLOCKS]):
        raise AuthorsFormatError(f"an AR decoder of {len(blocks)} blocks: the paper's has 8")
    kernels = {int(w.shape[-1]) for w in blocks}
    if len(kernels) != 1:
        raise AuthorsFormatError(f"AR kernels {sorted(kernels)}: the paper's are all equal")
    if "noise_model.out_convs.convs.1.weight" in state:
        raise AuthorsFormatError(
            "an AR output head of several convolutions (n_out_layers > 1): the paper's "
            "training notebook uses one"
        )
    out_rows = int(get("noise_model.out_convs.convs.0.weight").shape[0])
    if out_rows % 3:
        raise AuthorsFormatError(f"{out_rows} AR output channels: not 3 per mixture component")
    sd_convs = sorted(
        int(m[1]) for k in state if (m := re.fullmatch(r"s_decoder\.net\.(\d+)\.weight", k))
    )
    sd_layers = len(sd_convs)
    if sd_convs != [2 * i for i in range(sd_layers)] or sd_layers < 2:
        raise AuthorsFormatError(f"signal decoder layers {sd_convs}: not the authors' layout")
    middle = [state[f"s_decoder.net.{2 * i}.weight"] for i in range(1, sd_layers - 1)]
    shared = all(torch.equal(middle[0], w) for w in middle[1:]) if middle else True
    n_filters = int(stem.shape[0])
    multiple = 2 ** sum(downsample)
    return Architecture(
        n_filters=n_filters,
        z_dims=z_dims,
        downsample=downsample,
        ar_filters=int(blocks[0].shape[0]),
        sd_filters=int(get("s_decoder.net.0.weight").shape[0]),
        sd_layers=sd_layers,
        rf=10 * (kernels.pop() - 1),
        axis=axis,
        n_gaussians=out_rows // 3,
        gated_stem="vae.first_bottom_up.2.res.block.6.conv.weight" in state,
        top_prior="spatial",
        prior_crop=int(prior.shape[-1]) * multiple,
        shared_sd_middle=shared,
    )


def preset_of(arch: Architecture) -> str | None:
    """The paper's model (``small`` / ``large``) of these sizes, or None.

    Parameters
    ----------
    arch : Architecture
        Any network.

    Returns
    -------
    str or None
    """
    for name, preset in PRESETS.items():
        if (
            list(arch.z_dims) == list(preset.z_dims)
            and list(map(bool, arch.downsample)) == list(preset.downsample)
            and arch.n_filters == preset.n_filters
            and arch.ar_filters == preset.ar_filters
            and arch.sd_filters == preset.sd_filters
            and arch.sd_layers == preset.sd_layers
        ):
            return name
    return None


def paper_architecture(
    preset: str, axis: str = "horizontal", *, crop: int | None = None, **changes: Any
) -> Architecture:
    """The ``paper`` profile's network (the authors' one) for a preset and axis.

    Parameters
    ----------
    preset : {"small", "large"}
        The paper's model.
    axis : {"horizontal", "vertical"}
        The AR decoder's line.
    crop : int, optional
        Training crop the spatial top prior is sized for (default: the profile's).
    **changes
        Further :class:`Architecture` fields.

    Returns
    -------
    Architecture
    """
    prof = PAPER if crop is None else replace(PAPER, crop=int(crop))
    arch = resolve_architecture(preset, prof, {"axis": axis})
    return replace(arch, **changes) if changes else arch
