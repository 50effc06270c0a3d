"""The benchmark's closed sets of values, as string enums (a leaf module, imports nothing).

Their values are what files hold (``config.yaml``, cell records, ``results.csv``), so a
member compares equal to its string and files read back as before.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """How a cell ended (the ``status`` of its record and of its table rows)."""

    #: Fitted, denoised and scored.
    OK = "ok"
    #: The method raised (the record holds the error).
    FAILED = "failed"
    #: Could not run (no clean targets, dataset unavailable); the record says why.
    SKIPPED = "skipped"


class Executor(StrEnum):
    """Where the cells of a run are executed."""

    #: One after another in this process.
    LOCAL = "local"
    #: One slurm job per cell, a job array through submitit (:mod:`.slurm`).
    SLURM = "slurm"
