"""The ``train`` and ``denoise`` commands, generic over every registered method.

Examples::

    structnoise train dvlae-small noisy.tif --out model/ --axis horizontal --max-minutes 20
    structnoise train dvlae-small noisy.tif --out model/ --rf 10 --profile paper --seed 1
    structnoise train care noisy.tif --clean clean.tif --out care-model/
    structnoise denoise model/ noisy.tif denoised.tif --samples 100 --tile 512

What a method takes is read from its declarations (:class:`MethodInfo`), never from
signatures: ``--axis`` is accepted by methods with ``uses_axis``, ``--rf`` by methods
with ``uses_rf``, ``--clean`` is required by supervised methods (``needs_clean``), and
``denoise`` passes ``--samples``, ``--tile``, ``--mode`` and ``--seed`` to methods whose
``denoise_options`` list them; anything else a method takes is passed with
``--set KEY=VALUE``.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from structnoise._cli_util import describe_unhandled, fail
from structnoise._validate import NoiseAxis, as_stack
from structnoise.methods.contract import Mode, Profile

#: The AR receptive field each DVLAE profile uses when ``--rf`` is not given: the values of
#: :data:`structnoise.methods.dvlae.profiles.PROFILES` (``rf``), repeated here so that the
#: help text needs no torch import (``tests/test_cli_train.py`` checks they agree).
PROFILE_RF = {"quick": 40, "paper": 40, "smoke": 40}

#: Help of ``train --rf``.
RF_HELP = (
    "Receptive field of DVLAE's AR decoder: pixels, or 'auto' (matched to the noise's "
    "correlation length). Default: the profile's ("
    + ", ".join(f"{p}: {rf}" for p, rf in PROFILE_RF.items())
    + ")."
)

#: Help of ``--threads`` (train, denoise; ``run`` has its own).
THREADS_HELP = (
    "CPU threads of this process (default: OMP_NUM_THREADS if set, else the cores this "
    "process is given: its CPU affinity and cgroup quota). See docs/threads.md."
)

#: ``denoise`` flags and the option each sets.
DENOISE_FLAGS = {"--samples": "n_samples", "--tile": "tile", "--mode": "mode", "--seed": "seed"}


AXES_HELP = (
    "Axes of the input, e.g. YX, SYX, YXC (colour), CYX, TYXC: channels, time points and "
    "planes are treated as images of their own and the output keeps the input's layout. "
    "Default: what the file says (RGB TIFF/PNG, ImageJ axes), else YX / SYX; an ambiguous "
    "shape (an axis of 3 or 4 first or last) must be named."
)


@contextlib.contextmanager
def _warnings_to_stderr():
    """Print each warning raised inside as one line ``warning: ...`` on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen = set()
            for w in caught:
                text = str(w.message).splitlines()[0] if str(w.message) else ""
                if issubclass(w.category, DeprecationWarning) or not text or text in seen:
                    continue
                seen.add(text)
                if _is_ours(w):
                    typer.echo(f"warning: {text}", err=True)


def _is_ours(w: warnings.WarningMessage) -> bool:
    """Whether a warning comes from structnoise (others' warnings stay hidden here)."""
    from structnoise.methods.checks import DataRangeWarning

    return issubclass(w.category, DataRangeWarning) or "structnoise" in str(w.filename)


def _parse_set(items: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` strings to a dict; values are JSON where they parse, else strings."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _int_option(flag: str, value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{flag} must be a whole number or 'auto', got {value!r}") from None


def build_method(
    name: str,
    *,
    axis: str | None = None,
    rf: int | str | None = None,
    profile: str = "quick",
    max_minutes: float | None = None,
    seed: int = 0,
    extra: dict[str, Any] | None = None,
    progress: bool = True,
):
    """Create a registered method from command-line options, checking that it takes them.

    Parameters
    ----------
    name : str
        Registered method name.
    axis : str, optional
        Passed only to methods with ``info.uses_axis``; an error otherwise.
    rf : int or "auto", optional
        Passed only to methods with ``info.uses_rf`` (or, until they declare it, whose
        parameters include ``rf``); an error otherwise.
    profile : str
        Training profile.
    max_minutes : float, optional
        Training budget.
    seed : int
        Seed.
    extra : dict, optional
        Further method parameters.
    progress : bool
        Show progress bars.

    Returns
    -------
    Denoiser
    """
    from structnoise import methods

    info = methods.method_info(name)
    params: dict[str, Any] = dict(extra or {})
    params.update(seed=seed, profile=profile, progress=progress)
    if max_minutes is not None:
        if max_minutes <= 0:
            raise ValueError(f"--max-minutes must be positive, got {max_minutes}")
        params["max_minutes"] = float(max_minutes)
    if axis is not None:
        if not info.uses_axis:
            raise ValueError(f"{name} does not model structured noise along an axis: drop --axis")
        params["axis"] = str(axis)
    if rf is not None:
        if not info.uses_rf:
            raise ValueError(f"{name} has no receptive-field parameter: drop --rf")
        params["rf"] = "auto" if str(rf).strip().lower() == "auto" else _int_option("--rf", rf)
    return methods.create(name, **params)


def train_command(
    method: Annotated[str, typer.Argument(help="Method name (see `structnoise list methods`).")],
    noisy: Annotated[Path, typer.Argument(help="Noisy images: TIFF stack, image or folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to save the model in.")],
    axis: Annotated[
        NoiseAxis | None,
        typer.Option(help="Direction the noise is correlated along (methods with an axis)."),
    ] = None,
    rf: Annotated[
        str | None,
        typer.Option(help=RF_HELP),
    ] = None,
    profile: Annotated[
        Profile, typer.Option(help="quick: minutes on a CPU; paper: the paper's settings.")
    ] = Profile.QUICK,
    max_minutes: Annotated[
        float | None, typer.Option(help="Wall-clock training budget in minutes.")
    ] = None,
    clean: Annotated[
        Path | None, typer.Option(help="Clean targets (required by supervised methods).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of everything random.")] = 0,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Further method parameter KEY=VALUE (repeatable)."),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Replace the saved model in --out (only a folder holding a structnoise "
            "model, or an empty one, is ever replaced; atomically, after training; files "
            "in it that are not the model's own are kept)."
        ),
    ] = False,
    axes: Annotated[str | None, typer.Option(help=AXES_HELP)] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    direct: Annotated[
        bool,
        typer.Option("--direct", help="DVLAE: also train the direct denoiser (--mode direct)."),
    ] = False,
    threads: Annotated[int | None, typer.Option(min=1, help=THREADS_HELP)] = None,
) -> None:
    """Train a method on noisy images and save it (then use `structnoise denoise`)."""
    from structnoise import methods
    from structnoise.interrupt import Interrupted, deferred, interruptible
    from structnoise.io import read_stack
    from structnoise.methods.checks import TrainingDivergedError
    from structnoise.methods.summary import TrainSummary
    from structnoise.threads import use_threads
    from structnoise.utils import check_model_dir, same_file, save_model_dir

    use_threads(threads)
    try:
        info = methods.method_info(method)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    try:
        check_model_dir(out, [noisy, clean], overwrite=overwrite)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if info.needs_clean and clean is None:
        raise fail(f"{method} is supervised: pass the clean targets with --clean CLEAN.tif")
    try:
        model = build_method(
            method,
            axis=None if axis is None else axis.value,
            rf=rf,
            profile=profile.value,
            max_minutes=max_minutes,
            seed=seed,
            extra={**_parse_set(set_), **({"direct": True} if direct else {})},
            progress=progress,
        )
        x = as_stack(read_stack(noisy, axes), name=str(noisy))[0]
        c = as_stack(read_stack(clean, axes), name=str(clean))[0] if clean is not None else None
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    if c is not None and (same_file(noisy, clean) or np.array_equal(x, c)):
        raise fail(
            f"--clean {clean} holds the same images as {noisy}: the method would learn to "
            "change nothing; pass the clean (ground-truth) images"
        )
    if c is not None and not info.needs_clean:
        typer.echo(f"note: {method} is unsupervised; it learns from the noisy images only")
    budget = getattr(model, "budget_minutes", None)
    typer.echo(
        f"training {method} on {noisy} {tuple(x.shape)} (profile {profile.value}"
        + (f", budget {budget:g} min" if budget else "")
        + ")"
    )
    try:
        with interruptible(), _warnings_to_stderr():
            model.fit(x, c)
    except Interrupted as exc:
        typer.echo(f"{exc} during training: no model written", err=True)
        raise typer.Exit(exc.exit_status) from None
    except TrainingDivergedError as exc:
        raise fail(f"{exc}; no model written") from None
    except (ValueError, TypeError) as exc:
        raise fail(str(exc)) from None
    # the new model is written beside --out and swapped in, carrying over the files of
    # --out that were not the old model's (a user's notes)
    try:
        check_model_dir(out, [noisy, clean], overwrite=overwrite)  # still safe to replace?
        with deferred():  # a signal waits until the model is saved (a second or so)
            kept = save_model_dir(model.save, out)
    except Interrupted as exc:
        typer.echo(f"{exc} while saving; the model was saved to {out} first", err=True)
        raise typer.Exit(exc.exit_status) from None
    except ValueError as exc:
        raise fail(f"could not save the model: {exc}") from None
    except OSError as exc:  # a full disk or a read-only folder
        raise fail(f"could not save the model: {describe_unhandled(exc)}") from None
    if kept:
        shown = ", ".join(kept[:5]) + (f" and {len(kept) - 5} more" if len(kept) > 5 else "")
        typer.echo(f"kept {len(kept)} file(s) in {out} that are not the model's: {shown}")
    try:
        summary = TrainSummary.from_dict(getattr(model, "train_summary", None))
    except (ValueError, TypeError):  # an outside method's summary in another form
        summary = None
    if summary is not None:
        typer.echo(summary.line())
    typer.echo(f"saved {method} to {out}")


def denoise_command(
    model_dir: Annotated[Path, typer.Argument(help="Folder written by `structnoise train`.")],
    input_path: Annotated[Path, typer.Argument(help="Noisy TIFF stack, image or folder.")],
    output: Annotated[
        Path,
        typer.Argument(help="Output: .tif/.tiff (float32 TIFF, input's shape) or .npy."),
    ],
    samples: Annotated[
        int | None,
        typer.Option(
            help="Posterior samples averaged (sampling methods; default 100). For DVLAE it "
            "asks for the MMSE even when the model has a direct denoiser."
        ),
    ] = None,
    tile: Annotated[
        int | None, typer.Option(help="Largest tile side for large images (network methods).")
    ] = None,
    mode: Annotated[
        Mode | None,
        typer.Option(
            help="Sampling methods: mmse, one sample, mean latent, or direct (DVLAE's direct "
            "denoiser). Default: direct when the model has one and --samples is not given, "
            "else mmse."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the posterior samples (default: the model's).")
    ] = None,
    axes: Annotated[str | None, typer.Option(help=AXES_HELP)] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace OUTPUT if it exists (never the input).")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    threads: Annotated[int | None, typer.Option(min=1, help=THREADS_HELP)] = None,
) -> None:
    """Denoise images with a trained model; write float32 .tif (or .npy) of the input's shape."""
    from structnoise import methods
    from structnoise.axes import to_stack
    from structnoise.io import check_output_format, read_image, write_image
    from structnoise.methods.checks import check_finite_output
    from structnoise.threads import use_threads
    from structnoise.utils import check_output_file

    use_threads(threads)
    if not (model_dir / "method.json").is_file():
        raise fail(f"{model_dir} is not a saved structnoise model (no method.json)")
    try:
        check_output_file(output, [input_path, model_dir], overwrite=overwrite)
        check_output_format(output)
        model = methods.load(model_dir)
    except KeyError as exc:
        raise fail(str(exc.args[0] if exc.args else exc)) from None
    except (OSError, ValueError, TypeError) as exc:
        raise fail(str(exc)) from None
    values = {
        "--samples": samples,
        "--tile": tile,
        "--mode": None if mode is None else mode.value,
        "--seed": seed,
    }
    options = {DENOISE_FLAGS[f]: v for f, v in values.items() if v is not None}
    declared = _declared_options(model)
    if declared is not None:
        for flag, key in DENOISE_FLAGS.items():
            if key in options and key not in declared:
                raise fail(f"{getattr(model, 'name', 'this method')} does not take {flag}")
    if hasattr(model, "progress"):
        model.progress = progress
    try:
        arr, found = read_image(input_path, axes)
        stack, layout = to_stack(arr, found)
        as_stack(stack, name=str(input_path))  # NaN, infinite or huge values, named by file
        x = stack[0] if layout.was_2d else stack
        with _warnings_to_stderr():
            result = np.asarray(_denoise(model, x, options, declared), dtype=np.float32)
        check_finite_output(result, getattr(model, "name", "the model"))
        result = layout.restore(result)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        raise fail(str(exc)) from None
    try:
        write_image(output, result, found)
    except OSError as exc:  # a full disk or a read-only folder
        raise fail(f"cannot write {output}: {describe_unhandled(exc)}") from None
    typer.echo(f"wrote {output} {tuple(result.shape)} float32 (axes {found})")


def _declared_options(model) -> tuple[str, ...] | None:
    """The options ``model.denoise`` declares (None: it does not declare them)."""
    info = getattr(model, "info", None)
    return getattr(info, "denoise_options", None)


def _denoise(model, x: np.ndarray, options: dict[str, Any], declared) -> np.ndarray:
    """``model.denoise(x, **options)``, with the refusal of an undeclared method explained.

    A method that does not declare its options checks them itself; its TypeError for
    one it does not take becomes the ``does not take --flag`` error (a ValueError).
    """
    if declared is not None or not options:
        return model.denoise(x, **options)
    try:
        return model.denoise(x, **options)
    except TypeError as exc:
        flags = [f for f, k in DENOISE_FLAGS.items() if k in options and repr(k) in str(exc)]
        flags = flags or [f for f, k in DENOISE_FLAGS.items() if k in options]
        name = getattr(model, "name", "this method")
        raise ValueError(f"{name} does not take {', '.join(flags)} ({exc})") from None


def add_commands(app: typer.Typer) -> None:
    """Add ``train``, ``denoise``, ``import-authors`` and ``export`` to the command.

    Parameters
    ----------
    app : typer.Typer
        The root application.
    """
    from structnoise.methods.dvlae.authors.cli import import_authors_command
    from structnoise.methods.export.cli import export_command

    app.command("train")(train_command)
    app.command("denoise")(denoise_command)
    app.command("import-authors")(import_authors_command)
    app.command("export")(export_command)
