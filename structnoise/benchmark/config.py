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
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from structnoise.utils import derive_seed

SCHEMA_VERSION = 1
PROFILES = ("smoke", "quick", "paper")

#: Posterior samples averaged for the MMSE estimate of sampling methods, per profile,
#: unless the config (``n_samples``) or a method's ``denoise`` options say otherwise.
#: ``paper`` = the paper's 100 (as HDN); ``quick`` trades a little PSNR for minutes on a
#: CPU; ``smoke`` only checks the code path.
DEFAULT_N_SAMPLES = {"smoke": 2, "quick": 10, "paper": 100}

#: The shipped configuration run by ``structnoise run --profile P`` when no CONFIG is given.
PROFILE_CONFIGS = {"smoke": "smoke", "quick": "quick", "paper": "table1"}


class ConfigError(ValueError):
    """A run configuration is invalid (unknown method or dataset, bad YAML, bad key)."""


# --------------------------------------------------------------------------- methods
def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets."""
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
    for token in _split_top_level(inner):
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
        Training budget per cell; ``None`` uses the method's default for the profile
        (its ``MethodInfo.budgets``).
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


# --------------------------------------------------------------------------- datasets
class LocalDataset(BaseModel):
    """A dataset given as files (TIFF stacks, images or folders), for a user's own data.

    Paths are relative to the config file. Without ``test_clean`` the run denoises but
    cannot score PSNR (rows get ``value`` NaN); without ``train_clean`` supervised
    methods are skipped.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str
    train_noisy: str
    test_noisy: str
    test_clean: str | None = None
    train_clean: str | None = None
    axis: Literal["horizontal", "vertical"] | None = "horizontal"

    def load(self):
        """Read the files into a :class:`structnoise.datasets.NoisyDataset`."""
        from structnoise._validate import as_stack
        from structnoise.datasets.base import NoisyDataset
        from structnoise.io import read_stack

        def read(path: str | None, what: str):
            if path is None:
                return None
            return as_stack(read_stack(path), name=f"{self.name} {what}")[0]

        return NoisyDataset(
            name=self.name,
            train_noisy=read(self.train_noisy, "train_noisy"),
            test_noisy=read(self.test_noisy, "test_noisy"),
            test_clean=read(self.test_clean, "test_clean"),
            train_clean=read(self.train_clean, "train_clean"),
            axis=self.axis,
            description=f"local files ({self.test_noisy})",
        )

    def resolve(self, base: Path) -> LocalDataset:
        """Return a copy whose relative paths are made absolute against ``base``."""
        updates = {}
        for key in ("train_noisy", "test_noisy", "test_clean", "train_clean"):
            value = getattr(self, key)
            if value is not None and not Path(value).is_absolute():
                updates[key] = str((base / value).resolve())
        return self.model_copy(update=updates)


class SlurmOptions(BaseModel):
    """Options of ``--executor slurm`` (one job per cell through submitit, a job array).

    Attributes
    ----------
    partition : str, optional
        Slurm partition.
    time_min : int, optional
        Time limit per job in minutes; ``None`` = twice the cell's training budget plus
        15 minutes (60 minutes for methods without a budget).
    gpus_per_node : int
        GPUs per job (multi-GPU training inside a cell goes through Lightning).
    cpus_per_task : int
        CPU cores per job.
    mem_gb : float, optional
        Memory per job.
    array_parallelism : int
        At most this many jobs of the array run at once.
    cluster : {"slurm", "local", "debug"}, optional
        submitit's back-end; ``None`` detects slurm. ``local`` runs the jobs as local
        processes (what the tests use), ``debug`` in this process.
    additional : dict
        Extra ``slurm_additional_parameters`` (e.g. ``{"account": "abc"}``).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    partition: str | None = None
    time_min: int | None = Field(default=None, gt=0)
    gpus_per_node: int = Field(default=0, ge=0)
    cpus_per_task: int = Field(default=4, ge=1)
    mem_gb: float | None = Field(default=None, gt=0)
    array_parallelism: int = Field(default=32, ge=1)
    cluster: Literal["slurm", "local", "debug"] | None = None
    additional: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- run
class RunConfig(BaseModel):
    """A benchmark run: methods x parameter grids x datasets x seeds, and where it goes.

    Attributes
    ----------
    schema_version : int
        Version of this schema (currently 1); files of another version are refused.
    name : str
        Short name; the default output folder is ``runs/<name>``.
    description : str
        Free text kept in the provenance file.
    profile : {"smoke", "quick", "paper"}
        Training profile passed to every method (budgets, model settings).
    methods : list of MethodSpec
        Methods (strings such as ``"dvlae-small[rf=10,40]"`` or mappings).
    datasets : list
        Registered dataset names (``structnoise datasets list``) or :class:`LocalDataset`
        mappings for a user's own files.
    seeds : list of int
        Repetitions; an integer ``n`` means ``[0, ..., n-1]``. Table 1 reports the mean
        and standard deviation over them.
    base_seed : int
        Base of every cell's seed ``derive_seed(base_seed, method, params, dataset, seed)``.
    n_samples : int, optional
        Posterior samples of sampling methods (MMSE); ``None`` = the profile's default
        (:data:`DEFAULT_N_SAMPLES`). A method's ``denoise`` options take precedence.
    out : str, optional
        Output folder (``runs/<name>`` when not given).
    executor : {"local", "slurm"}
        ``local`` runs the cells one after another in this process.
    slurm : SlurmOptions
        Options of the slurm executor.
    dataset_params : dict
        ``{method: {dataset: {param: value}}}`` defaults a method gets on a dataset
        (e.g. SN2V's mask per dataset); merged over the package's defaults
        (``structnoise/benchmark/dataset_params.yaml``); the cell's own params win.
    save_denoised : bool
        Write each cell's denoised test images as TIFF (needed by the Fig. 3 grids).
    download : bool
        Download (or build) datasets that are not on disk yet; with ``False`` their cells
        are skipped with the reason.
    max_test_images : int, optional
        Denoise and score only the first N test images (the smoke profile uses this to
        stay within minutes; numbers are then not comparable with full runs).
    plugins : list of str
        Python files or module names imported before the run (and in every slurm job):
        a way to add your own methods without packaging them.
    report : bool
        Write the reports (Table 1, figures) when the run finishes.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    schema_version: int = SCHEMA_VERSION
    name: str = "run"
    description: str = ""
    profile: Literal["smoke", "quick", "paper"] = "quick"
    methods: list[MethodSpec]
    datasets: list[str | LocalDataset]
    seeds: list[int] = Field(default_factory=lambda: [0])
    base_seed: int = 0
    n_samples: int | None = Field(default=None, ge=1)
    out: str | None = None
    executor: Literal["local", "slurm"] = "local"
    slurm: SlurmOptions = Field(default_factory=SlurmOptions)
    dataset_params: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    save_denoised: bool = True
    download: bool = True
    max_test_images: int | None = Field(default=None, ge=1)
    plugins: list[str] = Field(default_factory=list)
    report: bool = True

    @field_validator("schema_version")
    @classmethod
    def _check_version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {value} is not supported by this structnoise "
                f"(it reads version {SCHEMA_VERSION})"
            )
        return value

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise ValueError("seeds: give at least one repetition")
            return list(range(value))
        return value

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("seeds: give at least one repetition")
        if len(set(value)) != len(value):
            raise ValueError(f"seeds: repeated values in {value}")
        return value

    @field_validator("methods")
    @classmethod
    def _some_methods(cls, value: list[MethodSpec]) -> list[MethodSpec]:
        if not value:
            raise ValueError("methods: give at least one method")
        return value

    @field_validator("datasets")
    @classmethod
    def _some_datasets(cls, value: list) -> list:
        if not value:
            raise ValueError("datasets: give at least one dataset")
        names = [d if isinstance(d, str) else d.name for d in value]
        if len(set(names)) != len(names):
            raise ValueError(f"datasets: repeated names in {names}")
        return value

    # ------------------------------------------------------------------ helpers
    @property
    def dataset_names(self) -> list[str]:
        """Names of the datasets, in order."""
        return [d if isinstance(d, str) else d.name for d in self.datasets]

    @property
    def out_dir(self) -> Path:
        """The run folder."""
        return Path(self.out) if self.out else Path("runs") / self.name

    @property
    def default_n_samples(self) -> int:
        """Posterior samples for sampling methods when the method does not say."""
        return self.n_samples or DEFAULT_N_SAMPLES[self.profile]

    def to_yaml(self) -> str:
        """The configuration as YAML (what :func:`load_config` reads back)."""
        data = self.model_dump(mode="json", exclude_none=False)
        return yaml.safe_dump(data, sort_keys=False)

    def with_overrides(self, **overrides: Any) -> RunConfig:
        """A validated copy with the given keys replaced (``None`` values are ignored).

        Parameters
        ----------
        **overrides
            Keys of :class:`RunConfig` (the CLI flags). ``methods``, ``datasets`` and
            ``seeds`` accept the same forms as the YAML file.

        Returns
        -------
        RunConfig
        """
        data = self.model_dump(mode="python")
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return RunConfig.model_validate(data)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            raise ConfigError(f"invalid run configuration:\n{exc}") from exc


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


def load_config(source: str | Path | dict, **overrides: Any) -> RunConfig:
    """Read a run configuration from a YAML file, a shipped name, YAML text or a dict.

    Parameters
    ----------
    source : str, path or dict
        A path to a YAML file, the name of a shipped configuration (``quick``,
        ``table1``, ``fig4-rf``, ``fig5-noise``, ``smoke``), YAML text, or a mapping.
    **overrides
        Keys to replace after reading (``None`` values are ignored), as the CLI does.

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


# --------------------------------------------------------------------------- cells
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
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        """Method with its parameters, e.g. ``dvlae-small[rf=40]``."""
        return method_label(self.method, self.params)


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
                            cell_seed=cell_seed(cfg.base_seed, spec.name, params, dataset, seed),
                            spec_index=index,
                        )
                    )
    return cells
