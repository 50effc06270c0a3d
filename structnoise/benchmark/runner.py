"""Run every cell of a benchmark, record each one atomically, resume after interruption.

How a cell calls its method (``execute_cell``):

1. ``create(method, seed=cell_seed, profile=..., max_minutes=..., progress=...,
   work_dir=RUN_DIR/work/<cell>, **params)`` where ``params`` = the package's
   per-dataset defaults (``dataset_params.yaml``), then the config's ``dataset_params``,
   then the cell's grid parameters; methods with ``MethodInfo.uses_axis`` also get the
   dataset's ``axis`` unless a parameter sets it (unstructured datasets have no axis:
   the method's default applies). Outside methods whose factory does not take the
   common keywords only get those it accepts.
2. Fit (:func:`fit_inputs`): supervised methods (``needs_clean``) on the training split
   with its clean targets (``fit(train_noisy, train_clean)``; skipped when the dataset
   has none); unsupervised ones on every noisy image including the test images
   (``fit(dataset.all_noisy)``), as the paper's code does; methods that need clean
   images only for a noise model (HDN, whose ``fit`` takes ``extra_noisy``) get
   ``fit(train_noisy, train_clean, extra_noisy=test_noisy)``.
3. ``denoise(test_noisy, **options)``; sampling methods get ``n_samples`` (the profile's
   default unless the config or the method's ``denoise`` options say otherwise).
4. PSNR per test image with the paper's convention (:func:`structnoise.metrics.psnr_stack`),
   averaged. Fit and denoise seconds, peak memory (:class:`PeakMemory`) and the device
   are recorded; an exception makes the cell ``failed`` (with the error) and the run
   goes on; impossible cells are ``skipped`` with the reason.

Each finished cell is written to ``RUN_DIR/cells/<cell_id>.json`` atomically; a restart
with the same configuration reuses every recorded cell (``retry=True`` re-runs the failed
and skipped ones). The table (``results.parquet``/``results.csv``) is rebuilt from the
records after every cell, so it never holds duplicate rows; it lists every recorded cell
of the folder, also those of earlier calls with other methods (see
:func:`structnoise.benchmark.results.table_records`).

A run folder is marked by ``run.json`` (with the run id, written first); ``run`` refuses
an output folder that is neither empty nor a run folder (:func:`check_run_folder`), and
keeps an earlier, different ``config.yaml`` as ``config.<n>.yaml``.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import json
import math
import re
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from structnoise.benchmark.config import (
    Cell,
    ConfigError,
    LocalDataset,
    RunConfig,
    canonical_params,
    expand_cells,
    load_config,
)
from structnoise.benchmark.memory import PeakMemory
from structnoise.utils import atomic_path

STATUSES = ("ok", "failed", "skipped")
COMMON_KWARGS = ("seed", "profile", "max_minutes", "progress", "work_dir")


# --------------------------------------------------------------------------- helpers
def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=_json_default, allow_nan=True))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def import_plugins(plugins: list[str]) -> None:
    """Import plugin files or modules (they register methods as a side effect).

    Parameters
    ----------
    plugins : list of str
        ``.py`` file paths or importable module names.
    """
    for plugin in plugins:
        if plugin.endswith(".py"):
            path = Path(plugin)
            if not path.is_file():
                raise ConfigError(f"plugin file {plugin} does not exist")
            name = (
                "structnoise_plugin_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
            )
            if name in sys.modules:
                continue
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            try:
                importlib.import_module(plugin)
            except ImportError as exc:
                raise ConfigError(f"cannot import plugin module {plugin!r}: {exc}") from exc


def registered_datasets() -> list[str]:
    """Names the datasets layer knows (empty if it is not installed)."""
    try:
        from structnoise.datasets import list_datasets
    except ImportError:
        return []
    names = []
    for item in list_datasets():
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict):
            names.append(item["name"])
        else:
            names.append(item.name)
    return names


def package_dataset_params() -> dict[str, dict[str, dict[str, Any]]]:
    """The package's per-dataset method defaults (``dataset_params.yaml``)."""
    text = (resources.files("structnoise.benchmark") / "dataset_params.yaml").read_text()
    return yaml.safe_load(text) or {}


def _hint(unknown: list[str], known: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the unknown names close to a known one."""
    close = [m[0] for n in unknown if (m := difflib.get_close_matches(n, known, n=1))]
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


def validate_names(cfg: RunConfig, *, before_plugins: bool = False) -> None:
    """Check that every method and dataset of ``cfg`` exists.

    Dataset names never depend on plugins (the dataset catalogue is fixed), so they are
    always checked. Method names may be registered by the config's ``plugins``.

    Parameters
    ----------
    cfg : RunConfig
        The configuration.
    before_plugins : bool
        The check made before the config's plugins are imported: unknown datasets are
        reported, and unknown methods too when the config lists no plugins; an unknown
        method name with plugins listed is left for the check after the import.

    Raises
    ------
    ConfigError
        Naming the unknown entries and listing what exists (one line).
    """
    datasets = registered_datasets()
    unknown = [d for d in cfg.datasets if isinstance(d, str) and d not in datasets]
    if unknown:
        raise ConfigError(
            f"unknown dataset(s) {', '.join(map(repr, unknown))}; available datasets: "
            f"{', '.join(datasets) or '(none registered)'} (or give a mapping with "
            f"name/train_noisy/test_noisy/test_clean files){_hint(unknown, datasets)}"
        )
    from structnoise.methods import list_methods

    known = list_methods()
    unknown = [s.name for s in cfg.methods if s.name not in known]
    if unknown and not (before_plugins and cfg.plugins):
        raise ConfigError(
            f"unknown method(s) {', '.join(map(repr, unknown))}; registered methods: "
            f"{', '.join(known) or '(none)'}"
            + (f" (plugins imported: {', '.join(cfg.plugins)})" if cfg.plugins else "")
            + _hint(unknown, known)
        )


# --------------------------------------------------------------------------- cells
@dataclass
class CellPlan:
    """A cell with everything resolved from the config (no dataset needed)."""

    cell: Cell
    cell_id: str
    params: dict[str, Any]  # dataset defaults merged with the grid parameters (no axis)
    max_minutes: float | None
    denoise: dict[str, Any]
    save_model: bool
    sample_noise: bool
    budget_minutes: float | None
    info: Any


def plan_cells(cfg: RunConfig) -> list[CellPlan]:
    """Expand the config into cells with their ids, parameters and options.

    The cell id names the method, parameters, dataset and seed, plus a short hash of
    everything that changes the result (profile, base seed, budget, parameters and
    denoise options), so a changed setting never reuses an old record.

    Parameters
    ----------
    cfg : RunConfig

    Returns
    -------
    list of CellPlan
    """
    from structnoise.methods import method_info

    defaults = package_dataset_params()
    plans = []
    for cell in expand_cells(cfg):
        spec = cfg.methods[cell.spec_index]
        info = method_info(cell.method)
        params = {
            **defaults.get(cell.method, {}).get(cell.dataset, {}),
            **cfg.dataset_params.get(cell.method, {}).get(cell.dataset, {}),
            **cell.params,
        }
        denoise = dict(spec.denoise)
        if info.samples and "n_samples" not in denoise:
            denoise["n_samples"] = cfg.default_n_samples
        budget = spec.max_minutes
        if budget is None and info.learns:
            budget = info.budgets.get(cfg.profile)
        identity = {
            "method": cell.method,
            "params": params,
            "dataset": cell.dataset,
            "seed": cell.seed,
            "cell_seed": cell.cell_seed,
            "profile": cfg.profile,
            "max_minutes": spec.max_minutes,
            "denoise": denoise,
            "max_test_images": cfg.max_test_images,
        }
        digest = hashlib.sha1(canonical_params(identity).encode()).hexdigest()[:8]
        cell_id = f"{_safe(cell.label)}__{_safe(cell.dataset)}__s{cell.seed}__{digest}"
        plans.append(
            CellPlan(
                cell=cell,
                cell_id=cell_id,
                params=params,
                max_minutes=spec.max_minutes,
                denoise=denoise,
                save_model=spec.save_model,
                sample_noise=spec.sample_noise,
                budget_minutes=budget,
                info=info,
            )
        )
    return plans


def load_dataset(cfg: RunConfig, name: str):
    """Load a dataset of the run by name (registered, or a local-files entry)."""
    for entry in cfg.datasets:
        if isinstance(entry, LocalDataset) and entry.name == name:
            return limit_test_images(entry.load(), cfg.max_test_images)
    from structnoise.datasets import list_datasets
    from structnoise.datasets import load_dataset as _load

    if not cfg.download:
        from structnoise.datasets.catalog import CACHED, EMBEDDED, LOCAL

        status = {d.name: d.status for d in list_datasets()}.get(name)
        if status not in (CACHED, EMBEDDED, LOCAL):
            raise FileNotFoundError(
                f"not on disk (status: {status}) and download is off; fetch it with "
                f"`structnoise datasets fetch {name}`"
            )
    return limit_test_images(_load(name), cfg.max_test_images)


def limit_test_images(dataset, n: int | None):
    """The dataset with only its first ``n`` test images (unchanged when ``n`` is None)."""
    if n is None or len(dataset.test_noisy) <= n:
        return dataset
    import dataclasses

    return dataclasses.replace(
        dataset,
        test_noisy=dataset.test_noisy[:n],
        test_clean=None if dataset.test_clean is None else dataset.test_clean[:n],
    )


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def fit_inputs(method, info, dataset) -> tuple[tuple, dict, str]:
    """What a cell passes to ``fit``, and a description of the call for the record.

    * unsupervised methods: ``fit(all noisy images)`` (training and test images);
    * supervised methods: ``fit(train_noisy, train_clean)``;
    * methods that use clean images only to calibrate a noise model and learn from noisy
      images otherwise (HDN: ``needs_clean`` and a ``fit`` that takes ``extra_noisy``):
      ``fit(train_noisy, train_clean, extra_noisy=test_noisy)``, so their networks see
      every noisy image, as the unsupervised methods do, while the clean images of the
      test split stay unseen.
    """
    if not info.needs_clean:
        return (dataset.all_noisy,), {}, "fit(train_noisy + test_noisy)"
    if _accepts(method.fit, "extra_noisy"):
        return (
            (dataset.train_noisy, dataset.train_clean),
            {"extra_noisy": dataset.test_noisy},
            "fit(train_noisy, train_clean, extra_noisy=test_noisy)",
        )
    return (dataset.train_noisy, dataset.train_clean), {}, "fit(train_noisy, train_clean)"


def _creation_kwargs(factory, common: dict[str, Any]) -> dict[str, Any]:
    """Keep the common keywords an outside factory cannot take out of the call."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # pragma: no cover
        return common
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return common
    return {k: v for k, v in common.items() if k in sig.parameters}


def _device_of(method, info) -> str:
    dev = getattr(method, "device", None)
    if dev is not None:
        return str(dev)
    if not info.learns or "torch" not in sys.modules:
        return "cpu"
    from structnoise.utils import pick_device

    return pick_device()


def save_example(run_dir: Path, dataset) -> None:
    """Keep the first test image (noisy, clean) of a dataset for the figure grids."""
    path = run_dir / "examples" / f"{_safe(dataset.name)}.npz"
    if path.exists():
        return
    arrays = {"noisy": np.asarray(dataset.test_noisy[0], dtype=np.float32)}
    if dataset.test_clean is not None:
        arrays["clean"] = np.asarray(dataset.test_clean[0], dtype=np.float32)
    arrays["axis"] = np.array(dataset.axis or "none")
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)


def skipped_record(plan: CellPlan, cfg: RunConfig, reason: str) -> dict[str, Any]:
    """The record of a cell that could not run."""
    rec = base_record(plan, cfg)
    rec.update(status="skipped", reason=reason, finished=_now())
    return rec


def base_record(plan: CellPlan, cfg: RunConfig) -> dict[str, Any]:
    """The identity part of a cell's record."""
    cell = plan.cell
    return {
        "cell_id": plan.cell_id,
        "method": cell.method,
        "params": cell.params,
        "label": cell.label,
        "dataset": cell.dataset,
        "seed": cell.seed,
        "cell_seed": cell.cell_seed,
        "profile": cfg.profile,
        "method_kwargs": dict(plan.params),
        "max_minutes": plan.budget_minutes,
        "denoise_options": plan.denoise,
        "status": None,
        "reason": None,
        "metrics": {},
        "per_image": {},
        "n_images": 0,
        "fit_s": math.nan,
        "denoise_s": math.nan,
        "peak_rss_mb": math.nan,
        "peak_gpu_mb": None,
        "memory_method": None,
        "device": None,
        "started": None,
        "finished": None,
        "denoised_path": None,
        "model_path": None,
        "noise_sample_path": None,
        "fit_call": None,
        "method_params": None,
        "notes": [],
    }


def execute_cell(
    plan: CellPlan, cfg: RunConfig, dataset, run_dir: Path, *, progress: bool = False
) -> dict[str, Any]:
    """Fit, denoise and score one cell; never raises for a method's error.

    Parameters
    ----------
    plan : CellPlan
        The cell.
    cfg : RunConfig
        The run configuration.
    dataset : NoisyDataset
        The loaded dataset.
    run_dir : pathlib.Path
        The run folder (denoised images, models and scratch files go there).
    progress : bool
        Let the method show its own progress bars.

    Returns
    -------
    dict
        The cell's record (``status`` is ``ok``, ``failed`` or ``skipped``).
    """
    from structnoise.methods import get_entry
    from structnoise.metrics import psnr_stack
    from structnoise.utils import seed_everything

    cell, info = plan.cell, plan.info
    rec = base_record(plan, cfg)
    rec["started"] = _now()
    if info.needs_clean and dataset.train_clean is None:
        rec.update(
            status="skipped",
            reason=f"{cell.method} is supervised and dataset {cell.dataset!r} has no clean "
            "training targets",
            finished=_now(),
        )
        return rec
    params = dict(plan.params)
    if info.uses_axis and "axis" not in params and dataset.axis is not None:
        params["axis"] = dataset.axis
    rec["method_kwargs"] = params
    work_dir = run_dir / "work" / plan.cell_id
    common = {
        "seed": cell.cell_seed,
        "profile": cfg.profile,
        "max_minutes": plan.max_minutes,
        "progress": progress,
        "work_dir": str(work_dir),
    }
    phase = "create"
    mem = PeakMemory()
    t_fit = t_den = math.nan
    try:
        entry = get_entry(cell.method)
        seed_everything(cell.cell_seed)
        with mem:
            method = entry.factory(**params, **_creation_kwargs(entry.factory, common))
            try:
                method.name = cell.method
            except AttributeError:  # pragma: no cover
                pass
            phase = "fit"
            t0 = time.perf_counter()
            if hasattr(method, "get_params"):  # every parameter, defaults included
                rec["method_params"] = method.get_params()
            fit_args, fit_kwargs, rec["fit_call"] = fit_inputs(method, info, dataset)
            method.fit(*fit_args, **fit_kwargs)
            t_fit = time.perf_counter() - t0
            phase = "denoise"
            t0 = time.perf_counter()
            denoised = method.denoise(dataset.test_noisy, **plan.denoise)
            t_den = time.perf_counter() - t0
        denoised = np.asarray(denoised, dtype=np.float32)
        if denoised.shape != dataset.test_noisy.shape:
            raise RuntimeError(
                f"denoise returned shape {denoised.shape} for input {dataset.test_noisy.shape}"
            )
        phase = "score"
        rec["n_images"] = int(denoised.shape[0])
        if dataset.test_clean is not None:
            values = psnr_stack(dataset.test_clean, denoised)
            rec["per_image"]["psnr"] = [float(v) for v in values]
            rec["metrics"]["psnr"] = float(np.mean(values))
        else:
            rec["notes"].append("no ground truth: PSNR not computed")
        phase = "save"
        if cfg.save_denoised:
            from structnoise.io import write_tiff

            rel = Path("denoised") / f"{plan.cell_id}.tif"
            write_tiff(run_dir / rel, denoised)
            rec["denoised_path"] = str(rel)
        if plan.save_model:
            rel = Path("models") / plan.cell_id
            method.save(run_dir / rel)
            rec["model_path"] = str(rel)
        if plan.sample_noise:
            _sample_noise(method, plan, dataset, run_dir, rec)
        rec["status"] = "ok"
    except Exception as exc:  # a failing cell never stops the run
        rec["status"] = "failed"
        rec["reason"] = f"{phase}: {type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc()
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    rec["fit_s"] = t_fit
    rec["denoise_s"] = t_den
    rec["peak_rss_mb"] = mem.rss_mb
    rec["peak_gpu_mb"] = mem.gpu_mb
    rec["memory_method"] = mem.how
    rec["device"] = _device_of(locals().get("method"), info)
    rec["finished"] = _now()
    return rec


def _sample_noise(method, plan: CellPlan, dataset, run_dir: Path, rec: dict) -> None:
    """Draw a new noisy image of the first test image from the method's noise model."""
    sampler = getattr(method, "sample_noisy", None)
    if sampler is None:
        rec["notes"].append(f"{plan.cell.method} cannot sample noise (no sample_noisy)")
        return
    try:
        t0 = time.perf_counter()
        sampled = np.asarray(sampler(dataset.test_noisy[0], seed=plan.cell.cell_seed))
        rec["sample_s"] = time.perf_counter() - t0
    except Exception as exc:  # the cell's result stands; Fig. 5 will say it is missing
        rec["notes"].append(f"sample_noisy failed: {type(exc).__name__}: {exc}")
        return
    arrays = {"noisy": dataset.test_noisy[0], "sampled": sampled}
    if dataset.test_clean is not None:
        arrays["clean"] = dataset.test_clean[0]
    arrays["axis"] = np.array(dataset.axis or "none")
    rel = Path("noise_samples") / f"{plan.cell_id}.npz"
    with atomic_path(run_dir / rel) as tmp:
        np.savez_compressed(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    rec["noise_sample_path"] = str(rel)


# --------------------------------------------------------------------------- records
def record_path(run_dir: Path, cell_id: str) -> Path:
    """Where a cell's record lives."""
    return run_dir / "cells" / f"{cell_id}.json"


def read_records(run_dir: Path) -> dict[str, dict]:
    """All cell records of a run folder, by cell id (unreadable files are ignored)."""
    records = {}
    for path in sorted((run_dir / "cells").glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        records[rec.get("cell_id", path.stem)] = rec
    return records


def write_record(run_dir: Path, rec: dict) -> None:
    """Write one finished cell atomically."""
    write_json(record_path(run_dir, rec["cell_id"]), rec)


#: The file that marks a structnoise run folder: written first when a run folder is
#: created (every structnoise version has written it, with a ``run_id``).
RUN_MARKER = "run.json"
RUN_KIND = "structnoise-run"


class RunFolderError(ConfigError):
    """The output folder is not empty and is not a structnoise run folder."""


def is_run_folder(path: str | Path) -> bool:
    """Whether ``path`` is a run folder written by ``structnoise run``.

    A run folder holds ``run.json``, a JSON object with a ``run_id`` (written when the
    folder is created, before anything else, by every structnoise version).

    Parameters
    ----------
    path : str or pathlib.Path
        A folder.

    Returns
    -------
    bool
    """
    try:
        meta = json.loads((Path(path) / RUN_MARKER).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and isinstance(meta.get("run_id"), str)


def check_run_folder(path: str | Path) -> None:
    """Refuse an output folder that would overwrite someone else's files.

    A folder that does not exist, an empty folder and a run folder
    (:func:`is_run_folder`, resumed) are accepted; anything else is refused before
    anything is written.

    Parameters
    ----------
    path : str or pathlib.Path
        The run's output folder.

    Raises
    ------
    RunFolderError
        With a one-line message.
    """
    path = Path(path)
    if not path.exists():
        return
    if not path.is_dir():
        raise RunFolderError(f"refusing to write the run into {path}: it is a file, not a folder")
    try:
        empty = next(path.iterdir(), None) is None
    except OSError as exc:
        raise RunFolderError(f"cannot read the output folder {path}: {exc}") from exc
    if empty or is_run_folder(path):
        return
    raise RunFolderError(
        f"refusing to write the run into {path}: the folder is not empty and is not a "
        f"structnoise run folder (it has no {RUN_MARKER}); give --out a new or empty folder"
    )


def _keep_config(run_dir: Path, text: str) -> Path:
    """Keep an earlier ``config.yaml`` as ``config.<n>.yaml`` (n = 1, 2, ...)."""
    n = 1
    while (run_dir / f"config.{n}.yaml").exists():
        if (run_dir / f"config.{n}.yaml").read_text() == text:
            return run_dir / f"config.{n}.yaml"  # already kept
        n += 1
    path = run_dir / f"config.{n}.yaml"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def prepare_run_dir(cfg: RunConfig, *, echo=None) -> tuple[Path, str]:
    """Create the run folder, keep the run id across restarts, write the config.

    ``config.yaml`` is this call's configuration (the slurm jobs read it); when a resumed
    run's recorded configuration differs, the earlier one is first kept as
    ``config.<n>.yaml`` (and listed in ``run.json``), never overwritten.

    Parameters
    ----------
    cfg : RunConfig
        The configuration of this call.
    echo : callable, optional
        Where to say that an earlier configuration was kept.

    Returns
    -------
    tuple of (pathlib.Path, str)
        The run folder and the run id.

    Raises
    ------
    RunFolderError
        If the folder is not empty and is not a run folder (nothing is written).
    """
    from structnoise import __version__

    run_dir = cfg.out_dir
    check_run_folder(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    meta_path = run_dir / RUN_MARKER
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        meta = {
            "run_id": f"{_safe(cfg.name)}-{stamp}",
            "kind": RUN_KIND,
            "structnoise_version": __version__,
            "created": _now(),
        }
    meta["updated"] = _now()
    config_path, text = run_dir / "config.yaml", cfg.to_yaml()
    if config_path.exists():
        old = config_path.read_text()
        if old != text:
            kept = _keep_config(run_dir, old)
            meta.setdefault("previous_configs", [])
            if kept.name not in meta["previous_configs"]:
                meta["previous_configs"].append(kept.name)
            if echo is not None:
                echo(
                    f"the configuration differs from the one recorded in {config_path}: "
                    f"the earlier one is kept as {kept}"
                )
    write_json(meta_path, meta)
    with atomic_path(config_path) as tmp:
        tmp.write_text(text)
    return run_dir, meta["run_id"]


# --------------------------------------------------------------------------- progress
class RunProgress:
    """Run-level progress: cells done / total, the cell in flight and an ETA.

    The ETA scales the training budgets of the remaining cells by how long the finished
    cells took compared with their budgets (a classical method counts as 5 s).
    """

    def __init__(self, plans: list[CellPlan], done: set[str], enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.enabled = enabled
        # a bar only on a terminal; in a log file, plain lines
        self.use_bar = enabled and sys.stderr.isatty()
        self.total = len(plans)
        self.estimates = {p.cell_id: self._estimate(p) for p in plans}
        self.remaining = {p.cell_id for p in plans if p.cell_id not in done}
        self.spent = 0.0
        self.estimated_done = 0.0
        self.bar = tqdm(
            total=len(plans),
            initial=len(plans) - len(self.remaining),
            desc="cells",
            unit="cell",
            disable=not self.use_bar,
            dynamic_ncols=True,
            bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| [{elapsed}{postfix}]",
        )

    @staticmethod
    def _estimate(plan: CellPlan) -> float:
        if plan.budget_minutes is None:
            return 5.0 if not plan.info.learns else 3600.0
        return 60.0 * plan.budget_minutes + 10.0

    def eta_seconds(self) -> float:
        """Estimated seconds left."""
        left = sum(self.estimates[c] for c in self.remaining)
        # measured / planned time so far, pulled towards 1 while little has run
        ratio = (self.spent + 60.0) / (self.estimated_done + 60.0)
        return left * ratio

    def start(self, index: int, plan: CellPlan) -> None:
        """Announce the cell in flight."""
        budget = f", training budget {plan.budget_minutes:g} min" if plan.budget_minutes else ""
        self.write(
            f"[{index}/{self.total}] {plan.cell.label} on {plan.cell.dataset}, "
            f"seed {plan.cell.seed}{budget} (run eta {self._eta()})"
        )
        self.bar.set_postfix_str(f"now {plan.cell.label}/{plan.cell.dataset}, eta {self._eta()}")

    def finish(self, plan: CellPlan, rec: dict, seconds: float) -> None:
        """Count a finished cell."""
        self.remaining.discard(plan.cell_id)
        self.spent += seconds
        self.estimated_done += self.estimates[plan.cell_id]
        value = rec.get("metrics", {}).get("psnr")
        what = f"PSNR {value:.2f} dB" if value is not None else (rec.get("reason") or "")
        done = self.total - len(self.remaining)
        self.write(f"    {rec['status']}: {what} ({seconds:.1f} s; {done}/{self.total} cells done)")
        self.bar.update(1)
        self.bar.set_postfix_str(f"eta {self._eta()}")

    def _eta(self) -> str:
        seconds = int(self.eta_seconds())
        return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"

    def write(self, text: str) -> None:
        """Print a line above the bar (nothing when progress is off)."""
        if not self.enabled:
            return
        if self.use_bar:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()


# --------------------------------------------------------------------------- run
@dataclass
class RunResult:
    """What :func:`run` returns.

    Attributes
    ----------
    run_dir : pathlib.Path
        The run folder.
    run_id : str
        The run's id (kept across restarts).
    table : pandas.DataFrame
        The tidy results table.
    counts : dict
        Number of cells per status, plus ``reused`` (recorded before this call).
    wall_s : float
        Seconds this call took.
    reports : dict
        Paths written by the report (empty when ``report`` is off).
    """

    run_dir: Path
    run_id: str
    table: Any
    counts: dict[str, int]
    wall_s: float
    reports: dict


def run(
    config: RunConfig | str | Path | dict,
    *,
    progress: bool = True,
    retry: bool = False,
    **overrides: Any,
) -> RunResult:
    """Run a benchmark: every cell of ``config``, resuming what an earlier call recorded.

    Parameters
    ----------
    config : RunConfig, str, path or dict
        A configuration, or anything :func:`load_config` reads.
    progress : bool
        Show run and cell progress on stderr.
    retry : bool
        Re-run cells recorded as ``failed`` or ``skipped`` (finished ``ok`` cells are
        always reused).
    **overrides
        Configuration keys to replace (as the CLI flags do).

    Returns
    -------
    RunResult

    Raises
    ------
    ConfigError
        For an invalid configuration or unknown method/dataset names (before any cell
        runs). Dataset names, and method names when the config lists no plugins, are
        checked before the plugins are imported.
    RunFolderError
        If the output folder is not empty and is not a run folder (checked before the
        plugins are imported; nothing is written).

    Notes
    -----
    The config's ``plugins`` are imported, i.e. run, as Python code: a configuration
    (and a run folder's ``config.yaml``) is to be trusted like a script.
    """
    from structnoise.benchmark.results import build_table, write_provenance, write_table

    t_start = time.perf_counter()
    if isinstance(config, RunConfig):
        cfg = config.with_overrides(**overrides) if overrides else config
    else:
        cfg = load_config(config, **overrides)
    # names that do not depend on the plugins, and the output folder, are checked
    # before any plugin code runs
    validate_names(cfg, before_plugins=True)
    check_run_folder(cfg.out_dir)
    import_plugins(cfg.plugins)
    validate_names(cfg)
    plans = plan_cells(cfg)
    notes: list = []
    run_dir, run_id = prepare_run_dir(cfg, echo=notes.append)
    write_provenance(run_dir, cfg, run_id, finished=False)

    records = read_records(run_dir)
    keep = ("ok",) if retry else STATUSES
    done = {p.cell_id for p in plans if records.get(p.cell_id, {}).get("status") in keep}
    todo = [p for p in plans if p.cell_id not in done]
    bar = RunProgress(plans, done, progress)
    for msg in notes:
        bar.write(msg)
    if done:
        bar.write(f"resuming {run_dir}: {len(done)} of {len(plans)} cells already recorded")

    def on_finish(plan: CellPlan, rec: dict, seconds: float) -> None:
        write_record(run_dir, rec)
        bar.finish(plan, rec, seconds)
        write_table(run_dir, build_table(run_dir, plans, run_id))

    try:
        if cfg.executor == "slurm" and todo:
            from structnoise.benchmark.slurm import run_slurm

            run_slurm(cfg, run_dir, todo, bar, on_finish)
        else:
            _run_local(cfg, run_dir, plans, todo, bar, on_finish, progress)
    finally:
        bar.close()

    table = build_table(run_dir, plans, run_id)
    write_table(run_dir, table)
    write_provenance(run_dir, cfg, run_id, finished=True, wall_s=time.perf_counter() - t_start)
    final = read_records(run_dir)
    counts = {s: sum(final.get(p.cell_id, {}).get("status") == s for p in plans) for s in STATUSES}
    counts["reused"] = len(done)
    reports: dict = {}
    if cfg.report:
        from structnoise.benchmark.report import report

        try:
            reports = report(run_dir, echo=bar.write if progress else None)
        except Exception as exc:  # the results are safe; say so rather than crash
            msg = f"the reports failed ({type(exc).__name__}: {exc}); the results table is "
            msg += f"complete: run `structnoise report {run_dir}` after fixing the cause"
            print(msg, file=sys.stderr)
            reports = {"error": msg}
    return RunResult(run_dir, run_id, table, counts, time.perf_counter() - t_start, reports)


def _run_local(cfg, run_dir, plans, todo, bar, on_finish, progress) -> None:
    """Run the cells one after another in this process, one dataset in memory at a time."""
    current_name, current, load_error = None, None, None
    index = {p.cell_id: i + 1 for i, p in enumerate(plans)}
    for plan in todo:
        name = plan.cell.dataset
        if name != current_name:
            current_name, current, load_error = name, None, None
            try:
                current = load_dataset(cfg, name)
                save_example(run_dir, current)
            except Exception as exc:  # not on disk, not downloadable, unreadable ...
                load_error = f"dataset {name!r} unavailable: {type(exc).__name__}: {exc}"
        bar.start(index[plan.cell_id], plan)
        t0 = time.perf_counter()
        if current is None:
            rec = skipped_record(plan, cfg, load_error or "dataset unavailable")
        else:
            rec = execute_cell(plan, cfg, current, run_dir, progress=progress)
        on_finish(plan, rec, time.perf_counter() - t0)


def run_cell_job(run_dir: str, cell_id: str) -> str:
    """Run one cell of a prepared run folder (what each slurm job executes).

    Parameters
    ----------
    run_dir : str
        The run folder (its ``config.yaml`` describes the run).
    cell_id : str
        The cell to run.

    Returns
    -------
    str
        The cell's status.
    """
    run_path = Path(run_dir)
    cfg = load_config(run_path / "config.yaml")
    import_plugins(cfg.plugins)
    plans = {p.cell_id: p for p in plan_cells(cfg)}
    plan = plans[cell_id]
    try:
        dataset = load_dataset(cfg, plan.cell.dataset)
        save_example(run_path, dataset)
    except Exception as exc:
        rec = skipped_record(
            plan, cfg, f"dataset {plan.cell.dataset!r} unavailable: {type(exc).__name__}: {exc}"
        )
    else:
        rec = execute_cell(plan, cfg, dataset, run_path, progress=False)
    write_record(run_path, rec)
    return rec["status"]
