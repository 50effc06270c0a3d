"""Benchmark runner, results table, and the paper's tables and figures.

>>> from structnoise.benchmark import load_config, run, report  # doctest: +SKIP
>>> result = run("quick", out="runs/quick")  # doctest: +SKIP
>>> result.table.query("status == 'ok'")[["method", "dataset", "value"]]  # doctest: +SKIP
>>> report("runs/quick")  # doctest: +SKIP

Modules, by responsibility (no module imports one that imports it back), in the order a
cell goes through them (plan -> execute -> record -> table): :mod:`.config` (reading
configurations), :mod:`.schema` (the :class:`RunConfig` schema), :mod:`.methodspec`
(``name[k=v]`` method entries), :mod:`.validation` (plugins, name checks), :mod:`.cells`
(cells, seeds and typed cell plans), :mod:`.plan` (``run --plan``); :mod:`.runner` (the
run loop, resuming), :mod:`.loading` (datasets of a run), :mod:`.execute` (one cell:
fit contract, training clock, scoring at marks), :mod:`.memory`, :mod:`.progress`,
:mod:`.slurm` (submitit job arrays); :mod:`.records` (a cell's record),
:mod:`.runfolder` (the run folder's layout, records and provenance on disk, the folder
check); :mod:`.results` (the tidy table), :mod:`.tables` (Table 1), :mod:`.claims`,
:mod:`.curves`, :mod:`.plots` (figures), :mod:`.compare` (merging other runs:
``report --with``), :mod:`.html` and :mod:`.crops` (``report.html``), :mod:`.report`;
:mod:`.choices` and :mod:`.errors` (leaves).
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
