"""The schema of a run configuration: :class:`RunConfig` and the options it holds.

Validated by pydantic; ``extra="forbid"`` everywhere, so a misspelt key is an error.
Reading files and shipped names is :mod:`.config`'s job, the cells a configuration
expands to :mod:`.cells`'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from structnoise.benchmark.choices import Executor
from structnoise.benchmark.errors import ConfigError
from structnoise.benchmark.methodspec import MethodSpec

SCHEMA_VERSION = 1

#: Posterior samples averaged for the MMSE estimate of sampling methods, per profile,
#: unless the config (``n_samples``) or a method's ``denoise`` options say otherwise.
#: ``paper`` = the paper's 100 (as HDN); ``quick`` trades a little PSNR for minutes on a
#: CPU; ``smoke`` only checks the code path.
DEFAULT_N_SAMPLES = {"smoke": 2, "quick": 10, "paper": 100}

#: The shipped configuration run by ``structnoise run --profile P`` when no CONFIG is given.
PROFILE_CONFIGS = {"smoke": "smoke", "quick": "quick", "paper": "table1"}


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
    executor : Executor
        ``local`` runs the cells one after another in this process, ``slurm`` one job
        per cell (:class:`SlurmOptions`).
    slurm : SlurmOptions
        Options of the slurm executor.
    dataset_params : dict
        ``{method: {dataset: {param: value}}}`` defaults a method gets on a dataset
        (e.g. another SN2V mask); merged over the method's own per-dataset defaults
        (``MethodInfo.dataset_defaults``); the cell's own params win.
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
    curve_marks : int
        Quality-vs-compute curves: a learnt method with a step budget (``max_steps``)
        that declares ``MethodInfo.snapshots`` is also evaluated on the test images at
        ``max_steps / 2**k`` steps for ``k = curve_marks, ..., 1`` during the same
        training (0: only at the end). A method's own ``marks`` win.
    protocol : {"paper", "held-out"}
        Which noisy images a method is fitted on (:mod:`.protocols`): ``paper`` fits
        unsupervised methods on all noisy images, the test images included (the paper's
        protocol); ``held-out`` fits every method on the training split only and scores
        it on test tiles it has never seen. Recorded per cell; held-out cells are labelled
        ``<method>@held-out`` so both protocols can stand in one report
        (``structnoise report A --with B``).
    timeout_minutes : float
        Safety limit of the training time of a cell with a step budget (a wall-clock
        limit that only a machine far slower or busier than planned reaches; such a
        cell is recorded as stopped short, ``short``, and the report flags it).
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
    executor: Executor = Executor.LOCAL
    slurm: SlurmOptions = Field(default_factory=SlurmOptions)
    dataset_params: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    save_denoised: bool = True
    download: bool = True
    max_test_images: int | None = Field(default=None, ge=1)
    plugins: list[str] = Field(default_factory=list)
    report: bool = True
    curve_marks: int = Field(default=0, ge=0, le=12)
    timeout_minutes: float = Field(default=120.0, gt=0)
    protocol: Literal["paper", "held-out"] = "paper"

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
