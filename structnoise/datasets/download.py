"""Downloading the real datasets: the registry file and one pooch fetcher.

The registry (``registry.txt``, shipped in the package) lists every downloadable file as
``name sha256 url``. Files are downloaded with :mod:`pooch` into
``<data cache>/downloads/`` (``$STRUCTNOISE_DATA``, else ``pooch.os_cache("structnoise")``),
with retries, and checked against their SHA-256. pooch writes to a temporary file and
moves it into place only after the check, so a failed or corrupt download never leaves a
partial file in the cache.

* Unknown hashes (``unknown`` in the registry: Mouse Actin, Mouse Nuclei) are handled by
  trust on first use, and only over https: the first download is accepted without a
  check, its SHA-256 is computed and recorded in ``<data cache>/recorded-hashes.txt``,
  and later downloads are checked against it. Because that first download decides what
  counts as genuine from then on:

  - it must come from an ``https://`` URL (registry or mirror). A file with neither a
    published nor a recorded hash is refused over plain ``http://`` (or any other
    scheme) with a :class:`DownloadError`: use an https mirror, the registry's https
    URL, or write the known hash into ``recorded-hashes.txt`` (``name sha256``) first;
  - a warning (logged on ``structnoise.datasets`` and printed to stderr) says the file
    has no published hash, shows the recorded SHA-256 and where it is recorded;
  - an archive must be a valid zip holding the members the loaders extract
    (:data:`ARCHIVE_MEMBERS`), each within the extraction cap, before its hash is
    recorded; otherwise the file is deleted, nothing is recorded and
    :class:`DownloadError` is raised.
* Mirrors: set ``STRUCTNOISE_BASE_URL`` (or pass ``base_url=``) to download every file
  from ``<base_url>/<name>`` instead of the registry's URL, e.g. a lab server or a local
  copy. The hashes are still checked; a plain-http mirror serves only files whose hash
  is known (published in the registry or already recorded).
* Archives: members are extracted (atomically) into ``<data cache>/extracted/<archive>/``.
  A member larger than :data:`MAX_EXTRACT_BYTES` (``$STRUCTNOISE_MAX_EXTRACT_BYTES``,
  or ``max_bytes=``) or whose path would leave that folder is refused; nothing partial
  is left behind.
"""

from __future__ import annotations

import logging
import os
import posixpath
import sys
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from structnoise.datasets.cache import data_dir
from structnoise.utils import atomic_path

#: Environment variable with a mirror's base URL (files at ``<base>/<name>``).
BASE_URL_ENV = "STRUCTNOISE_BASE_URL"
#: The registry shipped in the package.
REGISTRY_FILE = Path(__file__).with_name("registry.txt")
#: Download attempts after the first failure (pooch waits 1 s, 2 s, ... between them).
DEFAULT_RETRIES = 3
#: Largest uncompressed size of one extracted archive member (bytes).
MAX_EXTRACT_BYTES = 4 * 1024**3
#: Environment variable overriding :data:`MAX_EXTRACT_BYTES` (an integer, in bytes).
MAX_EXTRACT_ENV = "STRUCTNOISE_MAX_EXTRACT_BYTES"
#: Members the dataset loaders (:mod:`structnoise.datasets.real`) extract from each
#: registry archive; checked before the hash of a first download is recorded.
ARCHIVE_MEMBERS: dict[str, tuple[str, ...]] = {
    "Convallaria_diaphragm.zip": (
        "Convallaria_diaphragm/20190520_tl_25um_50msec_05pc_488_130EM_Conv.tif",
    ),
    "Mouse_actin.zip": ("Mouse actin/sample_attempt2.tif",),
    "Mouse_skull_nuclei.zip": ("Mouse skull nuclei/example2_digital_offset300.tif",),
}

logger = logging.getLogger("structnoise.datasets")


class DownloadError(RuntimeError):
    """A download failed (network, HTTP error or a hash mismatch)."""


class DataUnavailableError(LookupError):
    """A dataset has no public copy (e.g. the paper's STEM data)."""


@dataclass(frozen=True)
class RegistryEntry:
    """One line of the registry.

    Attributes
    ----------
    name : str
        File name in the cache.
    sha256 : str or None
        Known SHA-256 (hex), or None when unknown or unavailable.
    url : str or None
        Download URL (None when unavailable).
    status : {"known", "unknown", "unavailable"}
        Whether the hash is known, unknown, or there is nothing to download.
    reason : str
        Why an entry is unavailable (empty otherwise).
    """

    name: str
    sha256: str | None
    url: str | None
    status: str
    reason: str = ""


def load_registry(path: str | os.PathLike = REGISTRY_FILE) -> dict[str, RegistryEntry]:
    """Parse a registry file (``name sha256 url`` per line, ``#`` comments).

    Parameters
    ----------
    path : path-like
        The registry file (default: the one shipped in the package).

    Returns
    -------
    dict of str to RegistryEntry
        Entries by file name.
    """
    entries: dict[str, RegistryEntry] = {}
    for lineno, raw in enumerate(Path(path).read_text().splitlines(), start=1):
        text, _, comment = raw.partition("#")
        fields = text.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise ValueError(f"{path}:{lineno}: expected 'name sha256 url', got {raw!r}")
        name, digest, url = fields
        if digest == "unavailable":
            entries[name] = RegistryEntry(name, None, None, "unavailable", comment.strip())
        elif digest == "unknown":
            entries[name] = RegistryEntry(name, None, url, "unknown")
        else:
            digest = digest.lower().removeprefix("sha256:")
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"{path}:{lineno}: {digest!r} is not a SHA-256 hex digest")
            entries[name] = RegistryEntry(name, digest, url, "known")
    return entries


REGISTRY: dict[str, RegistryEntry] = load_registry()
"""The package's registry, by file name."""


def _entry(name: str) -> RegistryEntry:
    try:
        entry = REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"{name!r} is not in the data registry; known files: {', '.join(REGISTRY)}"
        ) from None
    if entry.status == "unavailable":
        raise DataUnavailableError(f"{name} is unavailable: {entry.reason}")
    return entry


def file_url(name: str, base_url: str | None = None) -> str:
    """The URL a registry file is downloaded from.

    Parameters
    ----------
    name : str
        Registry file name.
    base_url : str, optional
        A mirror; overrides ``$STRUCTNOISE_BASE_URL``, which overrides the registry URL.

    Returns
    -------
    str
        ``<base_url>/<name>`` with a mirror, else the registry's URL.
    """
    entry = _entry(name)
    base = base_url or os.environ.get(BASE_URL_ENV)
    if base:
        return f"{base.rstrip('/')}/{name}"
    return entry.url


def downloads_dir() -> Path:
    """Folder of downloaded files: ``<data cache>/downloads``."""
    return data_dir() / "downloads"


def _recorded_file() -> Path:
    return data_dir() / "recorded-hashes.txt"


def recorded_hashes() -> dict[str, str]:
    """Hashes recorded on first download of files whose hash the registry does not know.

    Returns
    -------
    dict of str to str
        SHA-256 by file name.
    """
    path = _recorded_file()
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) == 2 and not line.startswith("#"):
            out[fields[0]] = fields[1]
    return out


def _record_hash(name: str, digest: str) -> Path:
    hashes = recorded_hashes()
    hashes[name] = digest
    path = _recorded_file()
    lines = ["# sha256 recorded on first download (registry: unknown)"]
    lines += [f"{k} {v}" for k, v in sorted(hashes.items())]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return path


def expected_hash(name: str) -> str | None:
    """The hash a download of ``name`` is checked against (registry, else recorded)."""
    entry = _entry(name)
    return entry.sha256 or recorded_hashes().get(name)


def is_cached(name: str) -> bool:
    """Whether a registry file is already in the cache.

    Parameters
    ----------
    name : str
        Registry file name.

    Returns
    -------
    bool
        True when the downloaded file exists (its hash is checked when it is fetched).
    """
    return (downloads_dir() / name).is_file()


def _may_trust_on_first_use(url: str) -> bool:
    """Whether a file without a known hash may be trusted when downloaded from ``url``.

    Only https is trusted: over plain http anyone on the path can swap the file, and the
    swapped file's hash would be recorded as the genuine one.
    """
    return urlsplit(url).scheme.lower() == "https"


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


def _check_archive(path: Path, members: Sequence[str], cap: int) -> None:
    """Check ``path`` is a valid zip holding ``members``, each intact and within ``cap``.

    Raises
    ------
    DownloadError
        When it is not.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            for member in members:
                _check_member_name(path, member)
                if member not in names:
                    listing = ", ".join(n for n in names if not n.endswith("/")) or "nothing"
                    raise DownloadError(
                        f"{path.name}: the archive has no {member!r}; it holds: {listing}"
                    )
                info = zf.getinfo(member)
                _check_member_size(path, info, cap)
                read = 0
                with zf.open(info) as src:  # checks the CRC at the end
                    while chunk := src.read(1 << 20):
                        read += len(chunk)
                        if read > cap:
                            raise DownloadError(
                                f"{path.name}: the member {member!r} inflates past the "
                                f"extraction cap of {cap} bytes"
                            )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError) as exc:
        raise DownloadError(f"{path.name}: not a valid zip archive ({exc})") from exc


def _warn(message: str) -> None:
    """Print a warning to stderr and log it on ``structnoise.datasets``.

    Without any logging handler configured, a logged warning would only reach stderr
    through :data:`logging.lastResort`, printing the same text twice; it is logged only
    when some handler will receive it.
    """
    print(f"warning: {message}", file=sys.stderr, flush=True)
    if logger.hasHandlers():
        logger.warning(message)


def fetch_file(
    name: str,
    *,
    base_url: str | None = None,
    retries: int = DEFAULT_RETRIES,
    progress: bool = True,
    expect_members: Sequence[str] | None = None,
) -> Path:
    """Download a registry file into the cache (or return the cached copy).

    Parameters
    ----------
    name : str
        Registry file name, e.g. ``"flower.tif"``.
    base_url : str, optional
        Mirror base URL (see the module docstring); default ``$STRUCTNOISE_BASE_URL``.
    retries : int
        Extra attempts after a failed download.
    progress : bool
        Show a progress bar.
    expect_members : sequence of str, optional
        Members a zip archive must hold before the hash of a first download (no
        published hash) is recorded; default :data:`ARCHIVE_MEMBERS` for ``name``
        (only a valid zip is required of other ``.zip`` files).

    Returns
    -------
    pathlib.Path
        The file in the cache.

    Raises
    ------
    DownloadError
        When the download fails or the file's SHA-256 does not match; when a file with
        no published or recorded hash would be trusted over plain http; when such a
        file is an archive without the expected members (it is deleted, no hash is
        recorded). Nothing is left in the cache then.
    DataUnavailableError
        For registry entries without a public copy.
    """
    import pooch
    import requests

    known = expected_hash(name)
    url = file_url(name, base_url)
    if known is None and not _may_trust_on_first_use(url):
        scheme = urlsplit(url).scheme or "no"
        raise DownloadError(
            f"{name}: refusing to download {url} over {scheme}:// because the file has no "
            f"published SHA-256 and none is recorded in {_recorded_file()}, so its first "
            f"download would be trusted and pinned unchecked; use an https mirror "
            f"({BASE_URL_ENV}=https://...) or the registry's https URL (unset "
            f"{BASE_URL_ENV}), or put the known hash in that file as '{name} <sha256>'"
        )
    cached_before = known is None and (downloads_dir() / name).is_file()
    pup = pooch.create(
        path=downloads_dir(),
        base_url="",
        registry={name: f"sha256:{known}" if known else None},
        urls={name: url},
        retry_if_failed=max(int(retries), 0),
    )
    try:
        path = Path(pup.fetch(name, progressbar=progress))
    except ValueError as exc:
        if "hash" not in str(exc).lower():
            raise
        source = "registry" if REGISTRY[name].sha256 else "hash recorded on first download"
        raise DownloadError(
            f"{name}: the file downloaded from {url} failed its SHA-256 check "
            f"(expected {known}, from the {source}). It was discarded; nothing was "
            f"written to {downloads_dir()}. The download was corrupted or the server "
            f"serves a different file: retry, or check the mirror ({BASE_URL_ENV}). "
            f"pooch said: {exc}"
        ) from exc
    except (requests.exceptions.RequestException, OSError) as exc:
        raise DownloadError(
            f"{name}: could not download {url} ({type(exc).__name__}: {exc}). Check the "
            f"network connection, or download the file yourself and serve it through a "
            f"mirror ({BASE_URL_ENV}=https://host/folder) or pass its path to the loader."
        ) from exc
    if known is None:
        members = ARCHIVE_MEMBERS.get(name, ()) if expect_members is None else expect_members
        if members or name.lower().endswith(".zip"):
            try:
                _check_archive(path, members, max_extract_bytes())
            except DownloadError as exc:
                path.unlink(missing_ok=True)
                raise DownloadError(
                    f"{exc} ({path.name} has no published or recorded hash, so it was "
                    f"checked before recording one: the file was deleted and no hash was "
                    f"recorded)"
                ) from exc
        digest = pooch.file_hash(str(path), alg="sha256")
        where = _record_hash(name, digest)
        origin = f"the copy already in {path}" if cached_before else f"this download from {url}"
        _warn(
            f"{name} has no published SHA-256; trusted {origin} on first use "
            f"and recorded sha256 {digest} in {where} (later downloads are checked "
            f"against it)"
        )
    return path


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
            names = zf.namelist()
            if member not in names:
                listing = ", ".join(n for n in names if not n.endswith("/")) or "nothing"
                raise DownloadError(
                    f"{archive.name}: the archive has no {member!r}; it holds: {listing}"
                )
            info = zf.getinfo(member)
            _check_member_size(archive, info, cap)
            try:
                with atomic_path(target) as tmp, zf.open(info) as src, open(tmp, "wb") as dst:
                    written = 0
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > cap:
                            raise DownloadError(
                                f"{archive.name}: the member {member!r} inflates past the "
                                f"extraction cap of {cap} bytes; nothing was extracted"
                            )
                        dst.write(chunk)
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
