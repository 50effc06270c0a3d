"""Executing one cell: create the method, fit (scored at its marks), denoise, score, save.

One module for the whole execution of a cell, called once by the runner (or a slurm job)
with the cell's plan and dataset, returning the cell's record (:mod:`.records` names its
keys): the fit contract (:func:`fit_inputs`), the training clock (:class:`TrainClock`),
the evaluations at curve marks (:func:`mark_hook`) and the scoring with every metric of
:data:`structnoise.metrics.METRICS` (:func:`score_images`) live here.

How a cell calls its method (:func:`execute_cell`), by declaration only (the runner never
looks at signatures):

1. ``factory(**method_kwargs, seed=cell_seed, profile=..., max_minutes=..., progress=...,
   work_dir=RUN_DIR/work/<cell>)`` where ``method_kwargs`` = the method's per-dataset
   defaults (``MethodInfo.dataset_defaults``), then the config's ``dataset_params``,
   then the cell's grid parameters (all resolved in the plan, :class:`~.cells.CellPlan`);
   methods with ``MethodInfo.uses_axis`` also get the dataset's ``axis`` unless a
   parameter sets it (unstructured datasets have no axis: the method's default applies).
   The five common keywords are part of the :class:`~structnoise.methods.Denoiser`
   contract: every registered factory, also a plugin's, must accept them
   (:class:`~structnoise.methods.BaseDenoiser` does).
2. ``fit`` as :func:`fit_inputs` derives it from ``MethodInfo.clean_use`` and
   ``MethodInfo.extra_noisy``; a method with ``needs_clean`` on a dataset without clean
   training images is ``skipped``.
3. ``denoise(test_noisy, **denoise_options)``; sampling methods get ``n_samples`` (the
   profile's default unless the config or the method's ``denoise`` options say otherwise).
4. every metric per test image (:func:`structnoise.metrics.score_stack`), averaged. Fit
   and denoise seconds, peak memory (:class:`.PeakMemory`), the device and the training
   summary (``steps``, ``train_minutes``, ``stopped_by`` from the method's
   ``train_summary``) are recorded; an exception makes the cell ``failed`` (with the
   error) and the run goes on.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from structnoise.benchmark.choices import Status
from structnoise.benchmark.memory import PeakMemory
from structnoise.benchmark.records import (
    base_record,
    dataset_fingerprint,
    is_short,
    train_summary_fields,
)
from structnoise.benchmark.runfolder import (
    denoised_relpath,
    model_relpath,
    noise_sample_relpath,
    now,
    work_path,
)
from structnoise.utils import atomic_path

if TYPE_CHECKING:
    from structnoise.benchmark.cells import CellPlan


# --------------------------------------------------------------------------- fit contract
def fit_inputs(info, dataset, protocol: str = "paper") -> tuple[tuple, dict, str]:
    """What a cell passes to ``fit``, and a description of the call for the record.

    * ``clean_use == "none"`` (unsupervised): ``fit(all noisy images)``, the training and
      the test images, as the paper's code does;
    * ``"target"`` (supervised, CARE): ``fit(train_noisy, train_clean)``;
    * ``"calibration"`` (clean images only calibrate a noise model, HDN):
      ``fit(train_noisy, train_clean, extra_noisy=test_noisy)`` when the method declares
      ``extra_noisy``, so that its network sees every noisy image as the unsupervised
      methods do while the clean test images stay unseen; else
      ``fit(train_noisy, train_clean)``.

    Under the ``held-out`` protocol (:mod:`.protocols`) no test image reaches ``fit``:
    unsupervised methods get ``fit(train_noisy)`` and ``extra_noisy`` is not passed.

    Parameters
    ----------
    info : MethodInfo
        The method's declaration (``clean_use``, ``extra_noisy``).
    dataset : NoisyDataset
        The cell's dataset.
    protocol : {"paper", "held-out"}
        ``RunConfig.protocol``.

    Returns
    -------
    tuple
        ``(args, kwargs, description)``.

    Raises
    ------
    ValueError
        For a ``clean_use`` that is none of the three.
    """
    use = info.clean_use
    if use not in ("none", "target", "calibration"):
        raise ValueError(
            f"MethodInfo.clean_use {use!r} is not one of 'none', 'target', 'calibration'"
        )
    held_out = protocol == "held-out"
    if use == "none" or dataset.train_clean is None:
        if held_out:
            return (dataset.train_noisy,), {}, "fit(train_noisy)"
        return (dataset.all_noisy,), {}, "fit(train_noisy + test_noisy)"
    pairs = (dataset.train_noisy, dataset.train_clean)
    if use == "calibration" and info.extra_noisy and not held_out:
        return (
            pairs,
            {"extra_noisy": dataset.test_noisy},
            "fit(train_noisy, train_clean, extra_noisy=test_noisy)",
        )
    return pairs, {}, "fit(train_noisy, train_clean)"


# --------------------------------------------------------------------------- scoring
class TrainClock:
    """Process CPU and wall seconds of training, with evaluations at marks left out."""

    def __init__(self) -> None:
        self._cpu0 = self._wall0 = 0.0
        self._paused_cpu = self._paused_wall = 0.0

    def start(self) -> None:
        """Start counting (when ``fit`` is called)."""
        self._cpu0, self._wall0 = time.process_time(), time.perf_counter()

    def now(self) -> dict[str, float]:
        """Training CPU and wall seconds so far."""
        return {
            "train_cpu_s": time.process_time() - self._cpu0 - self._paused_cpu,
            "train_wall_s": time.perf_counter() - self._wall0 - self._paused_wall,
        }

    @contextlib.contextmanager
    def paused(self):
        """Leave the time spent inside out of the training time (an evaluation)."""
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            yield
        finally:
            self._paused_cpu += time.process_time() - cpu
            self._paused_wall += time.perf_counter() - wall

    def stop(self) -> dict[str, Any]:
        """The record's ``train_cpu_s``, ``train_wall_s`` and ``threads``."""
        out: dict[str, Any] = self.now()
        torch = sys.modules.get("torch")
        out["threads"] = torch.get_num_threads() if torch is not None else None
        return out


def score_images(dataset, denoised: np.ndarray) -> dict[str, np.ndarray] | None:
    """Every metric of :data:`structnoise.metrics.METRICS` per test image (None: no truth)."""
    from structnoise.metrics import score_stack

    if dataset.test_clean is None:
        return None
    return score_stack(dataset.test_clean, denoised)


def mark_hook(plan: CellPlan, dataset, rec: dict, clock: TrainClock):
    """The ``snapshot_hook`` function that evaluates the test images at a step mark.

    The time the evaluation takes is kept out of the cell's training CPU and wall time
    (``clock``); a failing evaluation only adds a note (the cell's result stands).
    """

    def hook(method, info: dict) -> None:
        train = clock.now()  # the training time so far, evaluations excluded
        with clock.paused():
            try:
                den = np.asarray(
                    method.denoise(dataset.test_noisy, **plan.denoise_options), dtype=np.float32
                )
                scores = score_images(dataset, den) or {}
            except Exception as exc:  # the curve misses a point, the cell goes on
                rec["notes"].append(
                    f"evaluation at step {info.get('steps')} failed: {type(exc).__name__}: {exc}"
                )
                return
            rec["marks"].append(
                {
                    "mark_step": int(info.get("mark", info.get("steps"))),
                    "steps": int(info.get("steps")),
                    "train_wall_s": train["train_wall_s"],
                    "train_cpu_s": train["train_cpu_s"],
                    "metrics": {k: float(np.mean(v)) for k, v in scores.items()},
                    "per_image": {k: [float(x) for x in v] for k, v in scores.items()},
                }
            )

    return hook


# --------------------------------------------------------------------------- one cell
def _device_of(method, info) -> str:
    dev = getattr(method, "device", None)
    if dev is not None:
        return str(dev)
    if not info.learns or "torch" not in sys.modules:
        return "cpu"
    from structnoise.utils import pick_device

    return pick_device()


def execute_cell(
    plan: CellPlan, dataset, run_dir: Path, *, progress: bool = False
) -> dict[str, Any]:
    """Fit, denoise and score one cell; never raises for a method's error.

    Parameters
    ----------
    plan : CellPlan
        The cell, with every setting resolved (:func:`~.cells.plan_cells`).
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
    from structnoise.utils import seed_everything

    cell, info = plan.cell, plan.info
    rec = base_record(plan)
    rec["started"] = now()
    rec["dataset_fingerprint"] = dataset_fingerprint(dataset)
    if info.needs_clean and dataset.train_clean is None:
        rec.update(
            status=Status.SKIPPED,
            reason=f"{cell.method} is supervised and dataset {cell.dataset!r} has no clean "
            "training targets",
            finished=now(),
        )
        return rec
    method_kwargs = rec["method_kwargs"] = plan.method_params(dataset.axis)
    work_dir = work_path(run_dir, plan.cell_id)
    phase, method, mem = "create", None, PeakMemory()
    t_fit = t_den = math.nan
    shared = _shared_fit_key(plan, method_kwargs)
    try:
        seed_everything(cell.cell_seed)
        with mem:
            if shared in _FITS:  # only the denoise options differ: reuse the fitted model
                method, t_fit, rec["method_params"], rec["fit_call"], train = _FITS[shared]
                rec.update(train)  # the shared training's clock (its curve marks stay there)
                rec["fit_shared"] = True
            else:
                method = _create(plan, method_kwargs, work_dir, progress)
                phase = "fit"
                t0 = time.perf_counter()
                if hasattr(method, "get_params"):  # every parameter, defaults included
                    rec["method_params"] = method.get_params()
                fit_args, fit_kwargs, rec["fit_call"] = fit_inputs(
                    info, dataset, getattr(plan, "protocol", "paper")
                )
                clock = TrainClock()
                if plan.marks:
                    hook = mark_hook(plan, dataset, rec, clock)
                    method.snapshot_hook = (plan.marks, hook, "steps")
                load0 = os.getloadavg()[0]
                clock.start()
                method.fit(*fit_args, **fit_kwargs)
                t_fit = time.perf_counter() - t0
                train = {**clock.stop(), "load_before": load0, "load_after": os.getloadavg()[0]}
                rec.update(train)
                if shared is not None:
                    fitted = (method, t_fit, rec.get("method_params"), rec["fit_call"], train)
                    _keep_fit(shared, fitted)
            _record_train_summary(method, rec)
            rec["short"] = is_short(rec, plan)
            phase = "denoise"
            t0 = time.perf_counter()
            denoised = method.denoise(dataset.test_noisy, **plan.denoise_options)
            t_den = time.perf_counter() - t0
        denoised = np.asarray(denoised, dtype=np.float32)
        if denoised.shape != dataset.test_noisy.shape:
            raise RuntimeError(
                f"denoise returned shape {denoised.shape} for input {dataset.test_noisy.shape}"
            )
        phase = "score"
        _score(denoised, dataset, rec)
        phase = "save"
        _save(method, denoised, plan, dataset, run_dir, rec)
        rec["status"] = Status.OK
    except Exception as exc:  # a failing cell never stops the run
        rec["status"] = Status.FAILED
        rec["reason"] = f"{phase}: {type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc()
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    rec.update(
        fit_s=t_fit,
        denoise_s=t_den,
        peak_rss_mb=mem.rss_mb,
        peak_gpu_mb=mem.gpu_mb,
        memory_method=mem.how,
        device=_device_of(method, info),
        finished=now(),
    )
    return rec


#: The last fitted model of a cell whose grid varies a ``denoise`` option, by fit identity.
_FITS: dict[tuple, tuple] = {}


def _keep_fit(key: tuple, value: tuple, most: int = 8) -> None:
    """Keep a fitted model for later cells of the same dataset (at most ``most`` of them)."""
    if any(k[2] != key[2] for k in _FITS) or len(_FITS) >= most:
        _FITS.clear()
    _FITS[key] = value


def _shared_fit_key(plan: CellPlan, method_kwargs: dict) -> tuple | None:
    """The fit identity of a cell whose grid varies ``denoise`` options (None: no sharing).

    Cells such as ``dvlae-small[direct=true,mode=mmse,direct]`` differ only in how they
    denoise: they have the same seed (:func:`~structnoise.benchmark.cells.fit_params`) and
    the second one reuses the first one's fitted model (``fit_shared`` in its record, with
    the first one's fit seconds) when both run in the same process (the models of the
    current dataset are kept; a slurm job per cell fits each cell itself).
    """
    if not set(plan.cell.params) & set(plan.info.denoise_options or ()):
        return None
    from structnoise.benchmark.cells import canonical_params

    cell = plan.cell
    return (
        cell.method,
        canonical_params(method_kwargs),
        cell.dataset,
        cell.cell_seed,
        plan.profile,
        plan.max_minutes,
        getattr(plan, "protocol", "paper"),
    )


def _create(plan: CellPlan, method_kwargs, work_dir, progress):
    """The cell's method, named as the cell names it."""
    method = plan.create_method(method_kwargs, work_dir=str(work_dir), progress=progress)
    try:
        method.name = plan.cell.method
    except AttributeError:  # pragma: no cover
        pass
    return method


def _record_train_summary(method, rec: dict) -> None:
    """Put the training summary into the record; an unreadable one only adds a note."""
    try:
        rec.update(train_summary_fields(method))
    except (TypeError, ValueError, KeyError) as exc:
        rec["notes"].append(f"unreadable train_summary: {type(exc).__name__}: {exc}")


def _score(denoised: np.ndarray, dataset, rec: dict) -> None:
    """Record every metric per test image and its mean (a note without ground truth)."""
    rec["n_images"] = int(denoised.shape[0])
    scores = score_images(dataset, denoised)
    if scores is None:
        rec["notes"].append("no ground truth: metrics not computed")
        return
    for name, values in scores.items():
        rec["per_image"][name] = [float(v) for v in values]
        rec["metrics"][name] = float(np.mean(values))


def _save(method, denoised, plan: CellPlan, dataset, run_dir, rec) -> None:
    """Write the denoised images, the model and a noise sample, as the config asks."""
    if plan.save_denoised:
        from structnoise.io import write_tiff

        rel = denoised_relpath(plan.cell_id)
        write_tiff(run_dir / rel, denoised)
        rec["denoised_path"] = str(rel)
    if plan.spec.save_model:
        rel = model_relpath(plan.cell_id)
        method.save(run_dir / rel)
        rec["model_path"] = str(rel)
    if plan.spec.sample_noise:
        _sample_noise(method, plan, dataset, run_dir, rec)


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
    rel = noise_sample_relpath(plan.cell_id)
    with atomic_path(run_dir / rel) as tmp:
        np.savez_compressed(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    rec["noise_sample_path"] = str(rel)
