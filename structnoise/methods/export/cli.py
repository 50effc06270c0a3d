"""``structnoise export``: a saved model as a BioImage Model Zoo package.

Example::

    structnoise train dvlae-small noisy.tif --out model/ --direct
    structnoise export model/ model.zip --sample noisy.tif --test

What is written and which methods can be exported: :mod:`structnoise.methods.export`
(imported inside the command: torch and bioimageio load only when it runs).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from structnoise._cli_util import describe_unhandled, fail

#: What ``bioimageio.spec`` accepts as a model's name (checked before any work).
_NAME = re.compile(r"[A-Za-z0-9_+\- ()]{5,128}")


def export_command(
    model_dir: Annotated[Path, typer.Argument(help="Folder written by `structnoise train`.")],
    out: Annotated[Path, typer.Argument(help="The package to write (.zip).")],
    sample: Annotated[
        Path | None,
        typer.Option(help="An image like the training data: its centre becomes the test input."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Model name in the description.")] = None,
    test: Annotated[
        bool, typer.Option("--test", help="Run bioimageio.core's model test on the package.")
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Export a model with a one-pass network (DVLAE --direct, n2v, sn2v, care) for the BMZ."""
    from structnoise.utils import check_output_file

    if not (model_dir / "method.json").is_file():
        raise fail(f"{model_dir} is not a saved structnoise model (no method.json)")
    if name is not None and not _NAME.fullmatch(name):
        raise fail(
            f"--name {name!r}: a model name for the BioImage Model Zoo has 5 to 128 "
            "characters, only letters, digits, spaces and _+-() (e.g. 'stripe denoiser 1')"
        )
    try:
        check_output_file(out, [model_dir] + ([sample] if sample else []), overwrite=overwrite)
        from structnoise.io import read_stack
        from structnoise.methods.export import export_model, test_package

        image = None if sample is None else read_stack(sample)
        export_model(model_dir, out, sample=image, name=name)
    except KeyError as exc:
        raise fail(str(exc.args[0] if exc.args else exc)) from None
    except OSError as exc:  # a full disk or a read-only folder among them
        raise fail(describe_unhandled(exc)) from None
    except (ValueError, TypeError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {out} (weights: torchscript, pytorch_state_dict)")
    if test:
        summary = test_package(out)
        if summary.status != "passed":
            raise fail(f"bioimageio model test {summary.status} for {out}")
        typer.echo("bioimageio model test: passed")
