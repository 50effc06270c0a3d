"""Helpers shared by the command modules (``datasets.cli``, ``methods.cli``)."""

from __future__ import annotations

import typer


def fail(reason: str | BaseException) -> typer.Exit:
    """Print ``error: <reason>`` on stderr and return the exit to raise (status 1).

    Parameters
    ----------
    reason : str or BaseException
        The one-line reason (an exception is printed as its message).

    Returns
    -------
    typer.Exit
        Raise it: ``raise fail(exc) from None``.
    """
    typer.echo(f"error: {reason}", err=True)
    return typer.Exit(code=1)
