"""The run folder: its layout, its cell records, and the check before writing into it.

Every file a run writes is named here, so that the runner, the results table, the report
and the slurm executor agree on one layout::

    RUN_DIR/
      run.json               the marker: run id, kind, version, dates (written first)
      config.yaml            this call's configuration (slurm jobs read it);
      config.<n>.yaml        earlier, different configurations of the folder
      provenance.json        git commit, package versions, machine, calls
      cells/<cell_id>.json   one record per finished cell (the source of truth)
      denoised/<cell_id>.tif denoised test images (``save_denoised``)
      models/<cell_id>/      saved models (``save_model``)
      noise_samples/<cell_id>.npz   noise drawn from a fitted model (Fig. 5)
      examples/<dataset>.npz        first test image of each dataset (figure grids)
      work/<cell_id>/        a method's scratch files while its cell runs
      submitit/              the slurm executor's scripts and logs
      results.parquet, results.csv  the tidy table rebuilt from ``cells/``
      table1.md, report.md, report.json, fig*.png ...  the reports

This module imports no other module of :mod:`structnoise.benchmark` except the leaf
:mod:`.errors`: it is what the others share.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from structnoise.benchmark.errors import ConfigError
from structnoise.provenance import (
    ROOT,
    git_state,
    machine_info,
    package_versions,
    portable_argv,
)
from structnoise.utils import atomic_path, remove_stale_temps

#: The file that marks a structnoise run folder: written first when a run folder is
#: created (every structnoise version has written it, with a ``run_id``).
RUN_MARKER = "run.json"
RUN_KIND = "structnoise-run"
CONFIG_FILE = "config.yaml"
PROVENANCE_FILE = "provenance.json"
CELLS_DIR = "cells"
DENOISED_DIR = "denoised"
MODELS_DIR = "models"
NOISE_SAMPLES_DIR = "noise_samples"
EXAMPLES_DIR = "examples"
WORK_DIR = "work"
SUBMITIT_DIR = "submitit"
TABLE_PARQUET = "results.parquet"
TABLE_CSV = "results.csv"
TABLE1_MD = "table1.md"
REPORT_JSON = "report.json"


class RunFolderError(ConfigError):
    """The output folder is not empty and is not a structnoise run folder."""


# --------------------------------------------------------------------------- small helpers
def now() -> str:
    """The current UTC time, ISO 8601 to the second (the records' time stamps)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def safe_name(text: str) -> str:
    """``text`` with every run of characters other than ``A-Za-z0-9._-`` made one ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (NumPy values as numbers, anything else as text).

    Parameters
    ----------
    path : pathlib.Path
        The destination.
    data : object
        Anything JSON can hold.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=_json_default, allow_nan=True))


def write_text(path: Path, text: str) -> Path:
    """Write a text file atomically and return its path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


# --------------------------------------------------------------------------- paths
def record_path(run_dir: Path, cell_id: str) -> Path:
    """Where a cell's record lives."""
    return Path(run_dir) / CELLS_DIR / f"{cell_id}.json"


def denoised_relpath(cell_id: str) -> Path:
    """The denoised images of a cell, relative to the run folder (as records keep it)."""
    return Path(DENOISED_DIR) / f"{cell_id}.tif"


def model_relpath(cell_id: str) -> Path:
    """The saved model of a cell, relative to the run folder."""
    return Path(MODELS_DIR) / cell_id


def noise_sample_relpath(cell_id: str) -> Path:
    """The noise sampled from a cell's fitted model, relative to the run folder."""
    return Path(NOISE_SAMPLES_DIR) / f"{cell_id}.npz"


def example_path(run_dir: Path, dataset: str) -> Path:
    """The kept first test image of a dataset."""
    return Path(run_dir) / EXAMPLES_DIR / f"{safe_name(dataset)}.npz"


def work_path(run_dir: Path, cell_id: str) -> Path:
    """A cell's scratch folder (removed when the cell ends)."""
    return Path(run_dir) / WORK_DIR / cell_id


# --------------------------------------------------------------------------- records
def read_records(run_dir: Path) -> dict[str, dict]:
    """All cell records of a run folder, by cell id (unreadable files are ignored).

    Parameters
    ----------
    run_dir : pathlib.Path
        The run folder.

    Returns
    -------
    dict
        ``{cell_id: record}``.
    """
    records = {}
    for path in sorted((Path(run_dir) / CELLS_DIR).glob("*.json")):
        if path.name.startswith("."):  # a temporary file, not a record
            continue
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict):
            records[rec.get("cell_id", path.stem)] = rec
    return records


def unreadable_records(run_dir: Path) -> list[Path]:
    """The cell records of a run folder that :func:`read_records` could not read.

    Parameters
    ----------
    run_dir : pathlib.Path
        The run folder.

    Returns
    -------
    list of pathlib.Path
        Files under ``cells/`` that are not a JSON object (damaged, truncated or edited).
    """
    bad = []
    for path in sorted((Path(run_dir) / CELLS_DIR).glob("*.json")):
        try:
            ok = isinstance(json.loads(path.read_text()), dict)
        except (OSError, ValueError):
            ok = False
        if not ok:
            bad.append(path)
    return bad


def read_record(run_dir: Path, cell_id: str) -> dict | None:
    """One cell's record, or None when it is not (readably) recorded."""
    try:
        return json.loads(record_path(run_dir, cell_id).read_text())
    except (OSError, ValueError):
        return None


def write_record(run_dir: Path, rec: dict) -> None:
    """Write one finished cell atomically."""
    write_json(record_path(run_dir, rec["cell_id"]), rec)


def read_json(path: Path) -> dict:
    """A JSON object from a file, or ``{}`` when it is missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# --------------------------------------------------------------------------- the folder
def is_run_folder(path: str | Path) -> bool:
    """Whether ``path`` is a run folder written by ``structnoise run``.

    A run folder holds ``run.json``, a JSON object with a ``run_id`` (written when the
    folder is created, before anything else, by every structnoise version).

    Parameters
    ----------
    path : str or pathlib.Path
        A folder.

    Returns
    -------
    bool
    """
    return isinstance(read_json(Path(path) / RUN_MARKER).get("run_id"), str)


def check_run_folder(path: str | Path) -> None:
    """Refuse an output folder that would overwrite someone else's files.

    A folder that does not exist, an empty folder and a run folder
    (:func:`is_run_folder`, resumed) are accepted; anything else is refused before
    anything is written.

    Parameters
    ----------
    path : str or pathlib.Path
        The run's output folder.

    Raises
    ------
    RunFolderError
        With a one-line message.
    """
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise RunFolderError(
            f"refusing to write the run into {path}: it is a symbolic link to "
            f"{os.readlink(path)}, which is missing; create that folder or give --out "
            "another folder"
        )
    if not path.exists():
        return
    if not path.is_dir():
        raise RunFolderError(f"refusing to write the run into {path}: it is a file, not a folder")
    try:
        empty = next(path.iterdir(), None) is None
    except OSError as exc:
        raise RunFolderError(f"cannot read the output folder {path}: {exc}") from exc
    if empty or is_run_folder(path):
        return
    raise RunFolderError(
        f"refusing to write the run into {path}: the folder is not empty and is not a "
        f"structnoise run folder (it has no {RUN_MARKER}); give --out a new or empty folder"
    )


def _keep_config(run_dir: Path, text: str) -> Path:
    """Keep an earlier ``config.yaml`` as ``config.<n>.yaml`` (n = 1, 2, ...)."""
    n = 1
    while (run_dir / f"config.{n}.yaml").exists():
        if (run_dir / f"config.{n}.yaml").read_text() == text:
            return run_dir / f"config.{n}.yaml"  # already kept
        n += 1
    return write_text(run_dir / f"config.{n}.yaml", text)


def prepare_run_dir(cfg, *, echo=None) -> tuple[Path, str]:
    """Create the run folder, keep the run id across restarts, write the config.

    ``config.yaml`` is this call's configuration (the slurm jobs read it); when a resumed
    run's recorded configuration differs, the earlier one is first kept as
    ``config.<n>.yaml`` (and listed in ``run.json``), never overwritten.

    Parameters
    ----------
    cfg : RunConfig
        The configuration of this call (its ``out_dir``, ``name`` and ``to_yaml``).
    echo : callable, optional
        Where to say that an earlier configuration was kept.

    Returns
    -------
    tuple of (pathlib.Path, str)
        The run folder and the run id.

    Raises
    ------
    RunFolderError
        If the folder is not empty and is not a run folder (nothing is written).
    """
    from structnoise import __version__

    run_dir = cfg.out_dir
    check_run_folder(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(run_dir)  # what an interrupted run or report left half-written
    meta_path = run_dir / RUN_MARKER
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        meta = {
            "run_id": f"{safe_name(cfg.name)}-{stamp}",
            "kind": RUN_KIND,
            "structnoise_version": __version__,
            "created": now(),
        }
    meta["updated"] = now()
    config_path, text = run_dir / CONFIG_FILE, cfg.to_yaml()
    if config_path.exists():
        old = config_path.read_text()
        if old != text:
            kept = _keep_config(run_dir, old)
            meta.setdefault("previous_configs", [])
            if kept.name not in meta["previous_configs"]:
                meta["previous_configs"].append(kept.name)
            if echo is not None:
                echo(
                    f"the configuration differs from the one recorded in {config_path}: "
                    f"the earlier one is kept as {kept}"
                )
    write_json(meta_path, meta)
    write_text(config_path, text)
    return run_dir, meta["run_id"]


def write_provenance(
    run_dir: Path, cfg, run_id: str, *, finished: bool, wall_s: float | None = None
) -> Path:
    """Write ``provenance.json``: git commit, package versions, machine and config.

    Written when a call of ``structnoise run`` starts (a new entry of ``calls``) and when
    it ends; the probing is :mod:`structnoise.provenance`'s.

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
        calls.append({"started": now(), "argv": portable_argv(sys.argv)})
    elif calls:
        calls[-1].update(finished=now(), wall_s=wall_s)
    data = {
        "run_id": run_id,
        # the checkout's folder name, not its path
        "git": {"source": ROOT.name, **git_state(ROOT)},
        "packages": package_versions(),
        "machine": machine_info(),
        "config": cfg.model_dump(mode="json"),
        "calls": calls,
    }
    write_json(path, data)
    return path
