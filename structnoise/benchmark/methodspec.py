"""A method entry of a run configuration: ``name[key=v1,v2,...]`` strings and :class:`MethodSpec`.

Method strings follow benchopt's ``name[key=v1,v2,other=v3]`` syntax; values are read as
YAML scalars (``10`` is an int, ``true`` a bool). In the long form (a mapping) a list
value is a grid; to pass a list as a single value, wrap it in another list.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from structnoise.benchmark.errors import ConfigError


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets.

    Parameters
    ----------
    text : str
        E.g. ``"gaussian,dvlae-small[rf=10,40]"``.

    Returns
    -------
    list of str
        The stripped, non-empty parts (``["gaussian", "dvlae-small[rf=10,40]"]``).
    """
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$", re.S)


def parse_method_string(text: str) -> dict[str, Any]:
    """Parse ``"name[key=v1,v2,other=v3]"`` into ``{"name": ..., "params": {...}}``.

    Parameters
    ----------
    text : str
        A method name, optionally with a parameter grid in brackets. Values after a
        ``key=`` up to the next ``key=`` form that key's grid; a value may also be a
        YAML list (``rf=[10,20]``).

    Returns
    -------
    dict
        ``{"name": str, "params": {key: value or list of values}}``.

    Raises
    ------
    ConfigError
        On unbalanced brackets or a value without a key.

    Examples
    --------
    >>> parse_method_string("dvlae-small[rf=10,40]")
    {'name': 'dvlae-small', 'params': {'rf': [10, 40]}}
    """
    text = text.strip()
    if "[" not in text:
        if "]" in text or not text:
            raise ConfigError(f"bad method specification {text!r}")
        return {"name": text, "params": {}}
    if not text.endswith("]"):
        raise ConfigError(f"bad method specification {text!r}: expected name[key=value,...]")
    name, inner = text[: text.index("[")].strip(), text[text.index("[") + 1 : -1]
    if not name:
        raise ConfigError(f"bad method specification {text!r}: no method name")
    params: dict[str, list[Any]] = {}
    key = None
    for token in split_top_level(inner):
        m = _KEY.match(token)
        if m:
            key = m.group(1)
            if key in params:
                raise ConfigError(f"{text!r}: parameter {key!r} given twice")
            params[key] = []
            token = m.group(2).strip()
            if not token:
                raise ConfigError(f"{text!r}: parameter {key!r} has no value")
        elif key is None:
            raise ConfigError(f"{text!r}: value {token!r} has no key (write key=value)")
        value = _scalar(token)
        if isinstance(value, list):
            params[key].extend(value)
        else:
            params[key].append(value)
    return {"name": name, "params": {k: v[0] if len(v) == 1 else v for k, v in params.items()}}


class MethodSpec(BaseModel):
    """One method of a run and its parameter grid.

    Attributes
    ----------
    name : str
        A registered method name (``structnoise list methods``).
    params : dict
        Constructor parameters; a list value is a grid (one cell per value, the
        product over keys). These parameters are part of the cell's identity.
    max_minutes : float, optional
        Wall-clock training budget per cell; ``None`` uses the method's default for the
        profile (its ``MethodInfo.budgets``), or the run's ``timeout_minutes`` where
        ``max_steps`` is given.
    max_steps : int, optional
        Training budget per cell in optimisation steps, passed to the method as its
        ``max_steps`` parameter: a budget that other work on the machine cannot change
        (the benchmark configurations use it; ``benchmarks/calibrate_steps.py`` relates
        steps to minutes). Only for learnt methods.
    marks : list of int, optional
        Steps at which the method is also evaluated during its training (the quality-vs-
        compute curve); default: from the run's ``curve_marks``. Needs ``max_steps`` and a
        method that declares ``MethodInfo.snapshots``.
    denoise : dict
        Options passed to ``denoise`` (e.g. ``n_samples``, ``tile``, ``mode``).
    save_model : bool
        Save the fitted model of each cell under ``RUN_DIR/models/`` (Fig. 5 uses it).
    sample_noise : bool
        After fitting, draw a new noisy version of the first test image from the
        method's noise model (``sample_noisy``; DVLAE's AR decoder) for Fig. 5.
    datasets : list of str, optional
        Run this entry only on these of the run's datasets (default: all of them), e.g.
        an ablation on one dataset.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    max_minutes: float | None = Field(default=None, gt=0)
    max_steps: int | None = Field(default=None, gt=0)
    marks: list[int] | None = None
    denoise: dict[str, Any] = Field(default_factory=dict)
    save_model: bool = False
    sample_noise: bool = False
    datasets: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_method_string(value)
        if isinstance(value, dict) and isinstance(value.get("name"), str) and "[" in value["name"]:
            parsed = parse_method_string(value["name"])
            merged = dict(value)
            merged["name"] = parsed["name"]
            merged["params"] = {**parsed["params"], **(value.get("params") or {})}
            return merged
        return value

    @model_validator(mode="after")
    def _check_marks(self) -> MethodSpec:
        if self.marks is not None:
            if self.max_steps is None:
                raise ValueError(f"method {self.name!r}: marks need a step budget (max_steps)")
            bad = [m for m in self.marks if not 0 < int(m) <= self.max_steps]
            if bad:
                raise ValueError(
                    f"method {self.name!r}: marks {bad} outside 1..max_steps ({self.max_steps})"
                )
        return self

    def grid(self) -> list[dict[str, Any]]:
        """All parameter combinations of this method (lists expand, scalars are fixed).

        Returns
        -------
        list of dict
            One dict per cell, keys in the order given.
        """
        keys = list(self.params)
        values = [v if isinstance(v, list) else [v] for v in self.params.values()]
        for k, v in zip(keys, values, strict=True):
            if not v:
                raise ConfigError(f"method {self.name!r}: parameter {k!r} has an empty grid")
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]
