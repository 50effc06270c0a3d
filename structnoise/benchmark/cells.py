"""The cells of a run: :class:`Cell` (what the grid says) and :class:`CellPlan` (resolved).

A run is the product ``datasets x methods x parameter grid x seeds``; each element is a
:class:`Cell` with its own seed derived from the base seed and the cell's identity
(:func:`structnoise.utils.derive_seed`). :func:`plan_cells` resolves each cell against
the configuration and the method's :class:`~structnoise.methods.MethodInfo` into a
:class:`CellPlan` whose fields are named as the cell's record and results table name
them (``method_kwargs``, ``denoise_options``, ``max_minutes``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from structnoise.benchmark.errors import ConfigError
from structnoise.benchmark.runfolder import safe_name
from structnoise.utils import derive_seed

if TYPE_CHECKING:
    from structnoise.benchmark.methodspec import MethodSpec
    from structnoise.benchmark.schema import RunConfig
    from structnoise.methods import MethodInfo


def canonical_params(params: dict[str, Any]) -> str:
    """A stable text form of a parameter dict (sorted keys, JSON)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def method_label(method: str, params: dict[str, Any]) -> str:
    """``name`` or ``name[k=v,...]``: how a method with parameters is shown in reports."""
    if not params:
        return method
    inner = ",".join(f"{k}={_fmt(v)}" for k, v in params.items())
    return f"{method}[{inner}]"


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


@dataclass(frozen=True)
class Cell:
    """One unit of work: a method with fixed parameters on one dataset and one seed.

    Attributes
    ----------
    method : str
        Registered method name.
    params : dict
        The grid parameters of this cell (its identity).
    dataset : str
        Dataset name.
    seed : int
        The repetition (a value of the config's ``seeds``).
    cell_seed : int
        The seed the method gets: ``derive_seed(base_seed, method, params, dataset, seed)``.
    spec_index : int
        Index of the method's entry in ``RunConfig.methods``.
    """

    method: str
    params: dict[str, Any]
    dataset: str
    seed: int
    cell_seed: int
    spec_index: int = 0

    @property
    def label(self) -> str:
        """Method with its parameters, e.g. ``dvlae-small[rf=40]``."""
        return method_label(self.method, self.params)


def denoise_grid_keys(method: str) -> tuple[str, ...]:
    """The options of ``denoise`` a grid may vary (e.g. DVLAE's ``mode``), none if unknown."""
    from structnoise.methods import method_info

    try:
        return tuple(method_info(method).denoise_options or ())
    except KeyError:  # a plugin's method not imported yet: its grid is all fit parameters
        return ()


def fit_params(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The grid parameters that change the fit: all but options of ``denoise``.

    Cells that differ only in a ``denoise`` option (``dvlae-small[mode=mmse,direct]``)
    get the same seed and share one fit (:func:`structnoise.benchmark.execute.execute_cell`).
    """
    skip = denoise_grid_keys(method)
    return {k: v for k, v in params.items() if k not in skip}


def cell_seed(base_seed: int, method: str, params: dict[str, Any], dataset: str, seed: int) -> int:
    """The seed of one cell, derived from the base seed and the cell's identity.

    Parameters
    ----------
    base_seed : int
        The run's base seed.
    method, dataset : str
        Names.
    params : dict
        The cell's grid parameters.
    seed : int
        The repetition.

    Returns
    -------
    int
    """
    return derive_seed(base_seed, method, canonical_params(params), dataset, seed)


#: Most cells one run may have: each cell trains or applies a method, so more is a
#: mistake (a seed range typed too long); planning a million cells took minutes and GBs.
MAX_CELLS = 10_000


def check_cell_count(cfg: RunConfig) -> int:
    """The number of cells ``cfg`` expands to, refused above :data:`MAX_CELLS`.

    Counted without expanding (grids multiply out), so a huge configuration is refused
    at once.

    Parameters
    ----------
    cfg : RunConfig

    Returns
    -------
    int

    Raises
    ------
    ConfigError
        Naming the count and its factors.
    """
    count = 0
    entries = 0
    for spec in cfg.methods:
        combos = 1
        for values in spec.params.values():
            combos *= len(values) if isinstance(values, list) else 1
        entries += combos
        n_data = sum(spec.datasets is None or d in spec.datasets for d in cfg.dataset_names)
        count += n_data * combos * len(cfg.seeds)
    if count > MAX_CELLS:
        raise ConfigError(
            f"the configuration expands to {count:,} cells ({len(cfg.dataset_names)} datasets "
            f"x {entries:,} method settings x {len(cfg.seeds):,} seeds), more than the "
            f"{MAX_CELLS:,} one run takes; check the seeds and grids, or split it into "
            "several runs"
        )
    return count


def expand_cells(cfg: RunConfig) -> list[Cell]:
    """All cells of a run, dataset-major (so one dataset is in memory at a time).

    Parameters
    ----------
    cfg : RunConfig

    Returns
    -------
    list of Cell
        Ordered by dataset, then method (config order), parameters, seed.

    Raises
    ------
    ConfigError
        If two method entries produce the same cell.
    """
    check_cell_count(cfg)
    cells: list[Cell] = []
    seen: set[tuple] = set()
    for dataset in cfg.dataset_names:
        for index, spec in enumerate(cfg.methods):
            if spec.datasets is not None and dataset not in spec.datasets:
                continue
            for params in spec.grid():
                for seed in cfg.seeds:
                    key = (spec.name, canonical_params(params), dataset, seed)
                    if key in seen:
                        raise ConfigError(
                            f"method {method_label(spec.name, params)} appears twice in "
                            "the configuration"
                        )
                    seen.add(key)
                    cells.append(
                        Cell(
                            method=spec.name,
                            params=params,
                            dataset=dataset,
                            seed=seed,
                            cell_seed=cell_seed(
                                cfg.base_seed,
                                spec.name,
                                fit_params(spec.name, params),
                                dataset,
                                seed,
                            ),
                            spec_index=index,
                        )
                    )
    return cells


# --------------------------------------------------------------------------- plans
def with_dataset_axis(info: MethodInfo, method_kwargs: dict[str, Any], axis: str | None) -> dict:
    """The method's parameters with the dataset's noise axis, for methods that take one.

    Parameters
    ----------
    info : MethodInfo
        The method's declarations (``uses_axis``).
    method_kwargs : dict
        The cell's parameters; an ``axis`` there wins.
    axis : str or None
        The dataset's axis (None: unstructured, the method's default applies).

    Returns
    -------
    dict
        ``method_kwargs`` itself, with ``axis`` added where it applies.
    """
    if info.uses_axis and "axis" not in method_kwargs and axis is not None:
        method_kwargs["axis"] = axis
    return method_kwargs


@dataclass
class CellPlan:
    """A cell with everything resolved from the config (no dataset needed).

    Attributes
    ----------
    cell : Cell
        The cell (method, grid parameters, dataset, seed, cell seed).
    cell_id : str
        Its id (the name of its record).
    spec : MethodSpec
        The method's entry in the configuration (``save_model``, ``sample_noise``, and
        ``max_minutes`` as the config gives it: what the method's factory gets).
    info : MethodInfo
        What the method declares; the runner schedules by it.
    method_kwargs : dict
        Merged, later ones winning: the method's own defaults for the dataset
        (``MethodInfo.dataset_defaults``: every profile's ``"*"``, then the run's
        profile, e.g. SN2V's masks and DVLAE's paper settings per dataset), the config's
        ``dataset_params`` and the grid parameters (the dataset's ``axis`` is added when
        the cell runs, :func:`with_dataset_axis`).
    denoise_options : dict
        Keywords of ``denoise`` (``n_samples`` filled in for sampling methods).
    max_minutes : float or None
        The wall-clock training budget: the config's, else (with a step budget) the run's
        ``timeout_minutes``, else the method's for the profile (None: unlimited or not a
        learnt method). What the record and table call ``max_minutes``.
    max_steps : int or None
        The step budget (``MethodSpec.max_steps``; also in ``method_kwargs``).
    marks : list of int
        Steps at which the cell is evaluated during training (empty: only at the end).
    protocol : str
        ``RunConfig.protocol``: which noisy images ``fit`` gets (:mod:`.protocols`).
    profile : str
        The run's profile (the factory's ``profile``).
    method_minutes : float or None
        The factory's ``max_minutes``: with a step budget the run's safety timeout
        (``max_minutes``), else the config's (None: the method's own default budget).
    save_denoised : bool
        Write the denoised test images.
    """

    cell: Cell
    cell_id: str
    spec: MethodSpec
    info: MethodInfo
    method_kwargs: dict[str, Any]
    denoise_options: dict[str, Any]
    max_minutes: float | None
    max_steps: int | None = None
    marks: list[int] = field(default_factory=list)
    protocol: str = "paper"
    profile: str = "quick"
    method_minutes: float | None = None
    save_denoised: bool = True

    def method_params(self, axis: str | None) -> dict[str, Any]:
        """The method's parameters on a dataset: ``method_kwargs`` and its noise axis.

        The dataset's ``axis`` is added where it applies (:func:`with_dataset_axis`).

        Parameters
        ----------
        axis : str or None
            The dataset's axis.

        Returns
        -------
        dict
            A new dict (what the record's ``method_kwargs`` holds).
        """
        return with_dataset_axis(self.info, dict(self.method_kwargs), axis)

    def create_method(self, params: dict[str, Any], *, work_dir: str | None, progress: bool):
        """Call the method's registered factory: its parameters and the common keywords.

        ``seed``, ``profile``, ``max_minutes``, ``progress`` and ``work_dir`` are part of
        the :class:`~structnoise.methods.Denoiser` contract: every registered factory,
        also a plugin's, accepts them.

        Parameters
        ----------
        params : dict
            :meth:`method_params`.
        work_dir : str or None
            The method's scratch folder.
        progress : bool
            Let the method show its own progress bars.

        Returns
        -------
        Denoiser
        """
        from structnoise.methods import get_entry

        return get_entry(self.cell.method).factory(
            **params,
            seed=self.cell.cell_seed,
            profile=self.profile,
            max_minutes=self.method_minutes,
            progress=progress,
            work_dir=work_dir,
        )

    @property
    def label(self) -> str:
        """The cell's label in records and reports: held-out cells carry ``@held-out``."""
        return protocol_label(self.cell.label, self.protocol)


def protocol_label(label: str, protocol: str) -> str:
    """``label``, with ``@<protocol>`` for a protocol other than the paper's."""
    return label if protocol in ("", "paper") else f"{label}@{protocol}"


def curve_marks(max_steps: int | None, n_marks: int, explicit: list[int] | None) -> list[int]:
    """The steps at which a cell is evaluated during training, below its budget.

    Parameters
    ----------
    max_steps : int or None
        The step budget (no marks without one).
    n_marks : int
        ``RunConfig.curve_marks``: marks at ``max_steps / 2**k``, ``k = n_marks .. 1``.
    explicit : list of int or None
        ``MethodSpec.marks`` (win over ``n_marks``).

    Returns
    -------
    list of int
        Sorted, unique, each in ``1 .. max_steps - 1`` (the end is always evaluated).
    """
    if max_steps is None:
        return []
    if explicit is not None:
        steps = [int(m) for m in explicit]
    else:
        steps = [max_steps // 2**k for k in range(n_marks, 0, -1)]
    return sorted({m for m in steps if 0 < m < max_steps})


def plan_cells(cfg: RunConfig) -> list[CellPlan]:
    """Expand the config into cells with their ids, parameters and options.

    The cell id names the method, parameters, dataset and seed, plus a short hash of
    everything that changes the result (profile, base seed, budget, parameters and
    denoise options), so a changed setting never reuses an old record.

    Parameters
    ----------
    cfg : RunConfig
        The configuration.

    Returns
    -------
    list of CellPlan
    """
    from structnoise.methods import method_info

    plans = []
    for cell in expand_cells(cfg):
        spec = cfg.methods[cell.spec_index]
        info = method_info(cell.method)
        own = info.dataset_defaults
        grid_denoise = {k: v for k, v in cell.params.items() if k in (info.denoise_options or ())}
        method_kwargs = {
            **own.get("*", {}).get(cell.dataset, {}),
            **own.get(cfg.profile, {}).get(cell.dataset, {}),
            **cfg.dataset_params.get(cell.method, {}).get(cell.dataset, {}),
            **{k: v for k, v in cell.params.items() if k not in grid_denoise},
        }
        denoise_options = {**spec.denoise, **grid_denoise}
        if info.samples and "n_samples" not in denoise_options:
            denoise_options["n_samples"] = cfg.default_n_samples
        if spec.max_steps is not None:
            if not info.learns:
                raise ConfigError(
                    f"method {cell.method!r} does not train: a step budget (max_steps) "
                    "applies to learnt methods only"
                )
            method_kwargs["max_steps"] = spec.max_steps
        budget = spec.max_minutes
        if budget is None and spec.max_steps is not None:
            budget = cfg.timeout_minutes
        if budget is None and info.learns:
            budget = info.budgets.get(cfg.profile)
        marks = curve_marks(spec.max_steps, cfg.curve_marks, spec.marks)
        if marks and not getattr(info, "snapshots", False):
            if spec.marks is not None:
                raise ConfigError(
                    f"method {cell.method!r} cannot be evaluated during training (it does "
                    "not declare MethodInfo.snapshots): remove its marks"
                )
            marks = []
        # the keys and values of this identity are those of every earlier version, so
        # that a run folder written by one resumes with another
        identity = {
            "method": cell.method,
            "params": method_kwargs,
            "dataset": cell.dataset,
            "seed": cell.seed,
            "cell_seed": cell.cell_seed,
            "profile": cfg.profile,
            "max_minutes": spec.max_minutes,
            "denoise": denoise_options,
            "max_test_images": cfg.max_test_images,
        }
        if spec.max_steps is not None:  # only then, so that earlier cell ids stay
            identity["timeout_minutes"] = budget
        if marks:
            identity["marks"] = marks
        protocol = getattr(cfg, "protocol", "paper")
        if protocol != "paper":  # only then, so that earlier cell ids stay
            identity["protocol"] = protocol
        digest = hashlib.sha1(canonical_params(identity).encode()).hexdigest()[:8]
        name = safe_name(protocol_label(cell.label, protocol))
        cell_id = f"{name}__{safe_name(cell.dataset)}__s{cell.seed}__{digest}"
        plans.append(
            CellPlan(
                cell=cell,
                cell_id=cell_id,
                spec=spec,
                info=info,
                method_kwargs=method_kwargs,
                denoise_options=denoise_options,
                max_minutes=budget,
                max_steps=spec.max_steps,
                marks=marks,
                protocol=protocol,
                profile=cfg.profile,
                # with a step budget the wall-clock limit is the run's safety timeout (the
                # method's own default budget would otherwise cut training short)
                method_minutes=budget if spec.max_steps is not None else spec.max_minutes,
                save_denoised=cfg.save_denoised,
            )
        )
    return plans
