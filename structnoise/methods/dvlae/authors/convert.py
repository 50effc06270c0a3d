"""An authors' DVLAE checkpoint as a fitted ``dvlae-small`` / ``dvlae-large``.

:func:`import_checkpoint` reads the checkpoint safely
(:func:`~structnoise.methods.dvlae.authors.checkpoint.read_checkpoint`), finds our
architecture of its state dict and maps the tensors onto ours
(:mod:`~structnoise.methods.dvlae.authors.mapping`); :func:`save_imported` writes the
model that ``structnoise denoise`` loads (``structnoise import-authors``).

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

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from structnoise.methods.dvlae.authors.checkpoint import read_checkpoint
from structnoise.methods.dvlae.authors.mapping import (
    AuthorsFormatError,
    architecture_from_authors,
    from_authors,
    preset_of,
)
from structnoise.methods.dvlae.network import DVLAENet
from structnoise.utils import atomic_path

__all__ = ["AUTHORS_COMMIT", "AUTHORS_REPO", "import_checkpoint", "save_imported"]

#: The authors' code this mapping follows.
AUTHORS_REPO = "krulllab/DVLAE"
AUTHORS_COMMIT = "acbab39"


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
    with atomic_path(folder / "imported.json") as tmp:
        tmp.write_text(json.dumps(model.imported, indent=2) + "\n")
