"""What the measuring scripts record with every number: commit, machine, a portable command.

Used by the scripts in ``benchmarks/`` (and anything else that writes results), so that a
committed result names the code and the machine it came from and never a path of the
machine it was made on.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

#: The checkout this package lives in (when it is one).
ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows.

    Returns
    -------
    str
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def commit_label(root: str | os.PathLike = ROOT, paths: Sequence[str] = ("structnoise",)) -> str:
    """The short commit of ``root``, with `` (modified)`` when ``paths`` have changes.

    Parameters
    ----------
    root : path-like
        A git checkout.
    paths : sequence of str
        The paths whose uncommitted changes mark the label.

    Returns
    -------
    str
        E.g. ``"56a79de050"`` or ``"56a79de050 (modified)"``; ``"unknown"`` outside git.
    """
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=10", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", *paths],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + (" (modified)" if dirty else "")


def portable_argv(argv: Sequence[str], root: str | os.PathLike = ROOT) -> list[str]:
    """``argv`` without any absolute path of this machine.

    The program is named relative to ``root`` when it lies inside it, else by its file
    name (a console script such as ``structnoise``); an absolute path given to an option is
    replaced by the option's name in capitals (``--out /tmp/q`` -> ``--out OUT``,
    ``--authors /src/dvlae`` -> ``--authors AUTHORS``), any other absolute argument by
    ``PATH``.

    Parameters
    ----------
    argv : sequence of str
        ``sys.argv``.
    root : path-like
        The checkout scripts are named relative to.

    Returns
    -------
    list of str
    """
    root = Path(root).resolve()
    words: list[str] = []
    previous = ""
    for i, arg in enumerate(argv):
        if i == 0:
            prog = Path(arg).resolve()
            words.append(str(prog.relative_to(root)) if root in prog.parents else prog.name)
        elif os.path.isabs(arg):
            option = previous.lstrip("-").replace("-", "_").upper()
            words.append(option if previous.startswith("--") else "PATH")
        elif arg.startswith("--") and "=" in arg and os.path.isabs(arg.split("=", 1)[1]):
            name = arg.split("=", 1)[0]
            words.append(f"{name}={name.lstrip('-').replace('-', '_').upper()}")
        else:
            words.append(arg)
        previous = arg
    return words


def portable_command(argv: Sequence[str], root: str | os.PathLike = ROOT) -> str:
    """``python SCRIPT ARGS`` for a script's ``sys.argv`` (see :func:`portable_argv`).

    Parameters
    ----------
    argv : sequence of str
        ``sys.argv``.
    root : path-like
        The checkout scripts are named relative to.

    Returns
    -------
    str
        ``"python benchmarks/x.py --out OUT ..."``.
    """
    return " ".join(["python", *portable_argv(argv, root)])
