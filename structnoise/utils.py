"""Small utilities shared across the suite: seeds, devices, atomic writes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np


def derive_seed(base: int, *parts: object) -> int:
    """Derive a reproducible 31-bit seed from a base seed and any identifying parts.

    The same ``(base, parts)`` always gives the same seed on every machine and Python
    version (it hashes the ``repr`` of the parts with SHA-256, unlike ``hash()``).

    Parameters
    ----------
    base : int
        The base seed.
    *parts : object
        Anything identifying the consumer (method name, dataset name, repetition ...).

    Returns
    -------
    int
        A seed in ``[0, 2**31 - 1)``.
    """
    text = repr((int(base),) + tuple(parts)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") % (2**31 - 1)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators.

    Parameters
    ----------
    seed : int
        The seed.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 - libraries still read the legacy generator
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.manual_seed(seed)


def pick_device(device: str | None = None) -> str:
    """Choose the torch device: the one asked for, else CUDA when present, else CPU.

    Parameters
    ----------
    device : str, optional
        An explicit device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``); ``None`` or
        ``"auto"`` picks automatically.

    Returns
    -------
    str
        A torch device string.
    """
    if device not in (None, "auto"):
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` and move it into place on success.

    Readers never see a half-written file: the file appears complete or not at all.
    The temporary name keeps the suffix of ``path`` (so ``np.save`` and friends do not
    append another one).
    On an exception the temporary file is removed and ``path`` is left untouched.

    Parameters
    ----------
    path : path-like
        The final destination.

    Yields
    ------
    pathlib.Path
        Where to write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
