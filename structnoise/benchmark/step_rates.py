"""Calibrated training speed of each learnt method: steps per minute on an idle machine.

The numbers are package data, ``steps_per_minute.json`` in this package, written by
``benchmarks/calibrate_steps.py`` (``--package-data``) from its measurement
(``results/calibration/steps.json``: each method trained as a benchmark cell for two
step counts, the rate read from process CPU time). Two users read them:

* the run's ETA (:mod:`.eta`): a cell's training seconds are its steps over its rate;
* the step budget of a method that a profile's configuration does not list
  (:mod:`.budgets`): its minutes for the profile at its rate.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

#: The package data file.
RATES_FILE = "steps_per_minute.json"


@lru_cache(maxsize=1)
def calibration() -> dict:
    """The shipped calibration: ``{"sources": [...], "rates": {method: steps per minute}}``.

    Returns
    -------
    dict
        ``sources``: the measurements (commit, CPU, command, methods) the rates come
        from; empty ``rates`` when the file is missing.
    """
    path = resources.files("structnoise.benchmark") / RATES_FILE
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"sources": [], "rates": {}}
    rates = {
        str(k): float(v)
        for k, v in (data.get("rates") or {}).items()
        if isinstance(v, int | float) and v > 0
    }
    return {"sources": list(data.get("sources") or []), "rates": rates}


def steps_per_minute(method: str) -> float | None:
    """The calibrated training steps per idle minute of a method (None: not calibrated).

    Parameters
    ----------
    method : str
        Registered method name (grid parameters do not count).

    Returns
    -------
    float or None
    """
    return calibration()["rates"].get(method)


def rates_from_measurement(steps_json: dict) -> dict:
    """The package data written from a ``calibrate_steps.py`` measurement.

    Parameters
    ----------
    steps_json : dict
        The content of ``steps.json`` (``meta`` and ``rows``).

    Returns
    -------
    dict
        ``{"sources": [{commit, cpu, cpu_count, dataset, command, methods}],
        "rates": {method: rate}}``.
    """
    meta = steps_json.get("meta") or {}
    rates = {
        row["method"]: round(float(row["idle_steps_per_minute"]), 1)
        for row in steps_json.get("rows") or []
        if row.get("idle_steps_per_minute")
    }
    source = {k: meta.get(k) for k in ("commit", "cpu", "cpu_count", "dataset", "command")}
    source["methods"] = sorted(rates)
    return {"sources": [source], "rates": rates}
