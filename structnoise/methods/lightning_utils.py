"""Running a Lightning training loop quietly inside a method's own folder.

DVLAE and HDN train their networks with the same bare Lightning set-up: no logger, no
checkpoints, no progress bar of Lightning's own (the methods show theirs), every file
inside a work folder (a temporary one unless given), Lightning's info messages and its
data-loader warnings silenced.

Every learnt method (DVLAE, HDN and the careamics baselines) also trains with the
callback ``DivergenceGuard`` (:class:`DivergenceChecks`): a non-finite training loss,
non-finite weights or a non-finite validation loss stop training with
:class:`~structnoise.methods.base.TrainingDivergedError` instead of ending it quietly
(e.g. by early stopping) with a broken model.

Lightning is imported only when a loop runs or the guard's class is first used
(:func:`divergence_guard_class`), never when the methods are imported.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from structnoise.methods.checks import TrainingDivergedError
from structnoise.methods.summary import StopReason

#: Warnings that Lightning emits for the deliberate choices of this suite (in-process data
#: loading, no logger) and for internals of the installed torch version.
_IGNORED_MESSAGES = (
    ".*does not have many workers.*",
    ".*num_workers.*",
    ".*[Ll]it[Ll]ogger.*",
    ".*LeafSpec.*",
    ".*treespec.*",
)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's info messages and its data-loader warnings."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        for message in _IGNORED_MESSAGES:
            warnings.filterwarnings("ignore", message=message)
        warnings.filterwarnings("ignore", category=UserWarning, module="lightning")
        try:
            yield
        finally:
            for lg, lv in zip(loggers, levels, strict=True):
                lg.setLevel(lv)


def fit_quietly(
    module,
    loader,
    val_loader,
    *,
    callbacks: Sequence,
    device: str,
    work_dir: str | Path | None,
    prefix: str,
) -> None:
    """Train ``module`` with a bare Lightning trainer until a callback stops it.

    Parameters
    ----------
    module : lightning.pytorch.LightningModule
        What to train.
    loader, val_loader : torch.utils.data.DataLoader
        Training and validation batches.
    callbacks : sequence of lightning.pytorch.Callback
        They decide when training stops (no epoch or step limit is set here).
    device : str
        Torch device; ``cuda*`` trains on one GPU, anything else on the CPU.
    work_dir : str or Path, optional
        Folder for Lightning's files; None uses a temporary folder removed afterwards.
    prefix : str
        Name prefix of the temporary folder.
    """
    import lightning.pytorch as pl

    accelerator = "gpu" if str(device).startswith("cuda") else "cpu"
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix))
        stack.enter_context(quiet_lightning())
        trainer = pl.Trainer(
            accelerator=accelerator,
            devices=1,
            max_epochs=-1,
            max_steps=-1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            callbacks=list(callbacks),
            default_root_dir=work_dir,
        )
        trainer.fit(module, loader, val_loader)


def budget_reached(
    bar, losses: dict, steps: int, elapsed: float, max_steps: int | None, max_seconds: float | None
) -> StopReason | None:
    """Show the losses and time left on ``bar``; say which budget, if any, is used up.

    Parameters
    ----------
    bar : tqdm.tqdm
        The training progress bar.
    losses : dict
        Latest training losses (name -> float).
    steps : int
        Batches trained so far.
    elapsed : float
        Training seconds so far.
    max_steps : int, optional
        Step limit.
    max_seconds : float, optional
        Time budget.

    Returns
    -------
    StopReason or None
        :attr:`StopReason.MAX_STEPS` or :attr:`StopReason.TIME_BUDGET` when training must
        stop, else None.
    """
    post = {k: f"{v:.3f}" for k, v in losses.items()}
    if max_seconds is not None:
        post["left"] = f"{max(0.0, max_seconds - elapsed) / 60:.1f}min"
    bar.set_postfix(post, refresh=False)
    if max_steps is not None and steps >= max_steps:
        return StopReason.MAX_STEPS
    if max_seconds is not None and elapsed >= max_seconds:
        return StopReason.TIME_BUDGET
    return None


def all_finite(tensors: Iterable) -> bool:
    """Whether every floating-point tensor in ``tensors`` holds only finite values.

    One reduction per tensor and a single host synchronisation for all of them.

    Parameters
    ----------
    tensors : iterable of torch.Tensor
        E.g. a module's parameters and buffers, or its ``state_dict().values()``.

    Returns
    -------
    bool
    """
    import torch

    flags = [torch.isfinite(t.detach()).all() for t in tensors if t.is_floating_point()]
    if not flags:
        return True
    device = flags[0].device
    return bool(torch.stack([f.to(device) for f in flags]).all())


def _module_tensors(module) -> Iterator:
    yield from module.parameters()
    yield from module.buffers()


def _loss_from_outputs(module, outputs) -> float | None:
    """The training loss Lightning hands to ``on_train_batch_end`` (None when absent)."""
    if isinstance(outputs, dict):
        outputs = outputs.get("loss")
    if outputs is None:
        return None
    return float(outputs)


class DivergenceChecks:
    """Stops a diverging training run with an error (the Lightning callback's logic).

    Plain Python: :func:`divergence_guard_class` builds the callback ``DivergenceGuard``
    from this class and ``lightning.pytorch.Callback`` once, on first use, so that
    importing this module does not import Lightning.

    After every training batch it reads the batch's loss and, every
    ``check_weights_every`` batches (after the optimiser step), checks that the module's
    parameters and buffers are finite; after every validation it checks the metrics named
    in ``monitors``. On a divergence it raises
    :class:`~structnoise.methods.base.TrainingDivergedError` (which ends
    ``Trainer.fit``) and keeps it in its ``error`` attribute; call :meth:`finish` after
    ``fit`` returns to raise a recorded error (should a trainer have swallowed it) and to
    check the final weights.

    Parameters
    ----------
    method : str, optional
        The method's name, for the error message.
    patience : int
        Consecutive non-finite training losses tolerated (0: the first one stops). Only
        for modules that skip the optimiser step of such a batch, so that it leaves the
        weights untouched; a module that steps on every loss needs 0.
    max_bad : int, optional
        Non-finite training losses tolerated in total (None: no limit).
    loss_of : callable, optional
        ``loss_of(module, outputs)``: the batch's loss as a float, or None when there is
        none; default: the loss ``training_step`` returned (``outputs["loss"]``).
    monitors : sequence of str
        Validation metrics (``trainer.callback_metrics``) that must stay finite.
    check_weights_every : int
        Batches between two checks of the weights (0: only in :meth:`finish`).

    Attributes
    ----------
    steps : int
        Training batches seen.
    error : TrainingDivergedError or None
        The divergence, once raised.
    """

    def __init__(
        self,
        method: str | None = None,
        *,
        patience: int = 0,
        max_bad: int | None = None,
        loss_of: Callable | None = None,
        monitors: Sequence[str] = (),
        check_weights_every: int = 1,
    ) -> None:
        self.method = method
        self.patience = max(0, int(patience))
        self.max_bad = max_bad
        self.read_loss = _loss_from_outputs if loss_of is None else loss_of
        self.monitors = tuple(monitors)
        self.every = max(0, int(check_weights_every))
        self.steps = 0
        self.streak = 0
        self.bad = 0
        self.first_bad: tuple[int, float] | None = None
        self.last_loss = math.nan
        self.error: TrainingDivergedError | None = None

    def _diverged(self, trainer, step: int, loss: float, what: str) -> None:
        self.error = TrainingDivergedError(step, loss, method=self.method, what=what)
        if trainer is not None:
            trainer.should_stop = True
        raise self.error

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # noqa: D102
        self.steps += 1
        loss = self.read_loss(pl_module, outputs)
        if loss is not None:
            loss = float(loss)
            if math.isfinite(loss):
                self.streak = 0
                self.first_bad = None
                self.last_loss = loss
            else:
                self.streak += 1
                self.bad += 1
                if self.first_bad is None:
                    self.first_bad = (self.steps, loss)
                too_many = self.max_bad is not None and self.bad > self.max_bad
                if self.streak > self.patience or too_many:
                    self._diverged(trainer, *self.first_bad, "loss")
        if (
            self.every
            and self.steps % self.every == 0
            and not all_finite(_module_tensors(pl_module))
        ):
            self._diverged(trainer, self.steps, self.last_loss, "weights")

    def on_validation_end(self, trainer, pl_module):  # noqa: D102
        if trainer.sanity_checking:
            return
        for name in self.monitors:
            value = trainer.callback_metrics.get(name)
            if value is not None and not math.isfinite(float(value)):
                self._diverged(trainer, self.steps, float(value), "loss")

    def finish(self, tensors: Iterable) -> None:
        """Raise the recorded divergence, if any, else check the final weights.

        Parameters
        ----------
        tensors : iterable of torch.Tensor
            The weights kept after training (e.g. ``net.state_dict().values()``,
            with averaged weights already loaded).
        """
        if self.error is not None:
            raise self.error
        if not all_finite(tensors):
            self._diverged(None, self.steps, self.last_loss, "weights")


@functools.cache
def divergence_guard_class() -> type:
    """``DivergenceGuard``: :class:`DivergenceChecks` as a Lightning callback (built once).

    Returns
    -------
    type
        A subclass of :class:`DivergenceChecks` and ``lightning.pytorch.Callback``; also
        importable as ``structnoise.methods.lightning_utils.DivergenceGuard``.
    """
    import lightning.pytorch as pl

    return type(
        "DivergenceGuard",
        (DivergenceChecks, pl.Callback),
        {"__module__": __name__, "__doc__": DivergenceChecks.__doc__},
    )


def __getattr__(name: str):
    if name == "DivergenceGuard":
        return divergence_guard_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def divergence_guard(method: str | None, **options):
    """A ``DivergenceGuard`` callback for ``method`` (see :class:`DivergenceChecks`).

    Parameters
    ----------
    method : str, optional
        The method's name, for the error message.
    **options
        ``patience``, ``max_bad``, ``loss_of``, ``monitors``, ``check_weights_every``
        (see :class:`DivergenceChecks`).

    Returns
    -------
    lightning.pytorch.Callback
        The guard (a :class:`DivergenceChecks`).
    """
    return divergence_guard_class()(method, **options)


class LineProgressChecks:
    """Training progress as plain lines (:class:`structnoise.progress.LineProgress`).

    What replaces a Lightning-style progress bar (careamics') when stderr is a file or a
    pipe: one line every few percent of the step budget, with the latest loss.
    :func:`line_progress_callback` builds it as a Lightning callback.

    Parameters
    ----------
    desc : str
        Label of the lines (the method's name).
    """

    def __init__(self, desc: str = "train") -> None:
        self.desc = desc
        self.bar = None

    def on_train_start(self, trainer, pl_module):  # noqa: D102
        from structnoise.progress import LineProgress

        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        if total is None:
            with contextlib.suppress(Exception):
                estimated = trainer.estimated_stepping_batches
                total = int(estimated) if math.isfinite(estimated) else None
        off = os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes")
        self.bar = LineProgress(total=total, desc=self.desc, unit="steps", disable=off)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # noqa: D102
        if self.bar is None:
            return
        loss = _loss_from_outputs(pl_module, outputs)
        if loss is not None:
            self.bar.set_postfix({"loss": f"{loss:.4g}"})
        self.bar.update(1)

    def on_train_end(self, trainer, pl_module):  # noqa: D102
        if self.bar is not None:
            self.bar.close()

    def on_exception(self, trainer, pl_module, exception):  # noqa: D102
        if self.bar is not None:
            self.bar.closed = True  # an interrupted bar writes no last line


def line_progress_callback(desc: str = "train"):
    """A Lightning callback writing training progress as plain lines.

    Parameters
    ----------
    desc : str
        Label of the lines.

    Returns
    -------
    lightning.pytorch.Callback
        A :class:`LineProgressChecks`.
    """
    import lightning.pytorch as pl

    cls = type("LineProgressCallback", (LineProgressChecks, pl.Callback), {"__module__": __name__})
    return cls(desc)
