"""The download path against an HTTP server on 127.0.0.1 (no internet needed)."""

import functools
import hashlib
import http.server
import io
import logging
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from structnoise.cli import app
from structnoise.datasets import archives, data_registry, download, load_dataset, real
from structnoise.datasets.base import DataUnavailableError, DownloadError
from structnoise.datasets.cache import data_dir
from structnoise.datasets.catalog import CATALOG, dataset_status, fetch_dataset
from structnoise.datasets.data_registry import RegistryEntry, load_registry


class _Handler(http.server.SimpleHTTPRequestHandler):
    hits: list = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        type(self).hits.append(self.path)
        super().do_GET()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve tmp_path/served on 127.0.0.1 and point STRUCTNOISE_BASE_URL at it."""
    root = tmp_path / "served"
    root.mkdir()
    _Handler.hits = []
    handler = functools.partial(_Handler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(data_registry.BASE_URL_ENV, f"http://127.0.0.1:{httpd.server_address[1]}")
    yield root
    httpd.shutdown()
    httpd.server_close()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tiff_bytes(arr) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr)
    return buf.getvalue()


def _zip_bytes(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _set_registry(monkeypatch, name, digest):
    entry = data_registry.REGISTRY[name]
    new = RegistryEntry(name, digest, entry.url, "known" if digest else "unknown")
    monkeypatch.setitem(data_registry.REGISTRY, name, new)


def _leftovers(path):
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def _pretend_https(monkeypatch):
    """Let the 127.0.0.1 http server stand in for an https one (trust on first use)."""
    monkeypatch.setattr(download, "_may_trust_on_first_use", lambda url: True)


def test_shipped_registry_is_complete():
    reg = load_registry()
    assert reg["flower.tif"].sha256.startswith("08c2c77ae63d")
    assert reg["Convallaria_diaphragm.zip"].sha256.startswith("8a2ac3e27923")
    assert reg["Mouse_actin.zip"].status == "unknown" and reg["Mouse_actin.zip"].sha256 is None
    assert reg["Mouse_skull_nuclei.zip"].status == "unknown"
    assert reg["STEM"].status == "unavailable" and "no public copy" in reg["STEM"].reason


def test_registry_parser_rejects_bad_lines(tmp_path):
    bad = tmp_path / "reg.txt"
    bad.write_text("a.tif deadbeef http://x/a.tif\n")
    with pytest.raises(ValueError, match="not a SHA-256"):
        load_registry(bad)
    bad.write_text("a.tif http://x/a.tif\n")
    with pytest.raises(ValueError, match="expected 'name sha256 url'"):
        load_registry(bad)


def test_known_hash_download_and_load(server, monkeypatch, rng):
    stack = rng.integers(0, 4000, size=(3, 1024, 1024), dtype=np.uint16)
    data = _tiff_bytes(stack)
    (server / "flower.tif").write_bytes(data)
    _set_registry(monkeypatch, "flower.tif", _sha256(data))
    assert dataset_status("convallaria-a") == "downloadable"
    ds = load_dataset("convallaria-a", progress=False)
    assert ds.test_noisy.shape == (3, 512, 512) and ds.test_noisy.dtype == np.float32
    np.testing.assert_array_equal(ds.test_noisy, stack[:, :512, :512])
    gt = stack[:, :512, :512].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(ds.test_clean[1], gt, rtol=1e-6)
    assert ds.train_noisy.shape == ds.train_clean.shape == (9, 512, 512)
    np.testing.assert_array_equal(ds.train_noisy[3:6], stack[:, 512:, :512])
    assert ds.axis == "horizontal" and "Broaddus" in ds.citation
    assert dataset_status("convallaria-a") == "cached"
    n_hits = len(_Handler.hits)
    real.convallaria_a(progress=False)  # from the cache, hash checked, no download
    assert len(_Handler.hits) == n_hits


def test_download_progress_in_a_log_is_plain_lines(server, monkeypatch, rng, capfd):
    """Into a file or a pipe, pooch's bar becomes a few lines without carriage returns."""
    from structnoise import progress

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.delenv(progress.ENV, raising=False)
    clock = iter(range(10**6))
    monkeypatch.setattr(progress.time, "monotonic", lambda: float(next(clock)))
    data = _tiff_bytes(rng.integers(0, 4000, size=(2, 512, 512), dtype=np.uint16))
    (server / "flower.tif").write_bytes(data)
    _set_registry(monkeypatch, "flower.tif", _sha256(data))
    path = download.fetch_file("flower.tif", progress=True)
    assert path.read_bytes() == data
    err = capfd.readouterr().err
    assert "\r" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("downloading flower.tif: ")]
    assert 1 <= len(lines) <= 21, err
    assert f"{len(data)}/{len(data)} bytes (100%)" in lines[-1]


def test_unknown_hash_is_recorded_and_reported(server, monkeypatch, rng, caplog):
    _pretend_https(monkeypatch)
    stack = rng.integers(300, 900, size=(2, 64, 512), dtype=np.uint16)
    archive = _zip_bytes({"Mouse skull nuclei/example2_digital_offset300.tif": _tiff_bytes(stack)})
    (server / "Mouse_skull_nuclei.zip").write_bytes(archive)
    with caplog.at_level(logging.WARNING, logger="structnoise.datasets"):
        ds = load_dataset("mouse_nuclei", progress=False)
    assert _sha256(archive) in caplog.text and "no published SHA-256" in caplog.text
    assert data_registry.recorded_hashes()["Mouse_skull_nuclei.zip"] == _sha256(archive)
    assert ds.test_noisy.shape == (2, 64, 256) and ds.train_noisy.shape == (2, 64, 256)
    np.testing.assert_array_equal(ds.train_noisy, stack[:, :, 256:])
    assert ds.axis is None
    # the recorded hash now protects later downloads: a changed file is rejected
    (data_registry.downloads_dir() / "Mouse_skull_nuclei.zip").unlink()
    (server / "Mouse_skull_nuclei.zip").write_bytes(archive + b"tampered")
    with pytest.raises(DownloadError, match="recorded on first download"):
        download.fetch_file("Mouse_skull_nuclei.zip", retries=0, progress=False)


def test_wrong_hash_gives_clear_error_and_no_partial_file(server, monkeypatch, rng):
    archive = _zip_bytes({"Mouse actin/sample_attempt2.tif": _tiff_bytes(np.ones((2, 8, 1024)))})
    (server / "Mouse_actin.zip").write_bytes(archive)
    _set_registry(monkeypatch, "Mouse_actin.zip", "0" * 64)
    with pytest.raises(DownloadError, match="failed its SHA-256 check") as info:
        load_dataset("mouse-actin", retries=1, progress=False)
    assert "0" * 64 in str(info.value)
    assert len(_Handler.hits) == 2  # one retry
    assert _leftovers(data_registry.downloads_dir()) == []
    assert not (data_dir() / "extracted").exists()


def test_http_error_and_missing_member(server, monkeypatch):
    _pretend_https(monkeypatch)
    with pytest.raises(DownloadError, match="could not download"):
        fetch_dataset("mouse-actin", retries=0, progress=False)[0]
    assert _leftovers(data_registry.downloads_dir()) == []
    archive = _zip_bytes({"Mouse actin/other.tif": b"x"})
    (server / "Mouse_actin.zip").write_bytes(archive)
    _set_registry(monkeypatch, "Mouse_actin.zip", _sha256(archive))
    with pytest.raises(DownloadError, match="has no 'Mouse actin/sample_attempt2.tif'.*other.tif"):
        real.mouse_actin(progress=False)


def test_base_url_argument_overrides_env(server, monkeypatch):
    monkeypatch.setenv(data_registry.BASE_URL_ENV, "http://mirror.invalid/data/")
    assert data_registry.file_url("flower.tif") == "http://mirror.invalid/data/flower.tif"
    assert data_registry.file_url("flower.tif", base_url="http://a/b") == "http://a/b/flower.tif"
    monkeypatch.delenv(data_registry.BASE_URL_ENV)
    assert data_registry.file_url("flower.tif") == data_registry.REGISTRY["flower.tif"].url


def test_local_path_skips_download(tmp_path, rng):
    stack = rng.integers(0, 100, size=(2, 1024, 1024), dtype=np.uint16)
    archive = tmp_path / "Convallaria_diaphragm.zip"
    member = "Convallaria_diaphragm/20190520_tl_25um_50msec_05pc_488_130EM_Conv.tif"
    archive.write_bytes(_zip_bytes({member: _tiff_bytes(stack)}))
    ds = real.convallaria_b(path=archive)
    assert ds.test_noisy.shape == (2, 512, 512) and ds.licence == "CC BY 4.0"
    with pytest.raises(FileNotFoundError, match="no such file"):
        real.convallaria_b(path=tmp_path / "missing.tif")
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, stack[:, :100, :100])
    with pytest.raises(ValueError, match="expected at least 1024x1024"):
        real.convallaria_a(path=small)


def test_unavailable_and_local_only():
    with pytest.raises(DataUnavailableError, match="no public copy"):
        load_dataset("stem")
    with pytest.raises(DataUnavailableError):
        fetch_dataset("stem")
    with pytest.raises(FileNotFoundError, match="NVlabs/ffhq-dataset"):
        fetch_dataset("ffhq-stripe")


ACTIN = "Mouse actin/sample_attempt2.tif"


def _actin_zip(rng, members=None):
    stack = rng.integers(0, 4000, size=(2, 16, 1024), dtype=np.uint16)
    return _zip_bytes(members if members is not None else {ACTIN: _tiff_bytes(stack)})


def test_http_first_download_is_refused_and_nothing_recorded(server, rng):
    (server / "Mouse_actin.zip").write_bytes(_actin_zip(rng))
    with pytest.raises(DownloadError) as info:
        fetch_dataset("mouse-actin", retries=0, progress=False)[0]
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("Mouse_actin.zip: refusing to download http://127.0.0.1:")
    assert "over http://" in msg and "https mirror" in msg and "recorded-hashes.txt" in msg
    assert _Handler.hits == []  # refused before any request
    assert data_registry.recorded_hashes() == {}
    assert not (data_dir() / "recorded-hashes.txt").exists()
    assert _leftovers(data_registry.downloads_dir()) == []


def test_http_mirror_serves_files_whose_hash_is_known(server, rng, capsys):
    archive = _actin_zip(rng)
    (server / "Mouse_actin.zip").write_bytes(archive)
    with pytest.raises(DownloadError, match="refusing"):
        fetch_dataset("mouse-actin", retries=0, progress=False)[0]
    # the error's remedy: put the known hash in place; then the http mirror is fine
    recorded = data_dir() / "recorded-hashes.txt"
    recorded.parent.mkdir(parents=True, exist_ok=True)
    recorded.write_text(f"Mouse_actin.zip {_sha256(archive)}\n")
    path = fetch_dataset("mouse-actin", retries=0, progress=False)[0]
    assert path.read_bytes() == archive and len(_Handler.hits) == 1
    assert "no published SHA-256" not in capsys.readouterr().err


def test_only_https_may_be_trusted_on_first_use():
    trust = download._may_trust_on_first_use
    assert trust("https://example.org/a.zip") and trust("HTTPS://example.org/a.zip")
    for url in ("http://example.org/a.zip", "ftp://example.org/a.zip", "file:///a.zip", "a.zip"):
        assert not trust(url)


def test_https_first_download_warns_with_hash_and_place(server, monkeypatch, rng, capsys, caplog):
    _pretend_https(monkeypatch)
    archive = _actin_zip(rng)
    (server / "Mouse_actin.zip").write_bytes(archive)
    with caplog.at_level(logging.WARNING, logger="structnoise.datasets"):
        fetch_dataset("mouse-actin", retries=0, progress=False)[0]
    where = str(data_dir() / "recorded-hashes.txt")
    err = capsys.readouterr().err
    for text in (err, caplog.text):
        assert "Mouse_actin.zip has no published SHA-256" in text
        assert f"recorded sha256 {_sha256(archive)} in {where}" in text
    assert err.startswith("warning: ")
    assert data_registry.recorded_hashes() == {"Mouse_actin.zip": _sha256(archive)}


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"Mouse actin/other.tif": b"x" * 100}, id="wrong-member"),
        pytest.param(b"<html>not found</html>", id="not-a-zip"),
    ],
)
def test_first_download_without_expected_member_is_refused(server, monkeypatch, payload):
    _pretend_https(monkeypatch)
    data = _zip_bytes(payload) if isinstance(payload, dict) else payload
    (server / "Mouse_actin.zip").write_bytes(data)
    with pytest.raises(DownloadError, match="no hash was recorded") as info:
        fetch_dataset("mouse-actin", retries=0, progress=False)  # the entry's members
    assert ("has no 'Mouse actin/sample_attempt2.tif'" in str(info.value)) == (
        isinstance(payload, dict)
    )
    assert data_registry.recorded_hashes() == {}
    assert _leftovers(data_registry.downloads_dir()) == []
    # the genuine file is still accepted afterwards
    genuine = _zip_bytes({ACTIN: b"genuine"})
    (server / "Mouse_actin.zip").write_bytes(genuine)
    fetch_dataset("mouse-actin", retries=0, progress=False)[0]
    assert data_registry.recorded_hashes() == {"Mouse_actin.zip": _sha256(genuine)}


def test_archive_members_match_the_loaders(monkeypatch, tmp_path):
    seen = {}

    class Stop(Exception):
        pass

    def fake_fetch(name, **kwargs):
        return tmp_path / name

    def fake_extract(archive, member):
        seen[Path(archive).name] = member
        raise Stop  # stop the loader here

    monkeypatch.setattr(real, "fetch_file", fake_fetch)
    monkeypatch.setattr(real, "extract_member", fake_extract)
    for loader in (real.convallaria_b, real.mouse_actin, real.mouse_nuclei):
        with pytest.raises(Stop):
            loader(progress=False)
    members = {e.files[0]: e.members for e in CATALOG.values() if e.members}
    assert {k: (v,) for k, v in seen.items()} == members


def test_oversized_member_is_refused(tmp_path, monkeypatch):
    archive = tmp_path / "Mouse_actin.zip"
    archive.write_bytes(_zip_bytes({ACTIN: b"y" * 5000}))
    extracted = data_dir() / "extracted"
    with pytest.raises(
        DownloadError, match="5000 bytes uncompressed, more than the extraction cap"
    ):
        archives.extract_member(archive, ACTIN, max_bytes=4999)
    assert not extracted.exists()
    monkeypatch.setenv(archives.MAX_EXTRACT_ENV, "1000")
    assert archives.max_extract_bytes() == 1000
    with pytest.raises(DownloadError, match="extraction cap of 1000 bytes"):
        real.mouse_actin(path=archive)
    assert not extracted.exists()
    assert archives.extract_member(archive, ACTIN, max_bytes=5000).read_bytes() == b"y" * 5000
    monkeypatch.delenv(archives.MAX_EXTRACT_ENV)
    assert archives.max_extract_bytes() == archives.MAX_EXTRACT_BYTES == 4 * 1024**3


def test_oversized_member_is_not_pinned(server, monkeypatch):
    _pretend_https(monkeypatch)
    monkeypatch.setenv(archives.MAX_EXTRACT_ENV, "100")
    (server / "Mouse_actin.zip").write_bytes(_zip_bytes({ACTIN: b"z" * 101}))
    with pytest.raises(DownloadError, match="extraction cap of 100 bytes.*no hash was recorded"):
        fetch_dataset("mouse-actin", retries=0, progress=False)[0]
    assert data_registry.recorded_hashes() == {}
    assert _leftovers(data_registry.downloads_dir()) == []


@pytest.mark.parametrize("member", ["../evil.tif", "/abs/evil.tif", "a/../../evil.tif"])
def test_zip_path_traversal_is_refused(tmp_path, member):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo(member), b"payload")
    with pytest.raises(DownloadError, match="refusing the archive member"):
        archives.extract_member(archive, member)
    assert not (data_dir() / "extracted").exists()
    assert not any(p.name == "evil.tif" for p in tmp_path.rglob("*"))


def test_cli_fetch_refuses_http_first_download(server, rng):
    (server / "Mouse_actin.zip").write_bytes(_actin_zip(rng))
    result = CliRunner().invoke(app, ["datasets", "fetch", "mouse-actin", "--no-progress"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: Mouse_actin.zip: refusing to download http://127.0.0.1:")
    assert "https mirror" in lines[0]
    assert data_registry.recorded_hashes() == {} and _Handler.hits == []
