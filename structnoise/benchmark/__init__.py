"""Benchmark runner, results table, and the paper's tables and figures.

>>> from structnoise.benchmark import load_config, run, report  # doctest: +SKIP
>>> result = run("quick", out="runs/quick")  # doctest: +SKIP
>>> result.table.query("status == 'ok'")[["method", "dataset", "value"]]  # doctest: +SKIP
>>> report("runs/quick")  # doctest: +SKIP

Modules: :mod:`.config` (run configuration, grids, cell seeds), :mod:`.runner` (running
cells, resuming), :mod:`.slurm` (submitit job arrays), :mod:`.results` (the tidy table,
provenance), :mod:`.tables` (Table 1), :mod:`.plots` (figures), :mod:`.report`.
Names are imported on first use, so ``structnoise --help`` stays fast.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "RunConfig": "structnoise.benchmark.config",
    "MethodSpec": "structnoise.benchmark.config",
    "ConfigError": "structnoise.benchmark.config",
    "load_config": "structnoise.benchmark.config",
    "expand_cells": "structnoise.benchmark.config",
    "shipped_configs": "structnoise.benchmark.config",
    "run": "structnoise.benchmark.runner",
    "RunResult": "structnoise.benchmark.runner",
    "read_table": "structnoise.benchmark.results",
    "report": "structnoise.benchmark.report",
    "build_table1": "structnoise.benchmark.tables",
    "paper_table1": "structnoise.benchmark.tables",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'structnoise.benchmark' has no attribute {name!r}")
