"""One training budget per method in a profile, whatever the invocation.

``structnoise run --profile quick --methods care,dvlae-small`` replaces the profile
configuration's method list. Without this module the listed methods lost the budgets the
configuration gives them (``care`` fell back to its own 6000-step default where
``quick.yaml`` says 1500, ``dvlae-small`` to a 20-minute wall-clock budget). Here a
method named by ``--methods`` gets, unless the string itself sets them, the settings of
its entry in the profile's configuration (:func:`inherit_budgets`):

* the entry with the same name and the same parameters, else one whose parameter grid
  holds every cell of the entry (``dvlae-small[rf=40]`` in ``dvlae-small[rf=10,40,120]``),
  else the entry with the same name and no parameters: its ``max_steps``,
  ``max_minutes``, ``marks``, ``denoise``, ``save_model`` and ``sample_noise`` (so the
  cell is the configuration's cell, with the same id: runs resume across both
  invocations; the entry's ``datasets`` are not taken);
* a learnt method the configuration does not list: a step budget of its profile minutes
  (``MethodInfo.budgets``) at its calibrated steps per minute (:mod:`.step_rates`),
  rounded to two significant digits as the configurations are; a method without a
  calibrated rate keeps its own defaults.

A wall-clock budget therefore appears only where a configuration or the user writes
``max_minutes``.
"""

from __future__ import annotations

from typing import Any

#: The budget settings: an entry that sets one of them takes none from the configuration.
BUDGET_KEYS = ("max_steps", "max_minutes", "marks")
#: The settings a ``--methods`` entry takes from the configuration's entry.
INHERITED = ("max_steps", "max_minutes", "marks", "denoise", "save_model", "sample_noise")


def _round2(x: float) -> int:
    """``x`` rounded to two significant digits (at least 1)."""
    if x < 1:
        return 1
    digits = len(str(int(x))) - 2
    return max(1, int(round(x, -digits if digits > 0 else 0)))


def calibrated_steps(method: str, profile: str) -> int | None:
    """A learnt method's profile minutes at its calibrated rate, in steps (None: unknown).

    Parameters
    ----------
    method : str
        Registered method name.
    profile : str
        The run's profile.

    Returns
    -------
    int or None
    """
    from structnoise.benchmark.step_rates import steps_per_minute
    from structnoise.methods import method_info

    rate = steps_per_minute(method)
    if rate is None:
        return None
    try:
        info = method_info(method)
    except KeyError:
        return None
    minutes = (info.budgets or {}).get(profile)
    if not info.learns or not minutes:
        return None
    return _round2(rate * float(minutes))


def _source_entry(known: list, spec) -> Any:
    """The configuration's entry a ``--methods`` entry stands for (None: not listed)."""
    same = [k for k in known if k.name == spec.name]
    points = spec.grid()
    for test in (
        lambda k: k.params == spec.params,
        lambda k: k.params and all(p in k.grid() for p in points),
        lambda k: not k.params,
    ):
        match = next((k for k in same if test(k)), None)
        if match is not None:
            return match
    return None


def inherit_budgets(
    config_methods: list[Any], override_methods: list[Any], profile: str
) -> list[dict]:
    """The ``--methods`` entries with the budgets the profile's configuration gives them.

    Parameters
    ----------
    config_methods : list
        The configuration's own ``methods`` (strings or mappings, as in YAML).
    override_methods : list
        The entries that replace them (``--methods``: strings or mappings).
    profile : str
        The run's profile (for methods the configuration does not list).

    Returns
    -------
    list of dict
        One mapping per override entry, valid for
        :class:`~structnoise.benchmark.methodspec.MethodSpec`.
    """
    from structnoise.benchmark.methodspec import MethodSpec

    known = [MethodSpec.model_validate(m) for m in config_methods]
    out = []
    for raw in override_methods:
        spec = MethodSpec.model_validate(raw)
        data = spec.model_dump(exclude_unset=True)
        data["name"], data["params"] = spec.name, spec.params
        source = _source_entry(known, spec)
        if source is not None:
            asked = spec.model_fields_set & set(BUDGET_KEYS)
            for key in INHERITED:
                if key in spec.model_fields_set or key not in source.model_fields_set:
                    continue
                if asked and key in BUDGET_KEYS:
                    continue  # the user's own budget replaces the configuration's
                data[key] = getattr(source, key)
        elif "max_steps" not in data and "max_minutes" not in data:
            steps = calibrated_steps(spec.name, profile)
            if steps is not None:
                data["max_steps"] = steps
        out.append(data)
    return out
