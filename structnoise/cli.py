"""The ``structnoise`` command.

Each part of the suite adds its own commands through an ``add_commands(app)`` function
in its ``cli`` module (datasets, methods, benchmark); heavy libraries (torch, careamics)
are imported inside the commands, so ``structnoise --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import typer
from typer.core import TyperGroup

from structnoise._cli_util import TRACEBACK_ENV, describe_unhandled


class _OneLineErrors(TyperGroup):
    """The root command: an exception no command caught becomes one ``error:`` line.

    Exit status 1, no traceback (a full disk, a read-only folder, a plugin's bug); the
    traceback is shown when the environment variable ``STRUCTNOISE_TRACEBACK`` is 1.
    Exits, usage errors and interrupts (``KeyboardInterrupt``) pass through unchanged.
    """

    def invoke(self, ctx) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if isinstance(exc, typer.Exit | typer.Abort | SystemExit) or _is_click(exc):
                raise
            if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
                raise
            typer.echo(f"error: {describe_unhandled(exc)}", err=True)
            raise typer.Exit(code=1) from None


def _is_click(exc: BaseException) -> bool:
    """Whether ``exc`` is a usage error of the command-line parser (printed by it)."""
    return any(c.__name__ in ("ClickException", "Exit", "Abort") for c in type(exc).__mro__)


app = typer.Typer(
    cls=_OneLineErrors,
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
