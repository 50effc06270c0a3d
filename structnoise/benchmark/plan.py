"""``structnoise run --plan``: every cell with its resolved parameters and an estimated cost.

Nothing is trained, loaded or written: the configuration is read and checked, its
plugins are imported, the cells are planned (:func:`~.cells.plan_cells`) and each
method is created exactly as the run would create it (parameters, the dataset's axis,
seed, profile, budget), then asked for every setting it will train with
(:meth:`~structnoise.methods.BaseDenoiser.resolved_params`: the training profile with
the cell's overrides, the method's parameters, the network's sizes). The dataset's axis
comes from the dataset's constants (:func:`structnoise.datasets.catalog.dataset_axis`),
not from its files.

The cost of a learnt cell is ``forward passes x pixels per pass`` where the settings say
(``max_steps`` passes of ``batch`` crops of ``crop`` or ``patch`` pixels a side; images
smaller than a crop give smaller crops, so this is an upper bound), and its time budget
in minutes where one applies (the configuration's or the method's for the profile).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from structnoise.benchmark.cells import CellPlan, plan_cells
from structnoise.benchmark.schema import LocalDataset
from structnoise.benchmark.validation import import_plugins, validate_names

if TYPE_CHECKING:
    from structnoise.benchmark.schema import RunConfig

#: Settings printed first, in this order, when a method has them (the rest follow in the
#: method's order).
LEADING_KEYS = (
    "axis",
    "rf",
    "span",
    "n_gaussians",
    "crop",
    "patch",
    "batch",
    "accumulate",
    "max_steps",
    "lr",
    "lr_schedule",
    "val_fraction",
    "val_crops",
    "val_resample",
)

#: Keys that are the run's, not the method's (shown in the cell's heading instead).
_HIDDEN = ("seed", "profile", "max_minutes", "progress", "work_dir")


@dataclass
class CellCost:
    """The estimated cost of one cell.

    Attributes
    ----------
    passes : int or None
        Training forward passes (``max_steps``); None when no step limit is set or the
        method does not learn.
    pixels_per_pass : int or None
        ``batch x side x side`` of one pass.
    accumulate : int
        Passes per optimiser update.
    minutes : float or None
        The training time budget (None: none).
    batch : int or None
        Crops per pass.
    side : int or None
        Side of a crop.
    step_budget : bool
        The configuration gives the cell a step budget (``max_steps``); ``minutes`` is
        then only the run's safety limit.
    """

    passes: int | None = None
    pixels_per_pass: int | None = None
    accumulate: int = 1
    minutes: float | None = None
    batch: int | None = None
    side: int | None = None
    step_budget: bool = False

    @property
    def pixels(self) -> float | None:
        """Pixels through the network while training (None when unknown)."""
        if self.passes is None or self.pixels_per_pass is None:
            return None
        return float(self.passes) * self.pixels_per_pass

    def describe(self, learns: bool) -> str:
        """One line: passes x pixels per pass, updates, and the budget.

        Parameters
        ----------
        learns : bool
            Whether the method trains (``MethodInfo.learns``).

        Returns
        -------
        str
            Starting with ``cost:``.
        """
        if not learns:
            return "cost: no training (classical method)"
        parts = []
        if self.passes is not None and self.pixels_per_pass is not None:
            what = f"{self.batch} x {self.side}x{self.side}"
            if self.accumulate > 1:
                what += f", {self.accumulate} per update: {self.passes // self.accumulate} updates"
            parts.append(
                f"{self.passes} forward passes x {self.pixels_per_pass} px ({what}) "
                f"= {self.pixels:.3g} px"
            )
        elif self.passes is not None:
            parts.append(f"{self.passes} steps")
        else:
            parts.append("no step limit")
        if self.step_budget:
            return (
                f"cost: {'; '.join(parts)}; budget: {self.passes} steps (safety time limit "
                f"{self.minutes:g} min)"
            )
        budget = "none" if self.minutes is None else f"{self.minutes:g} min"
        return f"cost: {'; '.join(parts)}; time budget: {budget}"


@dataclass
class CellDescription:
    """A planned cell, its resolved settings and its cost.

    Attributes
    ----------
    plan : CellPlan
        The planned cell.
    settings : dict
        Every resolved setting, ordered (see :data:`LEADING_KEYS`).
    cost : CellCost
        The estimate.
    error : str or None
        Why the method could not be created with these parameters (the run would fail
        the cell the same way).
    """

    plan: CellPlan
    settings: dict[str, Any] = field(default_factory=dict)
    cost: CellCost = field(default_factory=CellCost)
    error: str | None = None


def dataset_axis_of(cfg: RunConfig, name: str) -> str | None:
    """The noise axis of a dataset of the run, without loading it.

    Parameters
    ----------
    cfg : RunConfig
        The configuration (local-files datasets carry their axis).
    name : str
        The dataset's name.

    Returns
    -------
    str or None
    """
    for entry in cfg.datasets:
        if isinstance(entry, LocalDataset) and entry.name == name:
            return entry.axis
    from structnoise.datasets.catalog import dataset_axis

    return dataset_axis(name)


def _ordered(settings: dict[str, Any]) -> dict[str, Any]:
    first = {k: settings[k] for k in LEADING_KEYS if k in settings}
    rest = {k: v for k, v in settings.items() if k not in first and k not in _HIDDEN}
    return {**first, **rest}


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def estimate_cost(settings: dict[str, Any], minutes: float | None) -> CellCost:
    """The cost of a cell from its resolved settings.

    Parameters
    ----------
    settings : dict
        As :meth:`~structnoise.methods.BaseDenoiser.resolved_params` returns them.
    minutes : float or None
        The cell's time budget.

    Returns
    -------
    CellCost
    """
    passes = _int_or_none(settings.get("max_steps"))
    batch = _int_or_none(settings.get("batch"))
    side = _int_or_none(settings.get("crop", settings.get("patch")))
    accumulate = _int_or_none(settings.get("accumulate")) or 1
    pixels = batch * side * side if batch and side else None
    return CellCost(passes, pixels, accumulate, minutes, batch, side)


def describe_cells(cfg: RunConfig) -> list[CellDescription]:
    """Plan a run and resolve every cell's settings (nothing runs, nothing is written).

    Parameters
    ----------
    cfg : RunConfig
        The configuration.

    Returns
    -------
    list of CellDescription
        In run order.

    Raises
    ------
    ConfigError
        For unknown method or dataset names.
    """
    validate_names(cfg, before_plugins=True)
    import_plugins(cfg.plugins)
    validate_names(cfg)
    out = []
    axes: dict[str, str | None] = {}
    for plan in plan_cells(cfg):
        cell = plan.cell
        if cell.dataset not in axes:
            axes[cell.dataset] = dataset_axis_of(cfg, cell.dataset)
        kwargs = plan.method_params(axes[cell.dataset])
        desc = CellDescription(plan)
        try:
            method = plan.create_method(kwargs, work_dir=None, progress=False)
            resolve: Callable[[], dict] | None = getattr(method, "resolved_params", None)
            resolve = resolve or getattr(method, "get_params", None)
            settings = dict(resolve()) if resolve is not None else dict(kwargs)
        except Exception as exc:  # the run would record the cell as failed
            desc.error = f"{type(exc).__name__}: {exc}"
            settings = kwargs
        desc.settings = _ordered(settings)
        desc.cost = estimate_cost(settings, plan.max_minutes)
        desc.cost.step_budget = plan.max_steps is not None
        out.append(desc)
    return out


def format_value(value: Any) -> str:
    """A setting as the plan prints it: compact, without spaces.

    Parameters
    ----------
    value : object
        A setting's value.

    Returns
    -------
    str
        ``none``, ``true``/``false``, an enum's value, ``64*14`` for a list of one value
        repeated, ``[false,true]*7`` for a repeated pattern, else comma-separated.
    """
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return format_value(value.value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        items = [format_value(v) for v in value]
        if not items:
            return "[]"
        for size in range(1, len(items) // 2 + 1):
            if len(items) % size == 0 and items == items[:size] * (len(items) // size):
                unit = items[0] if size == 1 else f"[{','.join(items[:size])}]"
                return f"{unit}*{len(items) // size}"
        return ",".join(items)
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{format_value(v)}" for k, v in value.items()) + "}"
    return str(value).replace(" ", "_")


def _estimate_line(plans: list) -> str:
    """The run's duration estimated from the calibrated steps per minute (:mod:`.eta`)."""
    from structnoise.benchmark.eta import CellTimeEstimator

    seconds = sum(CellTimeEstimator().planned_seconds(p) for p in plans)
    return f"estimated {seconds / 60:.0f} min on an idle machine at the calibrated rates"


def format_plan(cfg: RunConfig, cells: list[CellDescription]) -> list[str]:
    """The lines ``structnoise run --plan`` prints.

    Parameters
    ----------
    cfg : RunConfig
        The configuration.
    cells : list of CellDescription
        From :func:`describe_cells`.

    Returns
    -------
    list of str
        A heading, then per cell a heading line, an indented ``key=value`` line of the
        method's settings, one of its ``denoise`` options (which replace a setting of the
        same name) and one of its cost, then the totals.
    """
    lines = [
        f"plan of {cfg.name!r}: profile {cfg.profile}, {len(cells)} cells "
        f"({len(cfg.dataset_names)} datasets x {len(cfg.methods)} method entries x "
        f"{len(cfg.seeds)} seeds), run folder {cfg.out_dir}; nothing is run or written",
    ]
    total_px, unbounded, minutes = 0.0, 0, 0.0
    for i, d in enumerate(cells, 1):
        c = d.plan.cell
        lines.append(
            f"[{i}/{len(cells)}] {d.plan.label} on {c.dataset}, seed {c.seed} "
            f"(cell seed {c.cell_seed}, id {d.plan.cell_id})"
        )
        # a denoise option (e.g. the run's n_samples) replaces the method's parameter
        shown = {k: v for k, v in d.settings.items() if k not in d.plan.denoise_options}
        pairs = " ".join(f"{k}={format_value(v)}" for k, v in shown.items())
        lines.append("    " + (pairs or "(no parameters)"))
        if d.plan.denoise_options:
            options = d.plan.denoise_options.items()
            lines.append("    denoise: " + " ".join(f"{k}={format_value(v)}" for k, v in options))
        if d.error:
            lines.append(f"    error: {d.error} (the run would record this cell as failed)")
        lines.append("    " + d.cost.describe(d.plan.info.learns))
        if d.plan.info.learns:
            if d.cost.pixels is not None:
                total_px += d.cost.pixels
            elif d.cost.minutes is None:
                unbounded += 1
            if d.cost.minutes is not None and not d.cost.step_budget:
                minutes += d.cost.minutes  # a safety limit beside a step budget is no budget
    total = f"total: {total_px:.3g} px of training forward passes where steps are set"
    if minutes:
        total += f"; {minutes:g} min of wall-clock budgets"
    total += "; " + _estimate_line([d.plan for d in cells])
    if unbounded:
        total += f"; {unbounded} learnt cells without a step limit or budget"
    lines.append(total)
    return lines
