"""``report.html``: self-contained, same crop for every method, per-image tables, and sorting
that runs in a real headless browser (Chromium; skipped where it is not installed)."""

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image
from report_runs import make_runs
from typer.testing import CliRunner

from structnoise.benchmark.crops import choose_window, png_uri
from structnoise.benchmark.report import report
from structnoise.benchmark.results import read_table, write_table
from structnoise.cli import app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page(HTMLParser):
    """The tables (by id), images and body attributes of a page."""

    def __init__(self, text):
        super().__init__()
        self.tables, self.images, self.body = {}, [], {}
        self._table = self._row = self._cell = None
        self._part = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "img":
            self.images.append(a)
        elif tag == "table":
            self._table = {"attrs": a, "head": [], "rows": [], "foot": []}
            self.tables[a.get("id")] = self._table
        elif tag in ("thead", "tbody", "tfoot"):
            self._part = tag
        elif tag == "tr" and self._table is not None:
            self._row = []
            key = {"thead": "head", "tbody": "rows", "tfoot": "foot"}[self._part]
            self._table[key].append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = {"attrs": a, "text": ""}
            self._row.append(self._cell)

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


def _col(table, name):
    return [c["text"] for c in table["head"][0]].index(name)


def _decode(uri):
    assert uri.startswith("data:image/png;base64,")
    raw = base64.b64decode(uri.split(",", 1)[1])
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(raw)))


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """A copy of the plugin run, reported with the reference run."""
    runs = make_runs(tmp_path_factory)
    base = tmp_path_factory.mktemp("html")
    mine = base / "mine"
    shutil.copytree(runs["mine"], mine)
    result = CliRunner().invoke(app, ["report", str(mine), "--with", str(runs["reference"])])
    assert result.exit_code == 0, result.output
    return mine, runs["reference"]


def test_run_writes_report_html(tmp_path_factory):
    runs = make_runs(tmp_path_factory)
    for folder in runs.values():
        page = Page((folder / "report.html").read_text())
        assert {"summary", "cells"} <= set(page.tables)
        assert "run" not in [c["text"] for c in page.tables["cells"]["head"][0]]


def test_page_is_self_contained(compared):
    mine, _ = compared
    text = (mine / "report.html").read_text()
    assert "http://" not in text and "https://" not in text and "url(" not in text
    assert not re.search(r"<(link|iframe|object|embed)\b", text)
    assert not re.search(r"<script[^>]*\bsrc=", text)
    page = Page(text)
    assert page.images and all(
        img["src"].startswith("data:image/png;base64,") for img in page.images
    )
    for img in page.images:
        _decode(img["src"])
    alts = {img.get("alt") for img in page.images}
    assert "fig3_embedded-stripe" in alts  # the report's figures are embedded
    runs_table = page.tables["runs"]
    assert [r[0]["text"] for r in runs_table["rows"]] == ["mine", "reference"]


def test_every_method_shows_the_same_crop(compared):
    mine, reference = compared
    page = Page((mine / "report.html").read_text())
    example = np.load(mine / "examples" / "embedded-stripe.npz")
    noisy, clean = example["noisy"].astype(float), example["clean"].astype(float)
    y, x, side = choose_window(clean)
    cut = (slice(y, y + side), slice(x, x + side))
    lo, hi = np.percentile(clean, [0.5, 99.5])
    panels = {img["alt"]: img["src"] for img in page.images}
    assert panels["noisy"] == png_uri(noisy[cut], lo, hi)
    assert panels["clean"] == png_uri(clean[cut], lo, hi)
    recs = {
        (r["label"], r["seed"]): r
        for folder in (mine, reference)
        for r in map(json.loads, (p.read_text() for p in (folder / "cells").glob("*.json")))
    }
    for label, folder in (("test-median", mine), ("gaussian", reference)):
        rec = recs[(label, 0)]
        denoised = tifffile.imread(folder / rec["denoised_path"])[0].astype(float)
        caption = f"{label} (seed 0, {folder.name})"
        assert panels[caption] == png_uri(denoised[cut], lo, hi)
        assert _decode(panels[caption]).shape == (side, side)
    assert side == 64 and f"{side}x{side} px at y={y}, x={x}" in (mine / "report.html").read_text()


def test_per_image_table_holds_the_records_values(compared):
    mine, _ = compared
    page = Page((mine / "report.html").read_text())
    table = page.tables["img-embedded-stripe-psnr"]
    rec = next(
        json.loads(p.read_text())
        for p in (mine / "cells").glob("*.json")
        if json.loads(p.read_text())["label"] == "test-median"
    )
    col = _col(table, "test-median (1 seeds)")
    shown = [float(r[col]["attrs"]["data-v"]) for r in table["rows"]]
    assert shown == pytest.approx(rec["per_image"]["psnr"], abs=1e-6)
    assert float(table["foot"][0][col]["text"]) == pytest.approx(rec["metrics"]["psnr"], abs=0.01)


def test_metrics_per_image_and_ssim_are_shown(tmp_path, tmp_path_factory):
    run = tmp_path / "run"
    shutil.copytree(make_runs(tmp_path_factory)["mine"], run)
    for path in (run / "cells").glob("*.json"):
        rec = json.loads(path.read_text())
        rec["metrics_per_image"] = {"psnr": [30.0, 31.0, 32.0, 33.0], "ssim": [0.1, 0.2, 0.3, 0.4]}
        path.write_text(json.dumps(rec))
    table = read_table(run)
    table = table[table["metric"] == "psnr"]  # the scored SSIM rows replaced by known ones
    write_table(run, pd.concat([table, table.assign(metric="ssim", value=0.25)], ignore_index=True))
    report(run, echo=None)
    page = Page((run / "report.html").read_text())
    ssim = page.tables["img-embedded-stripe-ssim"]
    col = _col(ssim, "noisy (1 seeds)")
    assert [r[col]["text"] for r in ssim["rows"]] == ["0.100", "0.200", "0.300", "0.400"]
    psnr = page.tables["img-embedded-stripe-psnr"]
    assert [r[col]["text"] for r in psnr["rows"]][:2] == ["30.00", "31.00"]
    summary = page.tables["summary"]
    assert _col(summary, "SSIM mean") > _col(summary, "PSNR (dB) mean")
    assert {r[_col(summary, "SSIM mean")]["text"] for r in summary["rows"]} == {"0.250"}


def test_choose_window_finds_the_detail():
    img = np.zeros((128, 96))
    img[70:100, 20:50] = np.random.default_rng(0).random((30, 30))
    y, x, side = choose_window(img)
    assert side == 48  # half the shorter side
    assert y <= 70 and y + side >= 100 and x <= 20 and x + side >= 50
    assert choose_window(np.zeros((10, 10)))[2] == 8


def _dom(path, fragment=""):
    out = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            f"{path.resolve().as_uri()}{fragment}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return Page(out.stdout)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_sorting_runs_in_a_headless_browser(compared, tmp_path):
    mine, _ = compared
    html = mine / "report.html"
    source = Page(html.read_text())
    cells = source.tables["cells"]
    col = _col(cells, "PSNR (dB)")

    page = _dom(html, f"#sort=cells:{col}:desc")
    assert page.body.get("data-sort-ready") == str(len(source.tables))
    for table in page.tables.values():
        assert all(th["attrs"].get("data-sortable") == "1" for th in table["head"][0])
    sorted_cells = page.tables["cells"]
    assert sorted_cells["attrs"].get("data-sorted") == f"{col}:desc"
    assert sorted_cells["head"][0][col]["attrs"]["aria-sort"] == "descending"
    values = [float(r[col]["attrs"]["data-v"]) for r in sorted_cells["rows"]]
    assert values == sorted(values, reverse=True) and len(values) == 5
    unsorted = [float(r[col]["attrs"]["data-v"]) for r in cells["rows"]]
    assert values != unsorted  # the order changed in the browser, not in the file

    page = _dom(html, "#sort=summary:1:asc")
    methods = [r[1]["text"] for r in page.tables["summary"]["rows"]]
    assert methods == sorted(methods) == ["gaussian", "noisy", "test-median"]

    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1200,1600",
            f"--screenshot={shot}",
            html.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (1600, 1200) and pixels.std() > 10  # something was drawn


def test_curve_rows_are_left_out_and_short_cells_flagged(tmp_path, tmp_path_factory):
    run = tmp_path / "run"
    shutil.copytree(make_runs(tmp_path_factory)["mine"], run)
    table = read_table(run)
    median = table["label"] == "test-median"
    curve = table[median].assign(value=1.0, final=False)  # an early mark: not the final result
    table = table.assign(final=True, short=median, max_steps=pd.array([100] * len(table), "Int64"))
    write_table(run, pd.concat([table, curve], ignore_index=True))
    report(run, echo=None)
    page = Page((run / "report.html").read_text())
    summary = page.tables["summary"]
    mean = {r[1]["text"]: r[_col(summary, "PSNR (dB) mean")]["text"] for r in summary["rows"]}
    psnr = table[median & (table["metric"] == "psnr")]["value"].item()
    assert float(mean["test-median"]) == pytest.approx(psnr, abs=0.01)
    cells = page.tables["cells"]
    assert len(cells["rows"]) == 2  # one row per cell, the curve point left out
    short = {r[1]["text"]: r[_col(cells, "short")]["text"] for r in cells["rows"]}
    assert short == {"test-median": "stopped short", "noisy": ""}
    assert {r[_col(cells, "max steps")]["text"] for r in cells["rows"]} == {"100"}


def test_failed_cells_are_listed_with_their_reason(tmp_path, tmp_path_factory):
    run = tmp_path / "run"
    shutil.copytree(make_runs(tmp_path_factory)["mine"], run)
    table = read_table(run)
    median = table["label"] == "test-median"
    table.loc[median, ["status", "reason", "value"]] = ["failed", "RuntimeError: boom", np.nan]
    write_table(run, table)
    report(run, echo=None)
    page = Page((run / "report.html").read_text())
    cells = page.tables["cells"]
    row = next(r for r in cells["rows"] if r[1]["text"] == "test-median")
    assert row[_col(cells, "status")]["text"] == "failed: RuntimeError: boom"
    assert row[_col(cells, "PSNR (dB)")]["attrs"]["data-v"] == ""
    summary = page.tables["summary"]
    row = next(r for r in summary["rows"] if r[1]["text"] == "test-median")
    assert row[_col(summary, "status")]["text"] == "failed"
    assert row[_col(summary, "seeds ok")]["text"] == "0"
