"""Downloading the real datasets: the registry file and one pooch fetcher.

The registry (``registry.txt``, shipped in the package) lists every downloadable file as
``name sha256 url``. Files are downloaded with :mod:`pooch` into
``<data cache>/downloads/`` (``$STRUCTNOISE_DATA``, else ``pooch.os_cache("structnoise")``),
with retries, and checked against their SHA-256. pooch writes to a temporary file and
moves it into place only after the check, so a failed or corrupt download never leaves a
partial file in the cache.

* Unknown hashes (``unknown`` in the registry): the file is downloaded without a check,
  its SHA-256 is computed, shown to the user and recorded in
  ``<data cache>/recorded-hashes.txt``; later downloads are checked against it.
* Mirrors: set ``STRUCTNOISE_BASE_URL`` (or pass ``base_url=``) to download every file
  from ``<base_url>/<name>`` instead of the registry's URL, e.g. a lab server or a local
  copy served over HTTP. The hashes are still checked.
* Archives: members are extracted (atomically) into ``<data cache>/extracted/<archive>/``.
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from structnoise.datasets.cache import data_dir
from structnoise.utils import atomic_path

#: Environment variable with a mirror's base URL (files at ``<base>/<name>``).
BASE_URL_ENV = "STRUCTNOISE_BASE_URL"
#: The registry shipped in the package.
REGISTRY_FILE = Path(__file__).with_name("registry.txt")
#: Download attempts after the first failure (pooch waits 1 s, 2 s, ... between them).
DEFAULT_RETRIES = 3

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


def fetch_file(
    name: str,
    *,
    base_url: str | None = None,
    retries: int = DEFAULT_RETRIES,
    progress: bool = True,
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

    Returns
    -------
    pathlib.Path
        The file in the cache.

    Raises
    ------
    DownloadError
        When the download fails or the file's SHA-256 does not match; nothing is left
        in the cache then.
    DataUnavailableError
        For registry entries without a public copy.
    """
    import pooch
    import requests

    known = expected_hash(name)
    url = file_url(name, base_url)
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
            f"mirror ({BASE_URL_ENV}=http://host/folder) or pass its path to the loader."
        ) from exc
    if known is None:
        digest = pooch.file_hash(str(path), alg="sha256")
        where = _record_hash(name, digest)
        message = (
            f"{name}: the registry has no published SHA-256 for this file; recorded "
            f"sha256 {digest} in {where} (later downloads are checked against it)"
        )
        logger.warning(message)
    return path


def extract_member(archive: str | os.PathLike, member: str) -> Path:
    """Extract one member of a zip archive into the cache (once, atomically).

    Parameters
    ----------
    archive : path-like
        A downloaded zip file.
    member : str
        Path of the member inside the archive, e.g. ``"Mouse actin/sample_attempt2.tif"``.

    Returns
    -------
    pathlib.Path
        ``<data cache>/extracted/<archive stem>/<member>``.

    Raises
    ------
    DownloadError
        When the archive is not a zip file or lacks the member.
    """
    archive = Path(archive)
    target = data_dir() / "extracted" / archive.stem / member
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
            with atomic_path(target) as tmp, zf.open(member) as src, open(tmp, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{archive}: not a valid zip archive ({exc})") from exc
    return target
