"""Dataset commands: ``datasets list|fetch``, ``synth`` and ``analyze``.

Examples::

    structnoise datasets list                       # every dataset, source, size, status
    structnoise datasets fetch convallaria-a        # download into the data cache
    structnoise synth stripe clean.tif noisy.tif --seed 0
    structnoise synth checkerboard images/ noisy.tif --seed 1 --write-clean clean01.tif
    structnoise analyze noisy.tif                   # first line: axis: horizontal|vertical|none
    structnoise analyze noisy.tif --clean clean01.tif --plot noise.png
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from structnoise._cli_util import fail
from structnoise.datasets.catalog import DatasetKind, DatasetStatus
from structnoise.datasets.synthetic import NoiseKind, Scaling

datasets_app = typer.Typer(
    help="List and download the datasets (cache: $STRUCTNOISE_DATA).", no_args_is_help=True
)


@datasets_app.command("list")
def list_command() -> None:
    """Show every dataset: name, source, size and status (cached, downloadable, ...)."""
    from rich.console import Console
    from rich.table import Table

    from structnoise.datasets import data_dir, list_datasets

    table = Table(title=f"datasets (cache: {data_dir()})")
    for col in ("name", "source", "size", "status"):
        table.add_column(col, overflow="fold")
    notes = []
    for info in list_datasets():
        table.add_row(info.name, info.source, info.size, info.status)
        if info.status in (DatasetStatus.UNAVAILABLE, DatasetStatus.NEEDS_PATH) and info.note:
            notes.append(f"{info.name}: {info.note}")
    console = Console(width=max(Console().width, 110))
    console.print(table)
    for note in dict.fromkeys(notes):
        console.print(note, highlight=False)


@datasets_app.command("fetch")
def fetch_command(
    name: Annotated[str, typer.Argument(help="Dataset name (see `structnoise datasets list`).")],
    base_url: Annotated[
        str | None,
        typer.Option(help="Mirror serving the registry files (default $STRUCTNOISE_BASE_URL)."),
    ] = None,
    retries: Annotated[int, typer.Option(help="Extra attempts after a failure.")] = 3,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Download a dataset into the data cache (or build an embedded one)."""
    from structnoise.datasets import fetch_dataset, get_entry

    try:
        entry = get_entry(name)
        kwargs = {}
        if entry.kind == DatasetKind.DOWNLOAD:
            kwargs = {"base_url": base_url, "retries": retries, "progress": progress}
        paths = fetch_dataset(name, **kwargs)
    except (ValueError, LookupError, OSError, RuntimeError) as exc:
        raise fail(exc) from exc
    for p in paths:
        typer.echo(f"{entry.name}: {p}")


def synth_command(
    kind: Annotated[NoiseKind, typer.Argument(help="Noise of the paper's section 5.1.")],
    clean: Annotated[
        Path, typer.Argument(help="Clean images: a TIFF stack (N, Y, X), an image or a folder.")
    ],
    out: Annotated[
        Path, typer.Argument(help="Where to write the noisy float32 images (.tif or .npy).")
    ],
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same noise).")] = 0,
    scale: Annotated[
        Scaling,
        typer.Option(
            help="Scaling of CLEAN to [0, 1], the range the paper's constants assume: auto = "
            "keep data already in [0, 1], divide 8-bit data (integers 0..255) by 255, else "
            "min-max over the whole stack."
        ),
    ] = Scaling.AUTO,
    write_clean: Annotated[
        Path | None,
        typer.Option(help="Also write the scaled clean stack here (for `analyze --clean`)."),
    ] = None,
    axes: Annotated[
        str | None,
        typer.Option(
            help="Axes of CLEAN (YX, SYX, YXC, CYX, ...): every channel gets noise of its "
            "own and the output keeps CLEAN's layout. Default: what the file says, else "
            "YX / SYX; ambiguous shapes must be named."
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace OUT (and --write-clean) if they exist (never CLEAN).")
    ] = False,
    gray: Annotated[
        bool,
        typer.Option(
            "--gray",
            help="Average the colour channels (axis C) to grey first, as the paper did for "
            "FFHQ; without it every channel gets noise of its own.",
        ),
    ] = False,
) -> None:
    """Add the paper's synthetic stripe or checkerboard noise to clean images."""
    import numpy as np

    from structnoise.axes import to_stack
    from structnoise.datasets.synthetic import GENERATORS, scale_to_unit
    from structnoise.io import check_output_format, read_image, write_image
    from structnoise.utils import check_output_file, same_file

    try:
        check_output_file(out, [clean], overwrite=overwrite)
        check_output_format(out)
        if write_clean is not None:
            check_output_file(write_clean, [clean], overwrite=overwrite)
            check_output_format(write_clean)
            if same_file(write_clean, out):
                raise ValueError(f"--write-clean and OUT are the same file {out}")
        arr, found = read_image(clean, axes)
        if gray and "C" in found:
            arr = arr.astype(np.float32).mean(axis=found.index("C"))
            found = found.replace("C", "")
        stack, layout = to_stack(arr, found)
        unit = scale_to_unit(stack, scale.value)
        noisy = GENERATORS[kind.value](unit, np.random.default_rng(seed))
        write_image(out, layout.restore(noisy), found)
        if write_clean is not None:
            write_image(write_clean, layout.restore(unit.astype(np.float32)), found)
    except (ValueError, OSError) as exc:
        raise fail(exc) from exc
    typer.echo(
        f"wrote {out} ({kind.value} noise, shape {tuple(arr.shape)}, axes {found}, seed {seed})"
    )


def analyze_command(
    noisy: Annotated[Path, typer.Argument(help="Noisy TIFF stack, image or folder.")],
    clean: Annotated[
        Path | None, typer.Option(help="Ground truth in the same units (noise = noisy - clean).")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Save the autocorrelation / variance figure (PNG and SVG)."),
    ] = None,
    max_lag: Annotated[int, typer.Option(help="Largest lag of the plotted map.")] = 20,
    axes: Annotated[
        str | None,
        typer.Option(help="Axes of NOISY (and CLEAN): YX, SYX, YXC, CYX, ... (see `denoise`)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the --plot figures if they exist (never an input).")
    ] = False,
) -> None:
    """Report the structured-noise axis: first line `axis: horizontal|vertical|none`."""
    from structnoise.datasets.analysis import figure_paths, plot_noise_analysis, propose_axis
    from structnoise.io import read_stack
    from structnoise.utils import check_output_file

    try:
        if plot is not None:
            for fig in figure_paths(plot):
                check_output_file(fig, [noisy, clean], overwrite=overwrite)
        x = read_stack(noisy, axes)
        c = read_stack(clean, axes) if clean is not None else None
        proposal = propose_axis(x, c)
        if plot is not None:
            plot_noise_analysis(x, c, path=plot, max_lag=max_lag)
    except (ValueError, OSError) as exc:
        raise fail(exc) from exc
    typer.echo(str(proposal))
    if plot is not None:
        typer.echo("figure: " + ", ".join(str(p) for p in figure_paths(plot)))


def add_commands(app: typer.Typer) -> None:
    """Add ``datasets list|fetch``, ``synth`` and ``analyze`` to the CLI.

    Parameters
    ----------
    app : typer.Typer
        The ``structnoise`` application.
    """
    app.add_typer(datasets_app, name="datasets")
    app.command("synth")(synth_command)
    app.command("analyze")(analyze_command)
