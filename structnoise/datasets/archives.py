"""Safe extraction of zip members: size cap, no path escapes, nothing partial left.

Members are extracted (atomically) into ``<data cache>/extracted/<archive>/``. A member
larger than :data:`MAX_EXTRACT_BYTES` (``$STRUCTNOISE_MAX_EXTRACT_BYTES``, or
``max_bytes=``) or whose path would leave that folder is refused; nothing partial is
left behind.
"""

from __future__ import annotations

import os
import posixpath
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from structnoise.datasets.base import DownloadError
from structnoise.datasets.cache import data_dir
from structnoise.utils import atomic_path

#: Largest uncompressed size of one extracted archive member (bytes).
MAX_EXTRACT_BYTES = 4 * 1024**3
#: Environment variable overriding :data:`MAX_EXTRACT_BYTES` (an integer, in bytes).
MAX_EXTRACT_ENV = "STRUCTNOISE_MAX_EXTRACT_BYTES"


def max_extract_bytes(max_bytes: int | None = None) -> int:
    """The extraction cap: ``max_bytes``, else ``$STRUCTNOISE_MAX_EXTRACT_BYTES``, else 4 GiB.

    Parameters
    ----------
    max_bytes : int, optional
        An explicit cap (bytes).

    Returns
    -------
    int
        Largest uncompressed size of one extracted member, in bytes.
    """
    if max_bytes is not None:
        return int(max_bytes)
    value = os.environ.get(MAX_EXTRACT_ENV)
    if not value:
        return MAX_EXTRACT_BYTES
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{MAX_EXTRACT_ENV}={value!r} is not an integer (bytes)") from None


def _check_member_name(archive: Path, member: str) -> None:
    """Refuse member paths that would be written outside the extraction folder."""
    parts = member.replace("\\", "/").split("/")
    if (
        not member
        or member.endswith("/")
        or posixpath.isabs(member.replace("\\", "/"))
        or ".." in parts
        or ":" in parts[0]
    ):
        raise DownloadError(
            f"{archive.name}: refusing the archive member {member!r}: its path is empty, "
            f"absolute or leaves the extraction folder"
        )


def _check_member_size(archive: Path, info: zipfile.ZipInfo, cap: int) -> None:
    if info.file_size > cap:
        raise DownloadError(
            f"{archive.name}: the member {info.filename!r} is {info.file_size} bytes "
            f"uncompressed, more than the extraction cap of {cap} bytes; nothing was "
            f"extracted (raise the cap with {MAX_EXTRACT_ENV} if the file is genuine)"
        )


def _member_info(zf: zipfile.ZipFile, archive: Path, member: str, cap: int) -> zipfile.ZipInfo:
    """The entry of ``member`` once its path, its presence and its stated size are checked."""
    _check_member_name(archive, member)
    names = zf.namelist()
    if member not in names:
        listing = ", ".join(n for n in names if not n.endswith("/")) or "nothing"
        raise DownloadError(f"{archive.name}: the archive has no {member!r}; it holds: {listing}")
    info = zf.getinfo(member)
    _check_member_size(archive, info, cap)
    return info


def _inflate(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive: Path, cap: int, dst=None, note: str = ""
) -> None:
    """Read a member to its end (which checks its CRC), into ``dst`` when given.

    Raises a :class:`DownloadError` (its message ending in ``note``) as soon as more
    than ``cap`` bytes come out, whatever the archive says the member's size is.
    """
    size = 0
    with zf.open(info) as src:
        while chunk := src.read(1 << 20):
            size += len(chunk)
            if size > cap:
                raise DownloadError(
                    f"{archive.name}: the member {info.filename!r} inflates past the "
                    f"extraction cap of {cap} bytes{note}"
                )
            if dst is not None:
                dst.write(chunk)


def check_archive(path: Path, members: Sequence[str], cap: int) -> None:
    """Check ``path`` is a valid zip holding ``members``, each intact and within ``cap``.

    Parameters
    ----------
    path : pathlib.Path
        The zip file.
    members : sequence of str
        Members it must hold.
    cap : int
        Largest uncompressed size of one member, in bytes.

    Raises
    ------
    DownloadError
        When it is not.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            for member in members:
                _inflate(zf, _member_info(zf, path, member, cap), path, cap)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError) as exc:
        raise DownloadError(f"{path.name}: not a valid zip archive ({exc})") from exc


def extract_member(
    archive: str | os.PathLike, member: str, *, max_bytes: int | None = None
) -> Path:
    """Extract one member of a zip archive into the cache (once, atomically).

    Parameters
    ----------
    archive : path-like
        A downloaded zip file.
    member : str
        Path of the member inside the archive, e.g. ``"Mouse actin/sample_attempt2.tif"``.
    max_bytes : int, optional
        Largest uncompressed size accepted (default :func:`max_extract_bytes`:
        ``$STRUCTNOISE_MAX_EXTRACT_BYTES``, else :data:`MAX_EXTRACT_BYTES`).

    Returns
    -------
    pathlib.Path
        ``<data cache>/extracted/<archive stem>/<member>``.

    Raises
    ------
    DownloadError
        When the archive is not a zip file or lacks the member, when the member is
        larger than the cap, or when its path would leave the extraction folder;
        nothing is left in ``<data cache>/extracted`` then.
    """
    archive = Path(archive)
    cap = max_extract_bytes(max_bytes)
    _check_member_name(archive, member)
    root = data_dir() / "extracted"
    target = root / archive.stem / member
    if not target.resolve().is_relative_to((root / archive.stem).resolve()):
        raise DownloadError(
            f"{archive.name}: refusing the archive member {member!r}: it would be written "
            f"outside {root / archive.stem}"
        )
    if target.is_file():
        return target
    try:
        with zipfile.ZipFile(archive) as zf:
            info = _member_info(zf, archive, member, cap)
            try:
                with atomic_path(target) as tmp, open(tmp, "wb") as dst:
                    _inflate(zf, info, archive, cap, dst, "; nothing was extracted")
            except BaseException:
                _remove_empty_dirs(target.parent, root)
                raise
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DownloadError(f"{archive}: not a valid zip archive ({exc})") from exc
    return target


def _remove_empty_dirs(folder: Path, stop: Path) -> None:
    """Remove ``folder`` and its parents up to and including ``stop`` while empty."""
    stop = stop.resolve()
    folder = folder.resolve()
    while folder.is_relative_to(stop):
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == stop:
            return
        folder = folder.parent
