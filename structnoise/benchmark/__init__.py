"""Benchmark runner, results table, and the paper's tables and figures.

>>> from structnoise.benchmark import load_config, run, report  # doctest: +SKIP
>>> result = run("quick", out="runs/quick")  # doctest: +SKIP
>>> result.table.query("status == 'ok'")[["method", "dataset", "value"]]  # doctest: +SKIP
>>> report("runs/quick")  # doctest: +SKIP

Modules, by responsibility (no module imports one that imports it back):
:mod:`.config` (reading configurations),
:mod:`.schema` (the :class:`RunConfig` schema), :mod:`.methodspec` (``name[k=v]``
method entries), :mod:`.cells` (cells, seeds and cell plans), :mod:`.validation` (plugins,
name checks), :mod:`.loading` (datasets of a run), :mod:`.execute` (one cell: the fit
contract), :mod:`.records` (a cell's record), :mod:`.runfolder` (the run folder's layout,
records on disk, the folder check), :mod:`.progress`, :mod:`.runner` (the run loop,
resuming), :mod:`.slurm` (submitit job arrays),
:mod:`.results` (the tidy table, provenance), :mod:`.tables` (Table 1), :mod:`.plots`
(figures), :mod:`.compare` (merging other runs: ``report --with``), :mod:`.html`,
:mod:`.crops`, :mod:`.html_assets` (``report.html``), :mod:`.report`, :mod:`.choices` and
:mod:`.errors` (leaves).
Names are imported on first use, so ``structnoise --help`` stays fast.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "RunConfig": "structnoise.benchmark.schema",
    "MethodSpec": "structnoise.benchmark.methodspec",
    "ConfigError": "structnoise.benchmark.errors",
    "load_config": "structnoise.benchmark.config",
    "expand_cells": "structnoise.benchmark.cells",
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
