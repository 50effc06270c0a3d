"""One careamics training run: quiet, inside a work folder, stopped at divergence.

Files: careamics writes checkpoints and CSV logs only inside ``work_dir`` (a temporary
folder removed after training when not given): never into the current directory. No
Lightning checkpoint files are written (``save_top_k=0``).

Divergence: training runs with
:func:`~structnoise.methods.lightning_utils.divergence_guard`; careamics steps the
optimiser on every loss, so the first non-finite training loss (or non-finite weights, or
a non-finite validation loss) stops training with
:class:`~structnoise.methods.base.TrainingDivergedError`.

careamics seeds Python's, NumPy's and torch's global generators; :func:`train` restores
them afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import random
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from structnoise.methods.lightning_utils import (
    divergence_guard,
    line_progress_callback,
    quiet_lightning,
)
from structnoise.methods.unet.struct_mask import StructMaskManipulate
from structnoise.progress import is_terminal

__all__ = ["CareamicsRun", "preserve_global_rng", "quiet_careamics", "read_history", "train"]


@contextlib.contextmanager
def quiet_careamics(enabled: bool = True) -> Iterator[None]:
    """:func:`~structnoise.methods.lightning_utils.quiet_lightning`, and careamics too.

    Lightning's loggers and warnings are silenced by ``quiet_lightning``; careamics adds
    loggers of its own (``careamics.*``, each with its own level and a handler of its own,
    so they are set one by one: import careamics first, which creates most of them) and
    warnings from its configuration and data code, all ignored here.

    Parameters
    ----------
    enabled : bool
        False leaves everything as it is (``progress=True``).
    """
    if not enabled:
        yield
        return
    names = [n for n in logging.Logger.manager.loggerDict if n.split(".")[0] == "careamics"]
    loggers = [logging.getLogger(n) for n in dict.fromkeys(["careamics", *names])]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with quiet_lightning(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def preserve_global_rng() -> Iterator[None]:
    """Careamics seeds Python's, NumPy's and torch's global generators; undo that after."""
    import torch

    py_state = random.getstate()
    np_state = np.random.get_state()  # noqa: NPY002 - restoring the legacy global state
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)  # noqa: NPY002


def read_history(work_dir: Path) -> list[dict[str, float]]:
    """Per-epoch losses from careamics' CSV logs (empty when absent).

    Parameters
    ----------
    work_dir : Path
        careamics' work folder.

    Returns
    -------
    list of dict
        One row per epoch: ``epoch``, ``step``, ``train_loss_epoch``, ``val_loss`` where
        logged.
    """
    files = sorted(work_dir.glob("csv_logs/**/metrics.csv"), key=lambda p: p.stat().st_mtime)
    if not files:
        return []
    import pandas as pd

    df = pd.read_csv(files[-1])
    keep = [c for c in ("epoch", "step", "train_loss_epoch", "val_loss") if c in df.columns]
    if "epoch" not in keep:
        return []
    grouped = df[keep].groupby("epoch", as_index=False).last()
    return [
        {k: float(v) for k, v in row.items() if v == v}  # drop NaN
        for row in grouped.to_dict("records")
    ]


@dataclass
class CareamicsRun:
    """What a careamics training run leaves.

    Attributes
    ----------
    net : torch.nn.Module
        The trained careamics UNet (on the training device).
    steps, epochs : int
        Optimiser steps and finished epochs.
    seconds : float
        Training wall-clock time.
    history : list of dict
        Per-epoch losses (:func:`read_history`).
    config : dict
        careamics' configuration of the run (JSON-ready).
    unet_params : dict
        The UNet's constructor arguments.
    """

    net: Any
    steps: int
    epochs: int
    seconds: float
    history: list[dict[str, float]]
    config: dict[str, Any]
    unet_params: dict[str, Any]


def train(
    cfg,
    train_data: dict[str, Any],
    *,
    name: str,
    work_dir: str | Path | None,
    progress: bool,
    callbacks: list | None = None,
) -> CareamicsRun:
    """Train with careamics' ``CAREamist``.

    Parameters
    ----------
    cfg : careamics.config.Configuration
        The run's configuration (:func:`~structnoise.methods.unet.config.build_config`);
        a struct mask in it is applied with :class:`StructMaskManipulate`.
    train_data : dict
        Keyword arguments of ``CAREamist.train`` (``train_data``, ``train_data_target``,
        ``val_data``, ``val_data_target``).
    name : str
        The method's name (for divergence errors).
    work_dir : str or Path, optional
        careamics' folder; None: a temporary folder removed afterwards.
    progress : bool
        Show careamics' progress bar and messages on a terminal, plain progress lines
        in a log file (:mod:`structnoise.progress`); False: everything is quiet.
    callbacks : list, optional
        More Lightning callbacks (e.g. a
        :class:`~structnoise.methods.unet.snapshots.SnapshotCallback`); the seconds in
        their ``paused`` attribute are not counted in the run's ``seconds``.

    Returns
    -------
    CareamicsRun

    Raises
    ------
    TrainingDivergedError
        When the loss, the validation loss or the weights became non-finite.
    """
    # careamics' live bar and messages on a terminal; in a log file (or a pipe) plain
    # progress lines (no carriage returns) and no messages
    live = progress and is_terminal()
    quiet = not live
    with quiet_careamics(quiet):  # careamics' import creates its loggers: import it first
        from careamics import CAREamist
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            wd = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="structnoise-")))
        else:
            wd = Path(work_dir)
            wd.mkdir(parents=True, exist_ok=True)
        stack.enter_context(quiet_careamics(quiet))
        stack.enter_context(preserve_global_rng())
        # careamics steps the optimiser on every loss: the first non-finite one stops
        guard = divergence_guard(name, patience=0, monitors=("val_loss",))
        extra = list(callbacks or [])
        lines = [line_progress_callback(name)] if progress and not live else []
        careamist = CAREamist(
            cfg, work_dir=wd, enable_progress_bar=live, callbacks=[guard, *lines, *extra]
        )
        n2v_cfg = getattr(cfg.algorithm_config, "n2v_config", None)
        if n2v_cfg is not None and n2v_cfg.struct_mask is not None:
            careamist.model.n2v_manipulate = StructMaskManipulate(n2v_cfg)
        start = time.perf_counter()
        careamist.train(**train_data)
        guard.finish(careamist.model.model.state_dict().values())
        seconds = time.perf_counter() - start - sum(getattr(cb, "paused", 0.0) for cb in extra)
        trainer = careamist.trainer
        return CareamicsRun(
            net=careamist.model.model,
            steps=int(trainer.global_step),
            epochs=int(trainer.current_epoch),
            seconds=seconds,
            history=read_history(wd),
            config=careamist.config.model_dump(mode="json"),
            unet_params=careamist.config.algorithm_config.model.model_dump(mode="json"),
        )
