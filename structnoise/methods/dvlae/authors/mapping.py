"""The state-dict mapping between the authors' DVLAE and ours, both ways.

The authors' code (krulllab/DVLAE at commit ``acbab39``) and the ``paper`` profile of
``dvlae-small`` / ``dvlae-large`` build the same network (the profile's architecture
options ``gated_stem=False``, ``top_prior="spatial"``, ``shared_sd_middle=True``), with
other module names. :func:`from_authors` maps their state dict onto ours and
:func:`to_authors` back; nothing is approximated:

* most tensors are renamed (``vae.first_bottom_up`` -> ``vae.stem``,
  ``vae.top_down_layers.{i}.merge`` -> ``vae.q_merge.{i}``, ...);
* the eight 1x1 convolutions that condition the AR decoder's blocks on the s_code
  (``noise_model.layers.layers.{b}.s_conv``) are one convolution with eight times the
  outputs in ours (``ar.cond``): their weights are concatenated in block order;
* the AR decoder's output channels are ordered ``(component, [logit, loc, scale])`` in
  theirs and ``([logit, loc, scale], component)`` in ours: the output convolution's rows
  are permuted;
* their vertical decoder has a parameter-free rotation module first, which shifts the
  block indices by one: the axis is read from the keys;
* their first causal convolution keeps its mask as a buffer (``kernel_mask``) and zeroes
  the weight's last tap in place at every forward pass; ours masks it in the forward
  pass, so the stored tap is never read either way. The buffer is checked, not copied.

The same key names are read the other way by :func:`architecture_from_authors`, which
finds our :class:`Architecture` of an authors' state dict: every authors' key is spelt by
the helpers below (``_stem_key`` ... ``_sd_key``), for both directions. :func:`preset_of`
and :func:`paper_architecture` name the paper's two networks.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import torch

from structnoise.methods.dvlae.ar_decoder import N_BLOCKS, ar_layout
from structnoise.methods.dvlae.network import Architecture, DVLAENet
from structnoise.methods.dvlae.profiles import PAPER, PRESETS, resolve_architecture

# ---------------------------------------------------------------- the authors' key names
_RES = "res.block"
_AR = "noise_model.layers.layers"
_AR_OUT = "noise_model.out_convs.convs"


def _stem_key(child: int, rest: str) -> str:
    """The stem (``first_bottom_up``): child 0 the convolution, child 2 the residual block."""
    return f"vae.first_bottom_up.{child}.{rest}"


def _bottom_up_key(level: int | str, rest: str) -> str:
    """The (only) bottom-up block of a level."""
    return f"vae.bottom_up_layers.{level}.net.0.{rest}"


def _top_down_key(level: int | str, rest: str) -> str:
    """A top-down layer of a level (its block, stochastic layer, merges, top prior)."""
    return f"vae.top_down_layers.{level}.{rest}"


def _ar_key(layer: int, rest: str) -> str:
    """A layer of the AR decoder (the vertical decoder's layer 0 is a rotation)."""
    return f"{_AR}.{layer}.{rest}"


def _sd_key(index: int | str, what: str) -> str:
    """A convolution of the signal decoder (even indices; activations between)."""
    return f"s_decoder.net.{index}.{what}"


class AuthorsFormatError(ValueError):
    """The input is not a DVLAE state dict or checkpoint of the authors' code."""


# ------------------------------------------------------------ our architecture of theirs
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

    stem = get(_stem_key(0, "weight"))
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
    if get(_bottom_up_key(0, f"{_RES}.0.weight")).dim() != 1:
        raise AuthorsFormatError("residual blocks without batch norm first: not the paper's")
    if _bottom_up_key(0, f"{_RES}.6.conv.weight") not in state:
        raise AuthorsFormatError("residual blocks without gates: not the paper's network")
    downsample = [_bottom_up_key(i, "pre_conv.weight") in state for i in range(levels)]
    z_dims = [
        int(get(_top_down_key(i, "stochastic.conv_out.weight")).shape[1]) for i in range(levels)
    ]
    prior = get(_top_down_key(levels - 1, "top_prior_params"))
    if prior.shape[-1] != prior.shape[-2]:
        raise AuthorsFormatError(f"a top prior of {tuple(prior.shape)}: square crops only")
    if _ar_key(0, "in_conv.conv.weight") in state:
        axis, off = "horizontal", 0
    elif _ar_key(1, "in_conv.conv.weight") in state:
        axis, off = "vertical", 1
    else:
        raise AuthorsFormatError("not a state dict of the authors' DVLAE: no AR decoder")
    in_convs = [_ar_key(b + off, "in_conv.conv.weight") for b in range(20)]
    blocks = [state[k] for k in in_convs if k in state]
    if len(blocks) != N_BLOCKS or any(k not in state for k in in_convs[:N_BLOCKS]):
        raise AuthorsFormatError(f"an AR decoder of {len(blocks)} blocks: the paper's has 8")
    kernels = {int(w.shape[-1]) for w in blocks}
    if len(kernels) != 1:
        raise AuthorsFormatError(f"AR kernels {sorted(kernels)}: the paper's are all equal")
    if f"{_AR_OUT}.1.weight" in state:
        raise AuthorsFormatError(
            "an AR output head of several convolutions (n_out_layers > 1): the paper's "
            "training notebook uses one"
        )
    out_rows = int(get(f"{_AR_OUT}.0.weight").shape[0])
    if out_rows % 3:
        raise AuthorsFormatError(f"{out_rows} AR output channels: not 3 per mixture component")
    sd_convs = sorted(
        int(m[1]) for k in state if (m := re.fullmatch(r"s_decoder\.net\.(\d+)\.weight", k))
    )
    sd_layers = len(sd_convs)
    if sd_convs != [2 * i for i in range(sd_layers)] or sd_layers < 2:
        raise AuthorsFormatError(f"signal decoder layers {sd_convs}: not the authors' layout")
    middle = [state[_sd_key(2 * i, "weight")] for i in range(1, sd_layers - 1)]
    shared = all(torch.equal(middle[0], w) for w in middle[1:]) if middle else True
    n_filters = int(stem.shape[0])
    multiple = 2 ** sum(downsample)
    return Architecture(
        n_filters=n_filters,
        z_dims=z_dims,
        downsample=downsample,
        ar_filters=int(blocks[0].shape[0]),
        sd_filters=int(get(_sd_key(0, "weight")).shape[0]),
        sd_layers=sd_layers,
        rf=10 * (kernels.pop() - 1),
        axis=axis,
        n_gaussians=out_rows // 3,
        gated_stem=_stem_key(2, f"{_RES}.6.conv.weight") in state,
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


# ---------------------------------------------------------------------------- key mapping
def _check_mappable(arch: Architecture) -> None:
    if arch.rf < 10 or arch.rf % 10 or len(ar_layout(arch.rf)) != N_BLOCKS:
        raise AuthorsFormatError(
            f"rf={arch.rf}: only the paper's AR layout (rf a multiple of 10: 4 stages of "
            "k = rf / 10 + 1, dilations 1, 2, 2, 1) exists in the authors' code"
        )


def _ar_offset(arch: Architecture) -> int:
    """Index of the first AR block among the authors' layers (a rotation comes first)."""
    return 1 if arch.axis == "vertical" else 0


def authors_key(key: str, arch: Architecture) -> str | None:
    """The authors' name of one of our state-dict keys (None: not a plain rename).

    ``ar.cond.*`` and ``ar.out.*`` are not renames (see the module documentation).

    Parameters
    ----------
    key : str
        A key of ``DVLAENet(arch).state_dict()``.
    arch : Architecture
        The network.

    Returns
    -------
    str or None

    Raises
    ------
    AuthorsFormatError
        For a key that has no counterpart in the authors' network.
    """
    top = len(arch.z_dims) - 1
    off = _ar_offset(arch)
    rules: list[tuple[str, Any]] = [
        (r"vae\.stem\.0\.(.+)", lambda m: _stem_key(0, m[1])),
        (r"vae\.stem\.2\.body\.(.+)", lambda m: _stem_key(2, f"{_RES}.{m[1]}")),
        (r"vae\.final\.0\.body\.(.+)", lambda m: f"vae.final_top_down.0.{_RES}.{m[1]}"),
        (r"vae\.top_prior", lambda m: _top_down_key(top, "top_prior_params")),
        (r"vae\.bottom_up\.(\d+)\.(\d+)\.(.+)", lambda m: _bottom_up(m, arch)),
        (r"vae\.top_down\.(\d+)\.(\d+)\.(.+)", lambda m: _top_down(m, arch)),
        (
            r"vae\.stochastic\.(\d+)\.(q_head|p_head|out)\.(.+)",
            lambda m: _top_down_key(
                m[1],
                "stochastic.{}.{}".format(
                    {"q_head": "conv_in_q", "p_head": "conv_in_p", "out": "conv_out"}[m[2]], m[3]
                ),
            ),
        ),
        (r"vae\.q_merge\.(\d+)\.(.+)", lambda m: _merge(m, "merge")),
        (r"vae\.skip_merge\.(\d+)\.(.+)", lambda m: _merge(m, "skip_connection_merger")),
        (
            r"ar\.blocks\.(\d+)\.in_conv\.(weight|bias)",
            lambda m: _ar_key(int(m[1]) + off, f"in_conv.conv.{m[2]}"),
        ),
        (
            r"ar\.blocks\.(\d+)\.out_conv\.(weight|bias)",
            lambda m: _ar_key(int(m[1]) + off, f"out_conv.{m[2]}"),
        ),
        (r"ar\.(cond|out)\.(weight|bias)", lambda m: None),
        (r"sd\.net\.(\d+)\.(weight|bias)", lambda m: _sd_key(m[1], m[2])),
    ]
    for pattern, fn in rules:
        m = re.fullmatch(pattern, key)
        if m:
            return fn(m)
    raise AuthorsFormatError(f"{key!r} has no counterpart in the authors' network")


def _bottom_up(m: re.Match, arch: Architecture) -> str:
    level, child, rest = int(m[1]), int(m[2]), m[3]
    down = bool(arch.downsample[level])
    if down and child == 0:
        return _bottom_up_key(level, f"pre_conv.{rest}")
    if child == int(down) and rest.startswith("body."):
        return _bottom_up_key(level, f"{_RES}.{rest[len('body.') :]}")
    raise AuthorsFormatError(f"vae.bottom_up.{level}.{child}.{rest}: one block per level only")


def _top_down(m: re.Match, arch: Architecture) -> str:
    level, child, rest = int(m[1]), int(m[2]), m[3]
    base = "deterministic_block.0"
    up = bool(arch.downsample[level])
    if up and child == 1:  # child 0 is the parameter-free upsampling
        return _top_down_key(level, f"{base}.pre_conv.1.{rest}")
    if child == 2 * int(up) and rest.startswith("body."):
        return _top_down_key(level, f"{base}.{_RES}.{rest[len('body.') :]}")
    raise AuthorsFormatError(f"vae.top_down.{level}.{child}.{rest}: one block per level only")


def _merge(m: re.Match, name: str) -> str:
    level, rest = m[1], m[2]
    if rest.startswith("conv."):
        return _top_down_key(level, f"{name}.layer.0.{rest[len('conv.') :]}")
    if rest.startswith("res.body."):
        return _top_down_key(level, f"{name}.layer.1.block.{rest[len('res.body.') :]}")
    raise AuthorsFormatError(f"unexpected merge key {m[0]!r}")


def _out_permutation(n_gaussians: int) -> list[int]:
    """``ours[i] = theirs[perm[i]]`` for the AR decoder's output channels."""
    return [3 * k + t for t in range(3) for k in range(n_gaussians)]


def _our_shapes(arch: Architecture) -> dict[str, torch.Size]:
    """Keys and shapes of our state dict for ``arch`` (built on the meta device)."""
    with torch.device("meta"):
        net = DVLAENet(arch)
    return {k: v.shape for k, v in net.state_dict().items()}


def _mask_key(arch: Architecture) -> str:
    return _ar_key(_ar_offset(arch), "in_conv.kernel_mask")


def _cond_keys(arch: Architecture, what: str) -> list[str]:
    off = _ar_offset(arch)
    return [_ar_key(b + off, f"s_conv.{what}") for b in range(N_BLOCKS)]


def from_authors(state: dict[str, torch.Tensor], arch: Architecture) -> dict[str, torch.Tensor]:
    """Our state dict from the authors' (every tensor used, shapes checked).

    Parameters
    ----------
    state : dict of str to torch.Tensor
        The authors' ``DVLAE`` state dict (keys ``vae.*``, ``noise_model.*``,
        ``s_decoder.*``).
    arch : Architecture
        Our network (e.g. :func:`architecture_from_authors`).

    Returns
    -------
    dict of str to torch.Tensor
        For ``DVLAENet(arch).load_state_dict``.

    Raises
    ------
    AuthorsFormatError
        When a tensor is missing, left over or of another shape.
    """
    _check_mappable(arch)
    shapes = _our_shapes(arch)
    used: set[str] = set()

    def take(key: str) -> torch.Tensor:
        if key not in state:
            raise AuthorsFormatError(f"the authors' state dict has no {key!r}")
        used.add(key)
        return state[key]

    out: dict[str, torch.Tensor] = {}
    perm = _out_permutation(arch.n_gaussians)
    for key, shape in shapes.items():
        if key in ("ar.cond.weight", "ar.cond.bias"):
            value = torch.cat([take(k) for k in _cond_keys(arch, key.rsplit(".", 1)[1])])
        elif key in ("ar.out.weight", "ar.out.bias"):
            value = take(f"{_AR_OUT}.0.{key.rsplit('.', 1)[1]}")
            if value.shape[0] != len(perm):
                raise AuthorsFormatError(
                    f"{key}: {value.shape[0]} output channels, {arch.n_gaussians} mixture "
                    f"components need {len(perm)}"
                )
            value = value[perm]
        else:
            value = take(authors_key(key, arch))  # type: ignore[arg-type]
        if value.shape != shape:
            raise AuthorsFormatError(
                f"{key}: the authors' tensor has shape {tuple(value.shape)}, "
                f"the network needs {tuple(shape)}"
            )
        out[key] = value
    mask = _mask_key(arch)
    if mask in state:
        used.add(mask)
        expected = torch.ones_like(state[mask])
        expected[..., -1] = 0
        if not torch.equal(state[mask], expected):
            raise AuthorsFormatError(f"{mask} is not the causal mask (last tap off)")
    if arch.shared_sd_middle:
        for what in ("weight", "bias"):
            middle = [_sd_key(2 * i, what) for i in range(1, arch.sd_layers - 1)]
            if any(not torch.equal(state[middle[0]], state[k]) for k in middle[1:]):
                raise AuthorsFormatError(
                    f"{', '.join(middle)} differ: the signal decoder's middle layers are not shared"
                )
    left = sorted(set(state) - used)
    if left:
        raise AuthorsFormatError(
            f"{len(left)} tensor(s) of the authors' state dict have no place in the network: "
            + ", ".join(left[:5])
            + (" ..." if len(left) > 5 else "")
        )
    return out


def to_authors(state: dict[str, torch.Tensor], arch: Architecture) -> dict[str, torch.Tensor]:
    """The authors' state dict from ours (the inverse of :func:`from_authors`).

    Parameters
    ----------
    state : dict of str to torch.Tensor
        ``DVLAENet(arch).state_dict()``.
    arch : Architecture
        Our network; it must be one the authors' code can build (the ``paper`` profile).

    Returns
    -------
    dict of str to torch.Tensor
        With the authors' keys (including their causal-mask buffer).
    """
    _check_mappable(arch)
    out: dict[str, torch.Tensor] = {}
    perm = _out_permutation(arch.n_gaussians)
    inverse = [perm.index(i) for i in range(len(perm))]
    for key, value in state.items():
        if key in ("ar.cond.weight", "ar.cond.bias"):
            for k, part in zip(
                _cond_keys(arch, key.rsplit(".", 1)[1]), value.chunk(N_BLOCKS), strict=True
            ):
                out[k] = part
        elif key in ("ar.out.weight", "ar.out.bias"):
            out[f"{_AR_OUT}.0.{key.rsplit('.', 1)[1]}"] = value[inverse]
        else:
            out[authors_key(key, arch)] = value  # type: ignore[index]
    first = out[_ar_key(_ar_offset(arch), "in_conv.conv.weight")]
    mask = torch.ones((1, 1, 1, first.shape[-1]), dtype=first.dtype)
    mask[..., -1] = 0
    out[_mask_key(arch)] = mask
    return out
