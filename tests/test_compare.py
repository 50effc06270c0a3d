"""``structnoise report RUN_DIR --with OTHER``: merged cells, refusals, read-only references."""

import hashlib
import json
import shutil

import pandas as pd
import pytest
from report_runs import make_runs
from typer.testing import CliRunner

from structnoise.benchmark.compare import CompareError, merge_runs, parse_convention
from structnoise.benchmark.results import read_table, write_table
from structnoise.cli import app


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_runs(tmp_path_factory)


def _copy(runs, name, tmp_path):
    dst = tmp_path / name
    shutil.copytree(runs[name], dst)
    return dst


def _digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _edit_records(run_dir, **changes):
    for path in (run_dir / "cells").glob("*.json"):
        rec = json.loads(path.read_text())
        rec.update(changes)
        path.write_text(json.dumps(rec))


def test_report_with_a_reference_merges_and_leaves_the_reference_alone(runs, tmp_path):
    mine = _copy(runs, "mine", tmp_path)
    reference = runs["reference"]
    before, own_table = _digest(reference), (mine / "results.csv").read_bytes()
    result = CliRunner().invoke(app, ["report", str(mine), "--with", str(reference)])
    assert result.exit_code == 0, result.output
    assert _digest(reference) == before  # nothing written into the other run
    assert (mine / "results.csv").read_bytes() == own_table  # the run's own table kept

    merged = pd.read_csv(mine / "results_merged.csv")
    cells = merged.drop_duplicates("cell_id")
    assert sorted(zip(cells["run"], cells["label"], cells["seed"], strict=True)) == [
        ("mine", "noisy", 0),
        ("mine", "test-median", 0),
        ("reference", "gaussian", 0),
        ("reference", "gaussian", 1),
        ("reference", "noisy", 1),
    ]
    # noisy seed 0 is in both runs: the run folder's cell is kept, and that is said
    assert "noisy on embedded-stripe, seed 0: kept the cell of mine" in result.output
    header = (mine / "table1.md").read_text().splitlines()[0]
    assert header == "| dataset | test-median | noisy | gaussian |"
    report_json = json.loads((mine / "report.json").read_text())
    assert [c["run"] for c in report_json["compared"]] == ["mine", "reference"]
    assert [c["cells"] for c in report_json["compared"]] == [2, 3]
    assert all(not c["path"].startswith("/") for c in report_json["compared"])
    md = (mine / "report.md").read_text()
    assert "## Runs compared" in md and "`reference`" in md

    # the same value as in the reference's own table
    ref = read_table(reference)
    ref, merged = ref[ref["metric"] == "psnr"], merged[merged["metric"] == "psnr"]
    want = ref[(ref["label"] == "gaussian") & (ref["seed"] == 1)]["value"].item()
    got = merged[(merged["label"] == "gaussian") & (merged["seed"] == 1)]["value"].item()
    assert got == pytest.approx(want)

    # a report without --with draws from the run alone again
    result = CliRunner().invoke(app, ["report", str(mine)])
    assert result.exit_code == 0
    assert (mine / "table1.md").read_text().splitlines()[0] == "| dataset | test-median | noisy |"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("profile", "different profiles (quick vs smoke)"),
        ("n_images", "different data for embedded-stripe (3 vs 4 test images)"),
        ("fingerprint", "different data for embedded-stripe (fingerprint aaaa vs bbbb)"),
        ("convention", "different metric conventions for psnr (paper-v2 vs paper-v1)"),
    ],
)
def test_incomparable_runs_are_refused_in_one_line(runs, tmp_path, edit, message):
    mine = _copy(runs, "mine", tmp_path)
    reference = _copy(runs, "reference", tmp_path)
    if edit == "profile":
        table = read_table(mine)
        table["profile"] = "quick"
        write_table(mine, table)
    elif edit == "n_images":
        _edit_records(mine, n_images=3, dataset_fingerprint=None)  # as records of old runs
    elif edit == "fingerprint":
        _edit_records(mine, dataset_fingerprint="aaaa")
        _edit_records(reference, dataset_fingerprint="bbbb")
    else:
        _edit_records(mine, metric_convention="psnr=paper-v2")
    before = _digest(mine)
    result = CliRunner().invoke(app, ["report", str(mine), "--with", str(reference)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == [f"error: cannot compare {mine} with {reference}: {message}"]
    assert _digest(mine) == before  # refused before anything was written


def test_same_fingerprint_passes_where_image_counts_would_not_matter(runs, tmp_path):
    mine = _copy(runs, "mine", tmp_path)
    reference = _copy(runs, "reference", tmp_path)
    _edit_records(mine, dataset_fingerprint="cafe")
    _edit_records(reference, dataset_fingerprint="cafe")
    merged = merge_runs(mine, [reference]).table
    assert merged["cell_id"].nunique() == 5 and len(merged) == 5 * 3  # 3 metrics a cell
    # one side without a fingerprint: the numbers of test images decide
    _edit_records(reference, dataset_fingerprint=None, n_images=2)
    with pytest.raises(CompareError, match=r"\(4 vs 2 test images\)"):
        merge_runs(mine, [reference])


def test_folder_errors(runs, tmp_path):
    mine = runs["mine"]
    (tmp_path / "plain").mkdir()
    cases = [
        ([str(tmp_path / "plain")], "plain is not a structnoise run folder"),
        ([str(mine)], "is the run folder itself"),
        ([str(runs["reference"]), str(runs["reference"])], "is given twice"),
    ]
    for others, message in cases:
        args = [a for o in others for a in ("--with", o)]
        result = CliRunner().invoke(app, ["report", str(mine), *args])
        assert result.exit_code == 2 and message in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_new_table_columns_and_metrics_merge_with_old_tables(runs, tmp_path):
    """A reference written with curves, SSIM and conventions beside a run without them."""
    mine = _copy(runs, "mine", tmp_path)
    reference = _copy(runs, "reference", tmp_path)
    new = ["mark_step", "final", "train_cpu_s", "train_wall_s", "max_steps", "threads", "short"]
    old = read_table(mine)
    write_table(mine, old[old["metric"] == "psnr"].drop(columns=new))  # a table of old
    _edit_records(mine, metric_convention=None)
    _edit_records(reference, metric_convention="psnr=paper-v1;ssim=skimage-v1")
    table = read_table(reference)
    table = table[table["metric"] == "psnr"]  # as an old table: PSNR only
    ssim = table.assign(metric="ssim", value=0.5)
    curve = table.assign(value=table["value"] - 1)
    table = pd.concat(
        [table.assign(final=True), ssim.assign(final=True), curve.assign(final=False)]
    )
    table["mark_step"] = pd.array([None] * len(table), dtype="Int64")
    write_table(reference, table.reset_index(drop=True))

    merged = merge_runs(mine, [reference])
    t = merged.table
    assert t.columns[-1] == "run" and {"final", "mark_step"} <= set(t.columns)
    assert t["final"].dtype == bool
    assert t[t["run"] == "mine"]["final"].all()  # missing final: the final evaluation
    assert (~t["final"]).sum() == 3  # the reference's three curve rows kept
    assert str(t["mark_step"].dtype) == "Int64" and str(t["steps"].dtype) == "Int64"
    assert set(t[t["run"] == "reference"]["metric"]) == {"psnr", "ssim"}
    assert set(t[t["run"] == "mine"]["metric"]) == {"psnr"}


def test_parse_convention():
    assert parse_convention(None) == {"psnr": "paper-v1"}
    assert parse_convention("psnr=paper-v1; ssim=skimage-v1;microssim=v1") == {
        "psnr": "paper-v1",
        "ssim": "skimage-v1",
        "microssim": "v1",
    }
