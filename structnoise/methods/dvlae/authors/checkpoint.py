"""Reading the authors' DVLAE checkpoints safely (``weights_only=True``).

:func:`read_checkpoint` loads a Lightning checkpoint of the authors' notebooks safely:
with ``torch.load(weights_only=True)``. Their ``DVLAE`` module saves its hyperparameters,
which include the pickled sub-modules themselves; the classes named in the checkpoint
(the authors' packages, ``torch.nn`` modules, NumPy scalars) are then allowlisted as
*inert placeholders*: objects that only hold the pickled attributes, so no code of the
checkpoint runs. Anything else is refused with the list of what it names.
:func:`structnoise.methods.dvlae.authors.import_checkpoint` writes a saved ``dvlae-small`` /
``dvlae-large`` model that ``structnoise denoise`` loads (``structnoise import-authors``).

Re-exported by :mod:`structnoise.methods.dvlae.authors`.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from structnoise.methods.dvlae.authors.mapping import AuthorsFormatError

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


def _not_a_checkpoint(path: Path, exc: BaseException) -> AuthorsFormatError:
    """The refusal of a file torch cannot read as a checkpoint (``exc``: why)."""
    detail = (str(exc).splitlines() or [""])[0][:160] or type(exc).__name__
    return AuthorsFormatError(
        f"{path.name} is not a torch checkpoint ({type(exc).__name__}: {detail}); give the "
        "authors' final_model.ckpt or a state dict saved with torch.save"
    )


def _load_weights_only(path: Path) -> tuple[Any, list[str]]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True), []
    except pickle.UnpicklingError:
        pass
    except Exception as exc:  # noqa: BLE001 - any file: torch's reader fails in many ways
        raise _not_a_checkpoint(path, exc) from None
    try:
        names = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception as exc:  # noqa: BLE001 - as above
        raise _not_a_checkpoint(path, exc) from None
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
