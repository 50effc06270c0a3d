"""Run configuration: which methods (with parameter grids), datasets, seeds and profile.

A run is the product ``datasets x methods x parameter grid x seeds``; each element is a
:class:`Cell` with its own seed derived from the base seed and the cell's identity
(:func:`structnoise.utils.derive_seed`). Configurations are YAML files validated by
pydantic; the ``structnoise run`` flags (``--profile``, ``--methods``, ``--datasets``,
``--seeds``, ``--executor``, ``--out``) override the keys of the same name.

Example (``structnoise/benchmark/configs/fig4-rf.yaml`` is a real one)::

    schema_version: 1
    name: fig4-rf
    profile: paper
    methods:
      - dvlae-small[rf=10,20,40,80,120]      # a grid: one cell per value
      - name: sn2v                            # the long form
        params: {span: 9}
        max_minutes: 30
    datasets: [ffhq-checkerboard]
    seeds: [0, 1, 2, 3, 4]

Method strings follow benchopt's ``name[key=v1,v2,other=v3]`` syntax; values are read as
YAML scalars (``10`` is an int, ``true`` a bool). In the long form a list value is a grid;
to pass a list as a single value, wrap it in another list.

This module reads configurations (:func:`load_config`, :func:`shipped_configs`); the
schema is :mod:`.schema`, method strings :mod:`.methodspec`, the cells :mod:`.cells`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from structnoise.benchmark.errors import ConfigError
from structnoise.benchmark.schema import (
    LocalDataset,
    RunConfig,
)


def shipped_configs() -> dict[str, Path]:
    """The configurations shipped in the package, by name.

    Returns
    -------
    dict
        ``{name: path}`` for ``structnoise/benchmark/configs/*.yaml``.
    """
    folder = resources.files("structnoise.benchmark") / "configs"
    return {
        Path(p.name).stem: Path(str(p))
        for p in folder.iterdir()
        if p.name.endswith((".yaml", ".yml"))
    }


def _with_budgets(data: dict, overrides: dict) -> list:
    """``--methods`` entries with the configuration's budgets (:mod:`.budgets`).

    Entries that do not validate are returned as given: the run configuration's
    validation reports them.
    """
    from structnoise.benchmark.budgets import inherit_budgets

    profile = overrides.get("profile") or data.get("profile") or "quick"
    try:
        return inherit_budgets(data["methods"], list(overrides["methods"]), str(profile))
    except (ValueError, ConfigError):
        return overrides["methods"]


def load_config(source: str | Path | dict, **overrides: Any) -> RunConfig:
    """Read a run configuration from a YAML file, a shipped name, YAML text or a dict.

    Parameters
    ----------
    source : str, path or dict
        A path to a YAML file, the name of a shipped configuration (``quick``,
        ``table1``, ``fig4-rf``, ``fig5-noise``, ``smoke``), YAML text, or a mapping.
    **overrides
        Keys to replace after reading (``None`` values are ignored), as the CLI does.
        ``methods`` replacing the configuration's keep each method's budget there
        (:func:`structnoise.benchmark.budgets.inherit_budgets`).

    Returns
    -------
    RunConfig

    Raises
    ------
    ConfigError
        With every validation problem spelled out.
    """
    base = Path.cwd()
    if isinstance(source, dict):
        data = dict(source)
    else:
        shipped = shipped_configs()
        if isinstance(source, str) and "\n" in source:
            text = source
        elif Path(source).is_file():
            text, base = Path(source).read_text(), Path(source).parent
        elif str(source) in shipped:
            text = shipped[str(source)].read_text()
        else:
            raise ConfigError(
                f"no configuration {str(source)!r}: not a file and not a shipped "
                f"configuration (shipped: {', '.join(sorted(shipped))})"
            )
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of configuration keys")
    if overrides.get("methods") is not None and isinstance(data.get("methods"), list):
        overrides = dict(overrides, methods=_with_budgets(data, overrides))
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        cfg = RunConfig.model_validate(data)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise ConfigError(f"invalid run configuration:\n{exc}") from exc
    datasets = [d.resolve(base) if isinstance(d, LocalDataset) else d for d in cfg.datasets]
    plugins = [
        str((base / p).resolve()) if p.endswith(".py") and not Path(p).is_absolute() else p
        for p in cfg.plugins
    ]
    return cfg.model_copy(update={"datasets": datasets, "plugins": plugins})
