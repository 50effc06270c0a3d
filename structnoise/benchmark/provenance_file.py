"""A run's provenance file, ``provenance.json``: git commit, package versions, machine, config.

Written by :func:`write_provenance` when a call of ``structnoise run`` starts and when it
ends; :func:`package_versions` is also what the measuring scripts in ``benchmarks/``
record.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from structnoise.benchmark.runfolder import PROVENANCE_FILE, now, write_json

_PACKAGES = (
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


def _git_info() -> dict[str, Any]:
    src = Path(__file__).resolve().parents[2]
    info: dict[str, Any] = {"source": src.name}  # the checkout's folder name, not its path
    try:
        info["commit"] = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        info["dirty"] = bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        info["commit"] = None
        info["dirty"] = None
    return info


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
    }
    try:
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        pass
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * size / 1024**3, 1)
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def package_versions() -> dict[str, str | None]:
    """The installed versions of the packages a run's numbers depend on (None: absent)."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def write_provenance(
    run_dir: Path, cfg, run_id: str, *, finished: bool, wall_s: float | None = None
) -> Path:
    """Write ``provenance.json``: git commit, package versions, machine and config.

    Parameters
    ----------
    run_dir : pathlib.Path
        The run folder.
    cfg : RunConfig
        The configuration of this call.
    run_id : str
        The run id.
    finished : bool
        False when the run starts, True when it ends.
    wall_s : float, optional
        Wall time of the call (when finished).

    Returns
    -------
    pathlib.Path
    """
    path = run_dir / PROVENANCE_FILE
    previous: dict[str, Any] = {}
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except ValueError:
            previous = {}
    calls = previous.get("calls", [])
    if not finished:
        from structnoise.provenance import portable_argv

        calls.append({"started": now(), "argv": portable_argv(sys.argv)})
    elif calls:
        calls[-1].update(finished=now(), wall_s=wall_s)
    data = {
        "run_id": run_id,
        "git": _git_info(),
        "packages": package_versions(),
        "machine": _machine(),
        "config": cfg.model_dump(mode="json"),
        "calls": calls,
    }
    write_json(path, data)
    return path


#: The name the measuring scripts used before this module existed.
_versions = package_versions
