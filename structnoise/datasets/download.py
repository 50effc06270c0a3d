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
  - an archive must be a valid zip holding the members its dataset extracts
    (``members=``, from the dataset's entry), each within the extraction cap, before its hash is
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

The registry and the recorded hashes are read in :mod:`structnoise.datasets.data_registry`,
archives are checked and extracted in :mod:`structnoise.datasets.archives`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from structnoise.datasets.archives import (
    check_archive,
    max_extract_bytes,
)
from structnoise.datasets.base import DownloadError
from structnoise.datasets.data_registry import (
    BASE_URL_ENV,
    REGISTRY,
    downloads_dir,
    expected_hash,
    file_url,
    record_hash,
    recorded_file,
)
from structnoise.progress import download_progress

#: Download attempts after the first failure (pooch waits 1 s, 2 s, ... between them).
DEFAULT_RETRIES = 3
logger = logging.getLogger("structnoise.datasets")


def _may_trust_on_first_use(url: str) -> bool:
    """Whether a file without a known hash may be trusted when downloaded from ``url``.

    Only https is trusted: over plain http anyone on the path can swap the file, and the
    swapped file's hash would be recorded as the genuine one.
    """
    return urlsplit(url).scheme.lower() == "https"


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
        published hash) is recorded: the dataset's ``members``, which its loader and
        :func:`~structnoise.datasets.fetch_dataset` pass (without them only a valid zip
        is required of a ``.zip`` file).

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
            f"published SHA-256 and none is recorded in {recorded_file()}, so its first "
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
        path = Path(pup.fetch(name, progressbar=download_progress(name) if progress else False))
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
        members = tuple(expect_members or ())
        if members or name.lower().endswith(".zip"):
            try:
                check_archive(path, members, max_extract_bytes())
            except DownloadError as exc:
                path.unlink(missing_ok=True)
                raise DownloadError(
                    f"{exc} ({path.name} has no published or recorded hash, so it was "
                    f"checked before recording one: the file was deleted and no hash was "
                    f"recorded)"
                ) from exc
        digest = pooch.file_hash(str(path), alg="sha256")
        where = record_hash(name, digest)
        origin = f"the copy already in {path}" if cached_before else f"this download from {url}"
        _warn(
            f"{name} has no published SHA-256; trusted {origin} on first use "
            f"and recorded sha256 {digest} in {where} (later downloads are checked "
            f"against it)"
        )
    return path
