"""Where a number comes from: commit, package versions, machine, a portable command.

The one place the code, the machine and the installed packages are probed: the scripts in
``benchmarks/`` record them with every result, and a benchmark run's ``provenance.json``
(:func:`structnoise.benchmark.runfolder.write_provenance`) holds them, so that a result
names the code and the machine it came from and never a path of the machine it was made
on.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

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


#: The packages a run's numbers depend on (:func:`package_versions`).
PACKAGES = (
    "structnoise",
    "numpy",
    "scipy",
    "torch",
    "lightning",
    "careamics",
    "scikit-image",
    "microssim",
    "bm3d",
    "pandas",
    "pyarrow",
    "pydantic",
    "submitit",
    "matplotlib",
    "seaborn",
)


def git_state(
    root: str | os.PathLike = ROOT, paths: Sequence[str] = (), *, untracked: bool = False
) -> dict[str, Any]:
    """The commit of a checkout and whether it has changes.

    Parameters
    ----------
    root : path-like
        A git checkout.
    paths : sequence of str
        Only changes under these paths count (all when empty).
    untracked : bool
        Whether untracked files count as changes.

    Returns
    -------
    dict
        ``{"commit": full sha, "dirty": bool}``; both None outside git.
    """
    git = ["git", "-C", str(root)]
    status = [*git, "status", "--porcelain"]
    if not untracked:
        status.append("--untracked-files=no")
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        changes = subprocess.run(
            [*status, "--", *paths], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(changes.strip())}


def machine_info() -> dict[str, Any]:
    """The machine: host, platform, CPU model and cores, memory, torch threads, GPUs.

    Returns
    -------
    dict
        ``hostname, platform, processor, cpu_model, python, cpu_count``, and where known
        ``cpu_affinity`` (cores this process may use), ``memory_gb``, ``torch_threads``
        and ``gpus`` (torch only when it is already imported).
    """
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
    }
    with contextlib.suppress(AttributeError):  # not Linux
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    with contextlib.suppress(ValueError, OSError, AttributeError):
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * size / 1024**3, 1)
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def package_versions() -> dict[str, str | None]:
    """The installed versions of :data:`PACKAGES` (None: not installed).

    Returns
    -------
    dict
    """
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


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
    state = git_state(root, paths, untracked=True)
    if state["commit"] is None:
        return "unknown"
    return state["commit"][:10] + (" (modified)" if state["dirty"] else "")


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
