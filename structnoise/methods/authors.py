"""The authors' DVLAE weights in structnoise: the state-dict mapping and checkpoint import.

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

:func:`read_checkpoint` loads a Lightning checkpoint of the authors' notebooks safely:
with ``torch.load(weights_only=True)``. Their ``DVLAE`` module saves its hyperparameters,
which include the pickled sub-modules themselves; the classes named in the checkpoint
(the authors' packages, ``torch.nn`` modules, NumPy scalars) are then allowlisted as
*inert placeholders*: objects that only hold the pickled attributes, so no code of the
checkpoint runs. Anything else is refused with the list of what it names.
:func:`import_checkpoint` writes a saved ``dvlae-small`` / ``dvlae-large`` model that
``structnoise denoise`` loads (``structnoise import-authors``).

Denoising with the imported weights computes what their ``predict_step`` computes (the
same network, BatchNorm in evaluation mode, the mean of posterior samples), except:

* sides that are not a multiple of ``2 ** downsamplings`` (64 small, 128 large) are padded
  by replication at the bottom and right here, with zeros around the centre there, so
  the border pixels of such images differ;
* images larger than the tile (512) are denoised in overlapping tiles here, whole there;
* our latent standard deviations carry a floor of 1e-6 (theirs none); the AR decoder,
  where our mixture scales carry a floor of 1e-3, is not used for denoising;
* the posterior samples are drawn from a seeded generator (the same result every run).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from structnoise.methods.dvlae.ar_decoder import N_BLOCKS, ar_layout
from structnoise.methods.dvlae.network import Architecture, DVLAENet
from structnoise.methods.dvlae.profiles import PAPER, PRESETS, resolve_architecture

#: The authors' code this mapping follows.
AUTHORS_REPO = "krulllab/DVLAE"
AUTHORS_COMMIT = "acbab39"

#: Top-level modules of the authors' code (their pickled classes live there).
AUTHORS_PACKAGES = ("lvae", "noise_model", "s_decoder", "dvlae")
#: Modules whose classes a checkpoint may name; they are read as inert placeholders.
PLACEHOLDER_MODULES = (
    *AUTHORS_PACKAGES,
    "torch.nn.modules",
    "numpy",
    "pytorch_lightning",
    "lightning",
)

_RES = "res.block"


class AuthorsFormatError(ValueError):
    """The input is not a DVLAE state dict or checkpoint of the authors' code."""


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
    ar = "noise_model.layers.layers"
    off = _ar_offset(arch)
    rules: list[tuple[str, Any]] = [
        (r"vae\.stem\.0\.(.+)", lambda m: f"vae.first_bottom_up.0.{m[1]}"),
        (r"vae\.stem\.2\.body\.(.+)", lambda m: f"vae.first_bottom_up.2.{_RES}.{m[1]}"),
        (r"vae\.final\.0\.body\.(.+)", lambda m: f"vae.final_top_down.0.{_RES}.{m[1]}"),
        (r"vae\.top_prior", lambda m: f"vae.top_down_layers.{top}.top_prior_params"),
        (r"vae\.bottom_up\.(\d+)\.(\d+)\.(.+)", lambda m: _bottom_up(m, arch)),
        (r"vae\.top_down\.(\d+)\.(\d+)\.(.+)", lambda m: _top_down(m, arch)),
        (
            r"vae\.stochastic\.(\d+)\.(q_head|p_head|out)\.(.+)",
            lambda m: "vae.top_down_layers.{}.stochastic.{}.{}".format(
                m[1], {"q_head": "conv_in_q", "p_head": "conv_in_p", "out": "conv_out"}[m[2]], m[3]
            ),
        ),
        (r"vae\.q_merge\.(\d+)\.(.+)", lambda m: _merge(m, "merge")),
        (r"vae\.skip_merge\.(\d+)\.(.+)", lambda m: _merge(m, "skip_connection_merger")),
        (
            r"ar\.blocks\.(\d+)\.in_conv\.(weight|bias)",
            lambda m: f"{ar}.{int(m[1]) + off}.in_conv.conv.{m[2]}",
        ),
        (
            r"ar\.blocks\.(\d+)\.out_conv\.(weight|bias)",
            lambda m: f"{ar}.{int(m[1]) + off}.out_conv.{m[2]}",
        ),
        (r"ar\.(cond|out)\.(weight|bias)", lambda m: None),
        (r"sd\.net\.(\d+)\.(weight|bias)", lambda m: f"s_decoder.net.{m[1]}.{m[2]}"),
    ]
    for pattern, fn in rules:
        m = re.fullmatch(pattern, key)
        if m:
            return fn(m)
    raise AuthorsFormatError(f"{key!r} has no counterpart in the authors' network")


def _bottom_up(m: re.Match, arch: Architecture) -> str:
    level, child, rest = int(m[1]), int(m[2]), m[3]
    base = f"vae.bottom_up_layers.{level}.net.0"
    down = bool(arch.downsample[level])
    if down and child == 0:
        return f"{base}.pre_conv.{rest}"
    if child == int(down) and rest.startswith("body."):
        return f"{base}.{_RES}.{rest[len('body.') :]}"
    raise AuthorsFormatError(f"vae.bottom_up.{level}.{child}.{rest}: one block per level only")


def _top_down(m: re.Match, arch: Architecture) -> str:
    level, child, rest = int(m[1]), int(m[2]), m[3]
    base = f"vae.top_down_layers.{level}.deterministic_block.0"
    up = bool(arch.downsample[level])
    if up and child == 1:  # child 0 is the parameter-free upsampling
        return f"{base}.pre_conv.1.{rest}"
    if child == 2 * int(up) and rest.startswith("body."):
        return f"{base}.{_RES}.{rest[len('body.') :]}"
    raise AuthorsFormatError(f"vae.top_down.{level}.{child}.{rest}: one block per level only")


def _merge(m: re.Match, name: str) -> str:
    level, rest = m[1], m[2]
    if rest.startswith("conv."):
        return f"vae.top_down_layers.{level}.{name}.layer.0.{rest[len('conv.') :]}"
    if rest.startswith("res.body."):
        return f"vae.top_down_layers.{level}.{name}.layer.1.block.{rest[len('res.body.') :]}"
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
    return f"noise_model.layers.layers.{_ar_offset(arch)}.in_conv.kernel_mask"


def _cond_keys(arch: Architecture, what: str) -> list[str]:
    off = _ar_offset(arch)
    return [f"noise_model.layers.layers.{b + off}.s_conv.{what}" for b in range(N_BLOCKS)]


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
            value = take(f"noise_model.out_convs.convs.0.{key.rsplit('.', 1)[1]}")
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
            middle = [f"s_decoder.net.{2 * i}.{what}" for i in range(1, arch.sd_layers - 1)]
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
            out[f"noise_model.out_convs.convs.0.{key.rsplit('.', 1)[1]}"] = value[inverse]
        else:
            out[authors_key(key, arch)] = value  # type: ignore[index]
    first = out[f"noise_model.layers.layers.{_ar_offset(arch)}.in_conv.conv.weight"]
    mask = torch.ones((1, 1, 1, first.shape[-1]), dtype=first.dtype)
    mask[..., -1] = 0
    out[_mask_key(arch)] = mask
    return out


# ---------------------------------------------------------------------------- architecture
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


# ---------------------------------------------------------------------------- checkpoints
class _Inert:
    """Stands for a class named in a checkpoint: keeps the pickled state, runs nothing."""

    qualified_name = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<inert {self.qualified_name}>"


def _placeholders(names: list[str]) -> list[tuple[type, str]]:
    return [
        (type(name.rsplit(".", 1)[-1], (_Inert,), {"qualified_name": name}), name) for name in names
    ]


def _allowed_placeholder(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in PLACEHOLDER_MODULES)


@dataclass
class AuthorsCheckpoint:
    """What :func:`read_checkpoint` found.

    Attributes
    ----------
    state : dict of str to torch.Tensor
        The authors' ``DVLAE`` state dict.
    data_mean, data_std : float or None
        Their normalisation (``hyper_parameters``), None when the file has none.
    info : dict
        ``epoch``, ``global_step``, ``pytorch-lightning_version`` where present.
    placeholders : list of str
        Classes the file names that were read as inert placeholders.
    """

    state: dict[str, torch.Tensor]
    data_mean: float | None
    data_std: float | None
    info: dict[str, Any] = field(default_factory=dict)
    placeholders: list[str] = field(default_factory=list)


def _load_weights_only(path: Path) -> tuple[Any, list[str]]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True), []
    except pickle.UnpicklingError:
        pass
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise AuthorsFormatError(f"{path.name} is not a torch checkpoint ({exc})") from None
    try:
        names = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except (RuntimeError, ValueError, OSError) as exc:
        raise AuthorsFormatError(f"{path.name} is not a torch checkpoint ({exc})") from None
    refused = [n for n in names if not _allowed_placeholder(n)]
    if refused:
        raise AuthorsFormatError(
            f"{path.name} names code outside the authors' DVLAE modules, torch.nn and NumPy "
            f"({', '.join(refused)}); refusing to unpickle it. Save the state dict alone "
            "(torch.save(model.state_dict(), ...)) and import that."
        )
    with torch.serialization.safe_globals(_placeholders(names)):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise AuthorsFormatError(
                f"{path.name} cannot be read with weights_only=True even with inert "
                f"placeholders for its classes ({exc}); save the state dict alone and import that"
            ) from None
    return obj, names


def _numpy_scalar(value: _Inert) -> float | None:
    """The number a pickled NumPy scalar holds (read from its bytes; nothing is called)."""
    import numpy as np

    try:
        dtype, raw = value.args
        code = dtype.args[0]
        order = dtype.state[1] if isinstance(dtype.state, tuple) else "="
        kind = np.dtype(f"{order}{code}")
    except (AttributeError, TypeError, ValueError, IndexError):
        return None
    if kind.kind not in "fiu" or not isinstance(raw, bytes) or len(raw) != kind.itemsize:
        return None
    return float(np.frombuffer(raw, dtype=kind)[0])


def _scalar(value: Any, name: str) -> float:
    """A number from a hyperparameter (tensor, Python or NumPy scalar)."""
    if isinstance(value, _Inert) and value.qualified_name.endswith("multiarray.scalar"):
        number = _numpy_scalar(value)
        if number is not None:
            return number
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise AuthorsFormatError(f"{name} has {value.numel()} values, expected one")
        return float(value.item())
    if isinstance(value, int | float):
        return float(value)
    raise AuthorsFormatError(
        f"{name} is a {getattr(value, 'qualified_name', '') or type(value).__name__}, expected "
        "a number: pass --mean and --std"
    )


def read_checkpoint(path: str | os.PathLike) -> AuthorsCheckpoint:
    """Read a checkpoint of the authors' DVLAE safely (``weights_only=True``).

    Accepts a Lightning checkpoint of their ``DVLAE`` module (``trainer.save_checkpoint``
    in their training notebook) or a bare state dict.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    AuthorsCheckpoint

    Raises
    ------
    AuthorsFormatError
        When it is not one, or names code that is not allowlisted.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    obj, names = _load_weights_only(path)
    if not isinstance(obj, dict):
        raise AuthorsFormatError(f"{path.name} holds a {type(obj).__name__}, not a checkpoint")
    hparams: dict[str, Any] | None = None
    if "state_dict" in obj:
        state = obj["state_dict"]
        hp = obj.get("hyper_parameters")
        hparams = hp if isinstance(hp, dict) else ({} if hp is None else None)
        if hparams is None:
            raise AuthorsFormatError(
                f"{path.name}: hyper_parameters is a {type(hp).__name__}; cannot read the "
                "normalisation from it"
            )
    else:
        state = obj
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise AuthorsFormatError(f"{path.name}: the state dict is not a dict of tensors")
    info = {k: obj[k] for k in ("epoch", "global_step", "pytorch-lightning_version") if k in obj}
    info = {k: (v if isinstance(v, int | str) else str(v)) for k, v in info.items()}
    mean = std = None
    if hparams is not None:
        # the authors' DVLAE defaults (data_mean=0, data_std=1) when the key is absent;
        # None when the value is not a number this reader can take
        with contextlib.suppress(AuthorsFormatError):
            mean = _scalar(hparams.get("data_mean", 0.0), "data_mean")
        with contextlib.suppress(AuthorsFormatError):
            std = _scalar(hparams.get("data_std", 1.0), "data_std")
    return AuthorsCheckpoint(
        state=dict(state), data_mean=mean, data_std=std, info=info, placeholders=names
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def import_checkpoint(
    path: str | os.PathLike,
    *,
    axis: str | None = None,
    preset: str | None = None,
    mean: float | None = None,
    std: float | None = None,
):
    """A fitted ``dvlae-small`` / ``dvlae-large`` with the weights of an authors' checkpoint.

    Parameters
    ----------
    path : path-like
        Checkpoint of the authors' DVLAE (see :func:`read_checkpoint`).
    axis : {"horizontal", "vertical"}, optional
        Checked against the checkpoint (its AR decoder's layout says which it is).
    preset : {"small", "large"}, optional
        Checked against the checkpoint's sizes; required when they are neither preset's.
    mean, std : float, optional
        Normalisation (data units); default: the checkpoint's ``data_mean`` /
        ``data_std``. Required for a bare state dict.

    Returns
    -------
    structnoise.methods.dvlae.DVLAE
        Fitted, profile ``paper``; save it with ``.save(folder)``. Its attribute
        ``imported`` describes the source (written as ``imported.json`` by
        :func:`save_imported`).

    Raises
    ------
    AuthorsFormatError
        For a file that is not such a checkpoint, or options that contradict it.
    """
    from structnoise.methods.dvlae import DVLAE
    from structnoise.methods.vae.data import Normalisation
    from structnoise.methods.vae.network import count_parameters

    path = Path(path)
    ckpt = read_checkpoint(path)
    arch = architecture_from_authors(ckpt.state)
    if axis is not None and axis != arch.axis:
        raise AuthorsFormatError(
            f"--axis {axis}: the checkpoint's AR decoder runs along the {arch.axis} axis"
        )
    found = preset_of(arch)
    if preset is not None and found is not None and preset != found:
        raise AuthorsFormatError(f"--preset {preset}: the checkpoint is the paper's {found} model")
    variant = found or preset
    if variant is None:
        raise AuthorsFormatError(
            "the checkpoint's sizes are neither the small nor the large model: pass --preset "
            "to name the registered method it is saved as (its own sizes are kept)"
        )
    mean = ckpt.data_mean if mean is None else float(mean)
    std = ckpt.data_std if std is None else float(std)
    if mean is None or std is None:
        raise AuthorsFormatError(
            "the file has no readable data_mean / data_std (e.g. a bare state dict): pass "
            "--mean and --std"
        )
    if not std > 0:
        raise AuthorsFormatError(f"data_std must be positive, got {std}")
    net = DVLAENet(arch)
    net.load_state_dict(from_authors(ckpt.state, arch), strict=True)
    params: dict[str, Any] = {
        "axis": arch.axis,
        "rf": arch.rf,
        "n_gaussians": arch.n_gaussians,
        "crop": arch.prior_crop,
        "profile": "paper",
    }
    if found is None:
        params.update(
            n_filters=arch.n_filters,
            z_dims=list(arch.z_dims),
            n_levels=len(arch.z_dims),
            sd_filters=arch.sd_filters,
            ar_filters=arch.ar_filters,
        )
    try:
        model = DVLAE(variant=variant, **params)
    except ValueError as exc:
        raise AuthorsFormatError(f"cannot be saved as dvlae-{variant}: {exc}") from None
    model.arch = arch
    model.net = net.eval()
    model.norm = Normalisation(float(mean), float(std))
    model.train_summary = {}
    model.history = []
    model.fitted = True
    model.imported = {
        "source": f"{AUTHORS_REPO} (code at {AUTHORS_COMMIT}) Lightning checkpoint",
        "file": path.name,
        "sha256": _sha256(path),
        **ckpt.info,
        "data_mean": float(mean),
        "data_std": float(std),
        "parameters": count_parameters(net),
        "placeholders": ckpt.placeholders,
        "architecture": arch.to_dict(),
    }
    return model


def save_imported(model, folder: str | os.PathLike) -> None:
    """Save a model from :func:`import_checkpoint` and its ``imported.json``.

    Parameters
    ----------
    model : structnoise.methods.dvlae.DVLAE
        From :func:`import_checkpoint`.
    folder : path-like
        Destination (created).
    """
    folder = Path(folder)
    model.save(folder)
    (folder / "imported.json").write_text(json.dumps(model.imported, indent=2) + "\n")
