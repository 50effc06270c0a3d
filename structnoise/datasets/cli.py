"""Dataset commands: ``datasets list|fetch``, ``synth`` and ``analyze``.

Examples::

    structnoise datasets list                       # every dataset, source, size, status
    structnoise datasets fetch convallaria-a        # download into the data cache
    structnoise synth stripe clean.tif noisy.tif --seed 0
    structnoise synth checkerboard images/ noisy.tif --seed 1 --write-clean clean01.tif
    structnoise analyze noisy.tif                   # first line: axis: horizontal|vertical|none
    structnoise analyze noisy.tif --clean clean01.tif --plot noise.png
    structnoise synth readout clean_zyx.tif noisy_zyx.tif --axes ZYX   # read-out along z
    structnoise analyze noisy_zyx.tif --axes ZYX --ndim 3   # axis: z|vertical|horizontal|none
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from structnoise._cli_util import describe_unhandled, fail
from structnoise.datasets.catalog import DatasetKind, DatasetStatus
from structnoise.datasets.synthetic import Scaling


class SynthKind(StrEnum):
    """The noises ``structnoise synth`` adds."""

    STRIPE = "stripe"
    CHECKERBOARD = "checkerboard"
    #: Volumes only: a camera read-out pattern correlated along the depth axis.
    READOUT = "readout"


#: Help of ``--ndim`` (``synth`` and ``analyze``).
NDIM_HELP = (
    "2: every plane is an image of its own; 3: volumes, the depth axis Z (or T when the "
    "axes have no Z) is a spatial axis too, so noise can correlate along it."
)


def volumes_of(arr, axes: str):
    """Fold an array into volumes ``(N, D, Y, X)`` along its depth axis.

    Parameters
    ----------
    arr : numpy.ndarray
        The data, with axes ``axes``.
    axes : str
        Its axes string; the depth axis is ``Z``, or ``T`` when there is no ``Z``.

    Returns
    -------
    volumes : numpy.ndarray
        ``(N, D, Y, X)``, every other axis (S, T, C) folded into ``N``.
    restore : callable
        Puts an ``(N, D, Y, X)`` result back into ``arr``'s shape and axis order.

    Raises
    ------
    ValueError
        When the axes hold neither ``Z`` nor ``T``.
    """
    import numpy as np

    depth = "Z" if "Z" in axes else "T" if "T" in axes else None
    if depth is None:
        raise ValueError(
            f"--ndim 3 needs volumes, but the axes are {axes}: pass --axes ZYX (or SZYX, "
            "TZYX, CZYX, TYX for a time series read as a volume)"
        )
    order = [i for i, c in enumerate(axes) if c not in (depth, "Y", "X")]
    order += [axes.index(depth), axes.index("Y"), axes.index("X")]
    moved = np.transpose(arr, order)

    def restore(vols):
        return np.transpose(np.asarray(vols).reshape(moved.shape), np.argsort(order))

    return moved.reshape((-1, *moved.shape[-3:])), restore


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
    kind: Annotated[
        SynthKind,
        typer.Argument(
            help="Noise of the paper's section 5.1 (stripe, checkerboard; along Z too with "
            "--ndim 3), or readout: a camera read-out pattern repeating plane after plane "
            "(volumes only, implies --ndim 3)."
        ),
    ],
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
    ndim: Annotated[
        int | None,
        typer.Option(
            min=2,
            max=3,
            help=NDIM_HELP + " Default: 3 for readout, else 2 (as before).",
        ),
    ] = None,
) -> None:
    """Add the paper's synthetic stripe or checkerboard noise (or read-out noise) to clean data."""
    import numpy as np

    from structnoise._validate import as_stack
    from structnoise.axes import to_stack
    from structnoise.datasets.synthetic import GENERATORS, scale_to_unit
    from structnoise.datasets.volume_noise import VOLUME_GENERATORS
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
        if ndim is None:
            ndim = 3 if kind == SynthKind.READOUT else 2
        if ndim == 2 and kind == SynthKind.READOUT:
            raise ValueError("readout noise is correlated along Z: it needs --ndim 3 volumes")
        if ndim == 3:
            stack, restore = volumes_of(arr, found)
            generate = VOLUME_GENERATORS[kind.value]
        else:
            stack, layout = to_stack(arr, found)
            restore, generate = layout.restore, GENERATORS[kind.value]
        # NaN, infinite or huge values, named by file
        as_stack(stack.reshape(-1, *stack.shape[-2:]), name=str(clean))
        unit = scale_to_unit(stack, scale.value)
        warning = _scaling_warning(unit, scale.value)
        if warning:
            typer.echo(f"warning: {warning}", err=True)
        noisy = generate(unit, np.random.default_rng(seed))
        write_image(out, restore(noisy), found)
        if write_clean is not None:
            write_image(write_clean, restore(unit.astype(np.float32)), found)
    except ValueError as exc:
        raise fail(exc) from None
    except OSError as exc:  # a full disk, a read-only folder, a missing file
        raise fail(describe_unhandled(exc)) from None
    typer.echo(
        f"wrote {out} ({kind.value} noise, {ndim}-D, shape {tuple(arr.shape)}, axes {found}, "
        f"seed {seed})"
    )


def _scaling_warning(unit, mode: str) -> str | None:
    """Why the scaled clean images make the paper's noise meaningless (None: they do not).

    The paper's noise constants assume clean images in [0, 1]: far above it the noise is
    negligible, far below it the noise buries the signal.
    """
    lo, hi = float(unit.min()), float(unit.max())
    if hi > 2.0:
        effect = "negligible next to the signal"
    elif hi < 0.1 or lo < -1.0:
        effect = "far stronger than the signal"
    else:
        return None
    return (
        f"after --scale {mode} the clean images span [{lo:.4g}, {hi:.4g}], not [0, 1] as the "
        f"paper's noise constants assume: the noise will be {effect}; use --scale auto or minmax"
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
    ndim: Annotated[
        int,
        typer.Option(
            min=2,
            max=3,
            help=NDIM_HELP + " With 3 the correlations along z, y and x are measured and "
            "the axis may be z.",
        ),
    ] = 2,
) -> None:
    """Report the structured-noise axis: first line `axis: horizontal|vertical|none` (or z)."""
    from structnoise._validate import as_stack
    from structnoise.datasets.analysis import figure_paths, plot_noise_analysis
    from structnoise.datasets.axis_proposal import propose_axis, propose_volume_axis
    from structnoise.io import read_image, read_stack
    from structnoise.utils import check_output_file

    try:
        if plot is not None:
            for fig in figure_paths(plot):
                check_output_file(fig, [noisy, clean], overwrite=overwrite)
        if ndim == 3:
            x = volumes_of(*read_image(noisy, axes))[0]
            c = volumes_of(*read_image(clean, axes))[0] if clean is not None else None
            as_stack(x.reshape(-1, *x.shape[-2:]), name=str(noisy))
            if c is not None:
                as_stack(c.reshape(-1, *c.shape[-2:]), name=str(clean))
            proposal = propose_volume_axis(x, c)
            # the figure shows the planes' (y, x) map
            x = x.reshape(-1, *x.shape[-2:])
            c = c.reshape(-1, *c.shape[-2:]) if c is not None else None
        else:
            x = as_stack(read_stack(noisy, axes), name=str(noisy))[0]
            c = as_stack(read_stack(clean, axes), name=str(clean))[0] if clean is not None else None
            proposal = propose_axis(x, c)
        if plot is not None:
            plot_noise_analysis(x, c, path=plot, max_lag=max_lag)
    except ValueError as exc:
        raise fail(exc) from None
    except OSError as exc:
        raise fail(describe_unhandled(exc)) from None
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
