"""``structnoise import-authors``: a checkpoint of the authors' DVLAE as a saved model.

Example::

    structnoise import-authors checkpoints/convallaria/final_model.ckpt --out model/
    structnoise denoise model/ noisy.tif denoised.tif

The mapping and the safe loading are in :mod:`structnoise.methods.dvlae.authors` (imported
inside the command: torch loads only when it runs).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from structnoise._cli_util import describe_unhandled, fail
from structnoise._validate import NoiseAxis


class Preset(StrEnum):
    """The paper's two models."""

    SMALL = "small"
    LARGE = "large"


def import_authors_command(
    checkpoint: Annotated[
        Path,
        typer.Argument(help="Lightning checkpoint (or state dict) of the authors' DVLAE."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to save the model in.")],
    axis: Annotated[
        NoiseAxis | None,
        typer.Option(help="Expected axis of the AR decoder (default: read from the checkpoint)."),
    ] = None,
    preset: Annotated[
        Preset | None,
        typer.Option(
            help="Expected model (default: read from the checkpoint's sizes; required when "
            "they are neither the small nor the large model)."
        ),
    ] = None,
    mean: Annotated[
        float | None,
        typer.Option(help="Data mean of the normalisation (default: the checkpoint's)."),
    ] = None,
    std: Annotated[
        float | None,
        typer.Option(help="Data standard deviation (default: the checkpoint's)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a structnoise model (or an empty folder) in --out.")
    ] = False,
) -> None:
    """Import the weights of the authors' DVLAE (krulllab/DVLAE) for `structnoise denoise`.

    Read with torch.load(weights_only=True): their pickled modules become inert placeholders;
    a file naming any other code is refused.
    """
    from structnoise.methods.dvlae.authors import (
        AuthorsFormatError,
        import_checkpoint,
        save_imported,
    )
    from structnoise.utils import check_model_dir, save_model_dir

    try:
        check_model_dir(out, [checkpoint], overwrite=overwrite)
        model = import_checkpoint(
            checkpoint,
            axis=None if axis is None else axis.value,
            preset=None if preset is None else preset.value,
            mean=mean,
            std=std,
        )
    except (AuthorsFormatError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None
    try:
        save_model_dir(lambda folder: save_imported(model, folder), out)
    except ValueError as exc:
        raise fail(f"could not save the model: {exc}") from None
    except OSError as exc:  # a full disk or a read-only folder
        raise fail(f"could not save the model: {describe_unhandled(exc)}") from None
    info = model.imported
    step = f", epoch {info['epoch']}, step {info['global_step']}" if "epoch" in info else ""
    typer.echo(
        f"imported {info['file']}{step}: {model.name}, axis {model.arch.axis}, "
        f"rf {model.arch.rf}, {info['parameters']:,} parameters, normalisation "
        f"mean {info['data_mean']:g} std {info['data_std']:g}"
    )
    typer.echo(f"saved {model.name} to {out} (denoise with `structnoise denoise {out} ...`)")
