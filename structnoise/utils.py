"""Small utilities shared across the suite: seeds, devices, atomic writes, JSON."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
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
        if tmp_path.exists():
            os.chmod(tmp_path, default_mode(directory=False))  # mkstemp made it 0600
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def default_mode(*, directory: bool) -> int:
    """The permissions a plain ``open`` / ``mkdir`` would give under the current umask.

    ``tempfile.mkstemp`` and ``mkdtemp`` create private files (0600) and folders (0700);
    everything the suite writes through them is given these normal permissions instead,
    so that files written to a lab's shared folder are readable as the user's umask says.

    Parameters
    ----------
    directory : bool
        Folder (base 0777) or file (base 0666).

    Returns
    -------
    int
        The mode bits.
    """
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def make_temp_dir(parent: str | os.PathLike, prefix: str) -> Path:
    """A new folder in ``parent`` (created if needed) with normal permissions.

    Parameters
    ----------
    parent : path-like
        Where to create it (beside its final place, so that a rename moves it in).
    prefix : str
        Start of its name.

    Returns
    -------
    pathlib.Path
    """
    Path(parent).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(tmp, default_mode(directory=True))
    return tmp


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file: resolved paths (symlinks) or the same inode.

    Parameters
    ----------
    a, b : path-like
        The paths; either may not exist.

    Returns
    -------
    bool
    """
    a, b = Path(a), Path(b)
    with contextlib.suppress(OSError):
        if a.exists() and b.exists() and os.path.samefile(a, b):
            return True
    return os.path.realpath(a) == os.path.realpath(b)


def is_within(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (symlinks resolved).

    Parameters
    ----------
    path, folder : path-like
        The paths; either may not exist.

    Returns
    -------
    bool
    """
    p = Path(os.path.realpath(path))
    f = Path(os.path.realpath(folder))
    return p == f or f in p.parents


def _blocked_parent(path: Path) -> str | None:
    """Why files cannot be created beside ``path`` (None when they can)."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is a file, not a folder"
    if not os.access(parent, os.W_OK):
        return f"the folder {parent} is not writable"
    return None


def check_output_file(
    output: str | os.PathLike,
    inputs: list[str | os.PathLike | None] = (),  # type: ignore[assignment]
    *,
    overwrite: bool = False,
) -> Path:
    """Check, before any work, that a command may write the file ``output``.

    Parameters
    ----------
    output : path-like
        The file to be written.
    inputs : list of path-like
        The command's input files or folders (None entries are skipped).
    overwrite : bool
        Whether an existing file may be replaced (``--overwrite``).

    Returns
    -------
    pathlib.Path
        ``output`` as a Path.

    Raises
    ------
    ValueError
        When ``output`` is one of the inputs (same resolved path or inode, also with
        ``overwrite``), lies inside an input folder's files' place (is an input folder),
        is a folder, exists without ``overwrite``, or its folder is not writable.
    """
    out = Path(output)
    for src in inputs:
        if src is None:
            continue
        if same_file(out, src):
            raise ValueError(
                f"the output {out} is the input {src}: refusing to write over the input; "
                "choose another output path"
            )
        if Path(src).is_dir() and is_within(out, src):
            raise ValueError(
                f"the output {out} is inside the input folder {src}: refusing to write "
                "into an input; choose another output path"
            )
    if out.is_dir():
        example = out / "out.tif"
        raise ValueError(f"the output {out} is a folder; give a file path such as {example}")
    if out.exists() and not overwrite:
        raise ValueError(f"the output {out} exists; pass --overwrite to replace it")
    blocked = _blocked_parent(out)
    if blocked is not None:
        raise ValueError(f"cannot write {out}: {blocked}")
    return out


def check_model_dir(
    out: str | os.PathLike,
    inputs: list[str | os.PathLike | None] = (),  # type: ignore[assignment]
    *,
    overwrite: bool = False,
    marker: str = "method.json",
) -> Path:
    """Check, before training, that a model may be saved into the folder ``out``.

    A folder is replaced only when it is empty or is itself a saved model (it holds
    ``marker``), never when it is or contains the current directory or an input.

    Parameters
    ----------
    out : path-like
        The model folder.
    inputs : list of path-like
        The command's input files or folders (None entries are skipped).
    overwrite : bool
        Whether an existing model may be replaced (``--overwrite``).
    marker : str
        The file that marks a saved model.

    Returns
    -------
    pathlib.Path
        ``out`` as a Path.

    Raises
    ------
    ValueError
        With a one-line reason.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; choose a folder for the model")
    if is_within(Path.cwd(), out):
        raise ValueError(
            f"refusing to use {out} as the model folder: it is or contains the current "
            "directory; choose a new folder such as models/my-model"
        )
    for src in inputs:
        if src is not None and is_within(src, out):
            raise ValueError(
                f"refusing to use {out} as the model folder: it contains the input {src}; "
                "choose another folder"
            )
    if out.is_dir() and any(out.iterdir()):
        if not (out / marker).is_file():
            raise ValueError(
                f"refusing to replace {out}: it is not a saved structnoise model (no {marker}); "
                "only an empty folder or a model folder is replaced. Choose another --out"
            )
        if not overwrite:
            raise ValueError(
                f"{out} holds a saved model; pass --overwrite to replace it or choose another --out"
            )
    blocked = _blocked_parent(out / "model.json")
    if blocked is not None:
        raise ValueError(f"cannot write the model to {out}: {blocked}")
    return out


def replace_dir(new: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Move the finished folder ``new`` to ``dest``, replacing a folder there.

    The old folder is renamed aside, the new one renamed into place, and only then is the
    old one deleted; if the second rename fails the old folder is put back. Both renames
    are atomic on one file system (``new`` must be beside ``dest``), so an interruption
    leaves either the old folder or the new one at ``dest`` (at worst the old one under
    a hidden ``.<name>.old-*`` name beside it).

    Parameters
    ----------
    new : path-like
        The finished folder (beside ``dest``).
    dest : path-like
        Its final path.
    """
    new, dest = Path(new), Path(dest)
    if not dest.exists():
        os.rename(new, dest)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    aside.rmdir()
    os.rename(dest, aside)
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(aside, dest)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def json_default(obj: object) -> object:
    """Turn NumPy scalars and arrays and paths into JSON values (``json.dumps(default=)``).

    Parameters
    ----------
    obj : object
        What :mod:`json` cannot serialise by itself.

    Returns
    -------
    object
        A Python scalar, a (nested) list or a string.

    Raises
    ------
    TypeError
        For any other type, naming it.
    """
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")
