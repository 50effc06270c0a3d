"""Running a Lightning training loop quietly inside a method's own folder.

DVLAE and HDN train their networks with the same bare Lightning set-up: no logger, no
checkpoints, no progress bar of Lightning's own (the methods show theirs), every file
inside a work folder (a temporary one unless given), Lightning's info messages and its
data-loader warnings silenced.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

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
) -> str | None:
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
    str or None
        ``"max_steps"`` or ``"time budget"`` when training must stop, else None.
    """
    post = {k: f"{v:.3f}" for k, v in losses.items()}
    if max_seconds is not None:
        post["left"] = f"{max(0.0, max_seconds - elapsed) / 60:.1f}min"
    bar.set_postfix(post, refresh=False)
    if max_steps is not None and steps >= max_steps:
        return "max_steps"
    if max_seconds is not None and elapsed >= max_seconds:
        return "time budget"
    return None
