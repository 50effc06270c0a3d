"""The data registry shipped in the package, and the hashes recorded on first download.

``registry.txt`` lists every downloadable file as ``name sha256 url`` (``unknown`` for a
hash that is not published, ``unavailable`` for data without a public copy, with the
reason as a comment). See :mod:`structnoise.datasets.download` for how they are used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from structnoise.datasets.base import DataUnavailableError
from structnoise.datasets.cache import data_dir
from structnoise.utils import atomic_path

#: Environment variable with a mirror's base URL (files at ``<base>/<name>``).
BASE_URL_ENV = "STRUCTNOISE_BASE_URL"
#: The registry shipped in the package.
REGISTRY_FILE = Path(__file__).with_name("registry.txt")


class HashStatus(StrEnum):
    """What the registry knows about a file's hash."""

    #: Published: every download is checked against it.
    KNOWN = "known"
    #: Not published: trusted on first use over https, then recorded.
    UNKNOWN = "unknown"
    #: Nothing to download.
    UNAVAILABLE = "unavailable"


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
    status : HashStatus
        Whether the hash is known, unknown, or there is nothing to download
        (``"known"``, ``"unknown"``, ``"unavailable"``).
    reason : str
        Why an entry is unavailable (empty otherwise).
    """

    name: str
    sha256: str | None
    url: str | None
    status: HashStatus
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
        if digest == HashStatus.UNAVAILABLE:
            entries[name] = RegistryEntry(name, None, None, HashStatus.UNAVAILABLE, comment.strip())
        elif digest == HashStatus.UNKNOWN:
            entries[name] = RegistryEntry(name, None, url, HashStatus.UNKNOWN)
        else:
            digest = digest.lower().removeprefix("sha256:")
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"{path}:{lineno}: {digest!r} is not a SHA-256 hex digest")
            entries[name] = RegistryEntry(name, digest, url, HashStatus.KNOWN)
    return entries


REGISTRY: dict[str, RegistryEntry] = load_registry()
"""The package's registry, by file name."""


def registry_entry(name: str) -> RegistryEntry:
    """The registry entry of a file that can be downloaded.

    Parameters
    ----------
    name : str
        Registry file name.

    Returns
    -------
    RegistryEntry

    Raises
    ------
    KeyError
        For a name not in the registry (the message lists the known ones).
    DataUnavailableError
        For an entry without a public copy.
    """
    try:
        entry = REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"{name!r} is not in the data registry; known files: {', '.join(REGISTRY)}"
        ) from None
    if entry.status == HashStatus.UNAVAILABLE:
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
    entry = registry_entry(name)
    base = base_url or os.environ.get(BASE_URL_ENV)
    if base:
        return f"{base.rstrip('/')}/{name}"
    return entry.url


def downloads_dir() -> Path:
    """Folder of downloaded files: ``<data cache>/downloads``."""
    return data_dir() / "downloads"


def recorded_file() -> Path:
    """Where hashes recorded on first download are kept: ``<data cache>/recorded-hashes.txt``."""
    return data_dir() / "recorded-hashes.txt"


def recorded_hashes() -> dict[str, str]:
    """Hashes recorded on first download of files whose hash the registry does not know.

    Returns
    -------
    dict of str to str
        SHA-256 by file name.
    """
    path = recorded_file()
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) == 2 and not line.startswith("#"):
            out[fields[0]] = fields[1]
    return out


def record_hash(name: str, digest: str) -> Path:
    """Record the SHA-256 of a first download (atomically).

    Parameters
    ----------
    name : str
        Registry file name.
    digest : str
        Its SHA-256 (hex).

    Returns
    -------
    pathlib.Path
        The file the hash was recorded in.
    """
    hashes = recorded_hashes()
    hashes[name] = digest
    path = recorded_file()
    lines = ["# sha256 recorded on first download (registry: unknown)"]
    lines += [f"{k} {v}" for k, v in sorted(hashes.items())]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return path


def expected_hash(name: str) -> str | None:
    """The hash a download of ``name`` is checked against (registry, else recorded)."""
    entry = registry_entry(name)
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
