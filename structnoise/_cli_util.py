"""Helpers shared by the command modules (``datasets.cli``, ``methods.cli``).

:func:`fail` prints a command's own one-line refusal; :func:`describe_unhandled` turns an
exception no command caught (a full disk, a read-only folder, a plugin's bug) into the
same kind of line, so that the ``structnoise`` command never prints a traceback
(``STRUCTNOISE_TRACEBACK=1`` shows it, for a bug report).
"""

from __future__ import annotations

import errno
import os
import re

import typer

#: Set this environment variable to 1 to see the traceback of an unexpected error.
TRACEBACK_ENV = "STRUCTNOISE_TRACEBACK"

_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)
#: What numpy (``tofile``) and torch (``torch.save``) say when a write stops short.
_SHORT_WRITE = re.compile(
    r"\d+ requested and \d+ written|unexpected pos|PytorchStreamWriter failed|file write failed"
    r"|No space left on device|Disk quota exceeded",
    re.IGNORECASE,
)

#: The temporary names of :func:`structnoise.utils.atomic_path` (``.name.XXXX.tmp.ext``).
_TEMP_NAME = re.compile(r"^\..+\.tmp(\.\w+)?$")

#: The same for errors that carry no errno (pyarrow's, for one).
_READ_ONLY = re.compile(r"Permission denied|Read-only file system", re.IGNORECASE)


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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def describe_unhandled(exc: BaseException) -> str:
    """One line saying what went wrong and what to do, for an exception nobody caught.

    Parameters
    ----------
    exc : BaseException
        The exception that ended a command.

    Returns
    -------
    str
        The line, without the ``error:`` prefix.
    """
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else None
        if where is not None and _TEMP_NAME.match(os.path.basename(str(where))):
            where = os.path.dirname(str(where)) or "."  # a temporary file: name its folder
        what = exc.strerror or _first_line(exc)
        if exc.errno in _DISK_FULL or _SHORT_WRITE.search(str(exc)):
            at = f" while writing {where}" if where else ""
            return (
                f"the disk is full{at} ({what}): free some space (or choose another output "
                "folder) and run the command again"
            )
        if exc.errno in _NOT_WRITABLE or _READ_ONLY.search(str(exc)):
            at = f"{where}: " if where else ""
            return (
                f"{at}{what}: the folder is not writable (read-only or not yours); copy the "
                "files somewhere you can write, or choose another output folder"
            )
        return f"{where}: {what}" if where else what
    if isinstance(exc, RuntimeError) and _SHORT_WRITE.search(str(exc)):
        return (
            f"a file could not be written completely ({_first_line(exc)}): the disk is "
            "probably full; free some space and run the command again"
        )
    if isinstance(exc, MemoryError):
        return (
            f"out of memory ({_first_line(exc)}): a setting or an input asks for more memory "
            "than this machine has; check the values you set (e.g. sizes, sigma) and the "
            "input's size"
        )
    return (
        f"unexpected {type(exc).__name__}: {_first_line(exc)} (a bug in structnoise or in a "
        f"plugin; run again with {TRACEBACK_ENV}=1 to see where, and report it)"
    )
