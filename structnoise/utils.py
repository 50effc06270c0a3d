"""Small utilities shared across the suite: seeds, devices, atomic writes, JSON."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import socket
import tempfile
import time
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


#: What every temporary file of :func:`atomic_path` is called (``.NAME.TAG.RANDOM.tmpSUFFIX``,
#: ``TAG`` = the writer's host hash and process id); names without ``TAG`` (older) match too.
_TEMP_NAME = re.compile(
    r"^\.(?P<name>.+?)\.(?:(?P<host>[0-9a-f]{6})-(?P<pid>[0-9]+)\.)?[a-z0-9_]{8}\.tmp(?:\.[^.]*)?$"
)

#: A temporary file older than this is stale whoever wrote it (seconds).
STALE_TEMP_S = 3600.0


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def resolve_link(path: str | os.PathLike) -> Path:
    """Where writing to ``path`` lands: the target of a symbolic link, else ``path``.

    structnoise writes through symbolic links: the link stays, its target gets the new
    content (a broken link's target is created).

    Parameters
    ----------
    path : path-like
        A path; it may not exist.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` and move it into place on success.

    Readers never see a half-written file: the file appears complete or not at all.
    The temporary name keeps the suffix of ``path`` (so ``np.save`` and friends do not
    append another one) and names the writing process, so that temporary files left by
    an interrupted process can be found and removed (:func:`remove_stale_temps`).
    On an exception (a full disk: ``ENOSPC``) the temporary file is removed and
    ``path`` is left untouched. A symbolic link at ``path`` is kept and its target
    replaced (:func:`resolve_link`).

    Parameters
    ----------
    path : path-like
        The final destination.

    Yields
    ------
    pathlib.Path
        Where to write.
    """
    path = resolve_link(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{_host_tag()}-{os.getpid()}.",
        suffix=f".tmp{path.suffix}",
        dir=path.parent,
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


def is_temp_name(name: str) -> bool:
    """Whether a file name is one of :func:`atomic_path`'s temporary names.

    Parameters
    ----------
    name : str
        A file name (no folder).

    Returns
    -------
    bool
    """
    return _TEMP_NAME.match(name) is not None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that interrupted writers left under ``folder``.

    A temporary file of :func:`atomic_path` is stale when the process that wrote it on
    this machine has ended, when it was written by an earlier structnoise version, or,
    written on another machine (a cluster's shared folder), when it is older than
    :data:`STALE_TEMP_S`; a file still being written by a live process is left alone.

    Parameters
    ----------
    folder : path-like
        A folder (searched with its subfolders; symbolic links are not followed).

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    host, now = _host_tag(), time.time()
    for root, _dirs, files in os.walk(folder):
        for name in files:
            m = _TEMP_NAME.match(name)
            if m is None:
                continue
            p = Path(root) / name
            try:
                age = now - p.lstat().st_mtime
            except OSError:
                continue
            if m["pid"] is None:  # an earlier version's
                gone = True
            elif m["host"] == host:
                gone = not _pid_alive(int(m["pid"]))
            else:  # written on another machine (a shared folder): by age
                gone = age > STALE_TEMP_S
            if gone:
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p)
    return removed


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
    if out.is_symlink() and not out.exists() and not overwrite:
        raise ValueError(
            f"the output {out} exists (a symbolic link to {os.readlink(out)}, which is "
            "missing); pass --overwrite to write there"
        )
    if out.exists() and not overwrite:
        raise ValueError(f"the output {out} exists; pass --overwrite to replace it")
    blocked = _blocked_parent(resolve_link(out))
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
    if out.is_symlink() and not out.exists() and not overwrite:
        raise ValueError(
            f"--out {out} is a symbolic link to {os.readlink(out)}, which is missing; pass "
            "--overwrite to save the model there or choose another --out"
        )
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
    blocked = _blocked_parent(resolve_link(out) / "model.json")
    if blocked is not None:
        raise ValueError(f"cannot write the model to {out}: {blocked}")
    return out


def _files_under(folder: Path) -> list[str]:
    """Every file (and symbolic link) under ``folder``, as sorted relative POSIX paths."""
    out = []
    for root, dirs, files in os.walk(folder):
        rel_root = Path(root).relative_to(folder)
        out += [(rel_root / n).as_posix() for n in files]
        out += [(rel_root / d).as_posix() for d in dirs if (Path(root) / d).is_symlink()]
    return sorted(out)


def model_files(folder: str | os.PathLike, marker: str = "method.json") -> set[str] | None:
    """The files a saved model lists as its own (its ``marker``'s ``files``).

    Parameters
    ----------
    folder : path-like
        A model folder.
    marker : str
        Its JSON marker file.

    Returns
    -------
    set of str or None
        Relative POSIX paths, the marker included; None when the model lists none
        (written by ``save`` directly, or by a version before the list existed).
    """
    try:
        data = json.loads((Path(folder) / marker).read_text())
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return set(files) | {marker}


def replace_model_dir(
    new: str | os.PathLike, dest: str | os.PathLike, *, marker: str = "method.json"
) -> list[str]:
    """Move a freshly saved model folder to ``dest``, replacing only the old model's files.

    The files of ``new`` are listed in its ``marker`` (``files``: what structnoise
    wrote). Every other file of an existing ``dest`` (a user's ``notes.txt``,
    ``results/...``) is carried into the new folder (a hard link, else a copy) before
    the folders are swapped (:func:`replace_dir`), so it survives the replacement; an
    interruption leaves the old folder as it was. The old model's files are those its
    marker lists; a model written before the list existed owns the files the new model
    writes. A symbolic link ``dest`` is kept and its target replaced.

    Parameters
    ----------
    new : path-like
        The saved model, beside ``resolve_link(dest)`` (same file system).
    dest : path-like
        The model folder (``--out``).
    marker : str
        The model's JSON marker file (a JSON object).

    Returns
    -------
    list of str
        The files of ``dest`` that were not the model's and were kept.

    Raises
    ------
    ValueError
        When a file of ``dest`` that the old model did not write has the name of a file
        of the new model (nothing is replaced).
    """
    new, dest = Path(new), resolve_link(dest)
    own_new = _files_under(new)
    meta_path = new / marker
    meta = json.loads(meta_path.read_text())
    if isinstance(meta, dict):
        meta["files"] = own_new
        with atomic_path(meta_path) as tmp:
            tmp.write_text(json.dumps(meta, indent=2, default=json_default))
    if not dest.exists():
        replace_dir(new, dest)
        return []
    listed = model_files(dest, marker)
    own_old = set(own_new) | {marker} if listed is None else listed
    kept = []
    for rel in _files_under(dest):
        if rel in own_old or is_temp_name(Path(rel).name):
            continue
        if rel in own_new:
            raise ValueError(
                f"refusing to replace {dest}: it holds {rel}, which the saved model did not "
                "write and the new model writes; move that file and train again"
            )
        src, dst = dest / rel, new / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
        kept.append(rel)
    for root, dirs, _files in os.walk(dest):  # a user's empty folders
        for d in dirs:
            rel = (Path(root) / d).relative_to(dest)
            if not (Path(root) / d).is_symlink():
                (new / rel).mkdir(parents=True, exist_ok=True)
    replace_dir(new, dest)
    return kept


def _remove_stale_model_dirs(target: Path) -> None:
    """Remove the hidden folders that killed saves of ``target`` left beside it.

    :func:`save_model_dir` names its folder ``.<name>.new-<host>-<pid>-*``: one of this
    machine whose process has ended is removed, as is one of another machine (or of an
    earlier version, without host and process) older than :data:`STALE_TEMP_S`.
    """
    if not target.parent.is_dir():
        return
    pattern = re.compile(r"^\." + re.escape(target.name) + r"\.new-(?:([0-9a-f]{6})-([0-9]+)-)?")
    host, now = _host_tag(), time.time()
    for p in target.parent.iterdir():
        m = pattern.match(p.name)
        if m is None or p.is_symlink() or not p.is_dir():
            continue
        if m[1] == host:
            gone = not _pid_alive(int(m[2]))
        else:
            try:
                gone = now - p.stat().st_mtime > STALE_TEMP_S
            except OSError:
                continue
        if gone:
            shutil.rmtree(p, ignore_errors=True)


def save_model_dir(save, out: str | os.PathLike, *, marker: str = "method.json") -> list[str]:
    """Save a model into the folder ``out`` safely: beside it first, then swapped in.

    ``save(folder)`` writes the model into a new hidden folder beside ``out`` (beside a
    symbolic link's target); :func:`replace_model_dir` then moves it into place, keeping
    every file of ``out`` that was not the old model's. A failed or interrupted save
    leaves ``out`` as it was and no hidden folder behind.

    Parameters
    ----------
    save : callable
        Called with the folder to write the model into.
    out : path-like
        The model folder (``--out``).
    marker : str
        The model's JSON marker file.

    Returns
    -------
    list of str
        The files of ``out`` kept because they were not the model's.
    """
    target = resolve_link(out)
    _remove_stale_model_dirs(target)
    tmp = make_temp_dir(target.parent, prefix=f".{target.name}.new-{_host_tag()}-{os.getpid()}-")
    try:
        save(tmp)
        return replace_model_dir(tmp, target, marker=marker)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


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
    new, dest = Path(new), resolve_link(dest)
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


#: Characters that Markdown (and the HTML it may hold) would read as markup.
_MARKDOWN = {
    "\\": "\\\\",
    "|": "\\|",
    "*": "\\*",
    "`": "\\`",
    "<": "&lt;",
    ">": "&gt;",
    "&": "&amp;",
    "\n": " ",
    "\r": " ",
}


def markdown_escape(text: object) -> str:
    """``text`` as literal Markdown: table bars, emphasis, links and HTML escaped.

    A name such as ``a|b``, ``*x*`` or ``<script>`` written into a Markdown table keeps
    its column and shows as typed (``](`` is broken so that no link is formed; a
    grid label's ``[rf=10]`` stays readable).

    Parameters
    ----------
    text : object
        Anything; its ``str``.

    Returns
    -------
    str
    """
    return "".join(_MARKDOWN.get(ch, ch) for ch in str(text)).replace("](", "]\\(")


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
