"""The ``structnoise`` command.

Each part of the suite adds its own commands through an ``add_commands(app)`` function
in its ``cli`` module (datasets, methods, benchmark); heavy libraries (torch, careamics)
are imported inside the commands, so ``structnoise --help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="structnoise",
    help="Remove structured, signal-dependent noise without clean data (DVLAE) and "
    "benchmark it against its baselines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_COMMAND_MODULES = (
    "structnoise.datasets.cli",
    "structnoise.methods.cli",
    "structnoise.benchmark.cli",
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        from structnoise import __version__

        typer.echo(__version__)
        raise typer.Exit()


for _module in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as _exc:
        if _exc.name != _module:
            raise
        continue
    _mod.add_commands(app)


def main() -> None:
    """Entry point of the ``structnoise`` console script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
