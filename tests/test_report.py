"""Reports: Table 1 (markdown, LaTeX, paper numbers), figures, and the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
import test_benchmark as tb
import yaml
from typer.testing import CliRunner

from structnoise.benchmark.report import report
from structnoise.benchmark.results import COLUMNS, write_table
from structnoise.benchmark.tables import build_table1, paper_table1
from structnoise.cli import app


@pytest.fixture(scope="session")
def plugin(tmp_path_factory):
    return tb.plugin_file(tmp_path_factory)


def _table(rows):
    """A results table from (dataset, method, params, seed, value, status) tuples."""
    records = []
    for i, (dataset, method, params, seed, value, status) in enumerate(rows):
        label = (
            method if not params else f"{method}[{','.join(f'{k}={v}' for k, v in params.items())}]"
        )
        rec = {c: None for c in COLUMNS}
        rec.update(
            run_id="r",
            cell_id=f"c{i}",
            method=method,
            params=json.dumps(params, sort_keys=True),
            label=label,
            dataset=dataset,
            seed=seed,
            cell_seed=i,
            profile="quick",
            metric="psnr",
            value=value,
            status=status,
            reason="" if status == "ok" else "boom",
            fit_s=1.0,
            denoise_s=0.5,
            peak_rss_mb=100.0,
            device="cpu",
            n_images=3,
        )
        records.append(rec)
    return pd.DataFrame(records, columns=COLUMNS)


def test_paper_table1_is_the_papers():
    paper = paper_table1()
    assert len(paper) == 37  # the filled cells of the paper's Table 1
    cell = paper.set_index(["dataset", "method"])["psnr"]
    assert cell[("convallaria-a", "dvlae-large")] == 37.49
    assert cell[("ffhq-checkerboard", "sn2v")] == 19.11
    assert cell[("mouse-nuclei", "hdn-large")] == 38.12
    assert cell[("ffhq-stripe", "care")] == 36.46
    assert not ((paper["dataset"] == "mouse-actin") & (paper["method"] == "hdn36")).any()
    assert set(paper["paper_method"]) == {
        "SN2V",
        "HDN",
        "HDN36",
        "HDN large",
        "HDN36 large",
        "Ours small",
        "Ours large",
        "CARE",
    }
    # the embedded datasets use the FFHQ noise models
    analogue = paper[paper["analogue_datasets"] != ""]
    assert set(analogue["paper_dataset"]) == {"FFHQ - Stripe", "FFHQ - Checkerboard"}


def test_table1_mean_std_bold_and_paper_difference():
    t = _table(
        [
            ("convallaria-a", "dvlae-small", {}, 0, 34.0, "ok"),
            ("convallaria-a", "dvlae-small", {}, 1, 35.0, "ok"),
            ("convallaria-a", "sn2v", {}, 0, 30.0, "ok"),
            ("convallaria-a", "sn2v", {}, 1, 31.0, "ok"),
            ("convallaria-a", "care", {}, 0, np.nan, "failed"),
            ("convallaria-a", "care", {}, 1, np.nan, "failed"),
            ("convallaria-a", "dvlae-small", {"rf": 10}, 0, 20.0, "ok"),
            ("convallaria-a", "dvlae-small", {"rf": 10}, 1, 21.0, "ok"),
        ]
    )
    t1 = build_table1(t)
    s = t1.summary.set_index("label")
    assert s.loc["dvlae-small", "mean"] == pytest.approx(34.5)
    assert s.loc["dvlae-small", "std"] == pytest.approx(np.std([34, 35], ddof=1))
    assert s.loc["dvlae-small", "paper"] == 34.42
    assert s.loc["dvlae-small", "diff"] == pytest.approx(34.5 - 34.42)
    assert s.loc["sn2v", "paper"] == 30.29
    assert np.isnan(s.loc["dvlae-small[rf=10]", "paper"])  # not the paper's setting
    assert s.loc["care", "status"] == "failed"
    assert s["best"].tolist() == [True, False, False, False]
    md = t1.markdown
    assert "**34.50 ± 0.71** (paper 34.42, Δ +0.08)" in md
    assert "30.50 ± 0.71 (paper 30.29, Δ +0.21)" in md
    assert "*failed*" in md and "care on convallaria-a: failed (boom)" in md
    assert md.splitlines()[0] == ("| dataset | dvlae-small | sn2v | care | dvlae-small[rf=10] |")
    assert r"\textbf{34.50$\pm$0.71}" in t1.latex and r"\begin{tabular}{lcccc}" in t1.latex
    assert "(34.42, $+0.08$)" in t1.latex
    assert t1.latex.count("{") == t1.latex.count("}")  # balanced braces


def test_ranking_against_the_papers_on_analogous_data():
    t = _table(
        [
            ("embedded-stripe", "care", {}, 0, 33.0, "ok"),
            ("embedded-stripe", "dvlae-small", {}, 0, 31.0, "ok"),
            ("embedded-stripe", "sn2v", {}, 0, 29.0, "ok"),
            ("embedded-stripe", "gaussian", {}, 0, 28.0, "ok"),
        ]
    )
    t1 = build_table1(t)
    assert t1.summary["paper"].isna().all()  # other images: no direct comparison
    assert "*FFHQ - Stripe* (analogous dataset" in t1.ranking
    # one seed: the means in order, but no ranking claimed
    assert "ours: no ranking claimed (one seed); means in order: care (33.00), " in t1.ranking
    assert "paper: care > dvlae-small > sn2v" in t1.ranking
    assert "tau of the means over 3 methods: +1.00" in t1.ranking
    assert "±" not in t1.markdown.splitlines()[2]  # one seed: no std
    # three seeds: '>' where the means differ beyond the seeds' spread, '≈' where not
    rows = []
    for seed, jitter in enumerate((-0.1, 0.0, 0.1)):
        rows += [
            ("embedded-stripe", "care", {}, seed, 33.0 + jitter, "ok"),
            ("embedded-stripe", "dvlae-small", {}, seed, 31.0 + jitter, "ok"),
            ("embedded-stripe", "sn2v", {}, seed, 30.95 - jitter, "ok"),
        ]
    t3 = build_table1(_table(rows))
    assert "ours: care (33.00) > dvlae-small (31.00) ≈ sn2v (30.95)" in t3.ranking
    assert "embedded-stripe, psnr: care (33.00) > dvlae-small (31.00) ≈ sn2v (30.95)" in t3.claims


def _run_dir(tmp_path, table):
    run_dir = tmp_path / "run"
    (run_dir / "cells").mkdir(parents=True)
    write_table(run_dir, table)
    for r in table.itertuples():
        rec = {
            "cell_id": r.cell_id,
            "method": r.method,
            "params": json.loads(r.params),
            "label": r.label,
            "dataset": r.dataset,
            "seed": r.seed,
            "cell_seed": r.cell_seed,
            "status": r.status,
            "metrics": {"psnr": r.value},
        }
        (run_dir / "cells" / f"{r.cell_id}.json").write_text(json.dumps(rec))
    return run_dir


def test_report_skips_figures_without_data(tmp_path):
    t = _table([("embedded-stripe", "gaussian", {}, 0, 28.0, "ok")])
    run_dir = _run_dir(tmp_path, t)
    messages = []
    out = report(run_dir, echo=messages.append)
    assert (run_dir / "table1.md").exists() and (run_dir / "table1.tex").exists()
    assert (run_dir / "report.md").exists()
    assert isinstance(out["fig4"], str) and "Fig. 4 skipped" in out["fig4"]
    assert out["fig5"] == [] and out["fig3"] == []
    assert any("Fig. 5 skipped" in m for m in messages)
    assert any("Fig. 3 grid skipped" in m for m in messages)
    assert not list(run_dir.glob("fig*.png"))


def test_fig4_from_an_rf_grid(tmp_path):
    rows = [
        ("d", "dvlae-small", {"rf": rf}, s, 30 + rf / 100 + s / 10, "ok")
        for rf in (10, 40, 120)
        for s in (0, 1)
    ]
    run_dir = _run_dir(tmp_path, _table(rows))
    out = report(run_dir, echo=None)
    assert [p.name for p in out["fig4"]] == ["fig4_rf.png", "fig4_rf.svg"]
    assert (run_dir / "fig4_rf.png").stat().st_size > 1000
    assert "<svg" in (run_dir / "fig4_rf.svg").read_text()[:2000]


def test_report_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results table"):
        report(tmp_path, echo=None)
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "no results table" in result.output


def test_cli_run_list_and_report(tmp_path, plugin):
    a = tb._make_dataset(tmp_path / "a", seed=3)
    cfg = {
        "name": "cli",
        "profile": "smoke",
        "methods": ["fake-fail"],
        "datasets": [{"name": "tiny", **a}],
        "plugins": [str(plugin)],
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "run",
            str(path),
            "--methods",
            "fake-blur,fake-ar[rf=2,8]",
            "--seeds",
            "0,1",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "6 ok, 0 failed, 0 skipped" in result.output
    assert "| dataset | fake-blur | fake-ar[rf=2] | fake-ar[rf=8] |" in result.output
    assert (out / "fig4_rf.png").exists() and (out / "fig3_tiny.png").exists()
    table = pd.read_parquet(out / "results.parquet")
    assert sorted(table["seed"].unique()) == [0, 1] and len(table) == 6 * 3  # 3 metrics

    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0 and "fake-blur" in result.output

    result = runner.invoke(app, ["run", str(path), "--methods", "nope", "--out", str(out)])
    assert result.exit_code == 2
    assert "unknown method(s) 'nope'" in result.output and "fake-blur" in result.output

    result = runner.invoke(app, ["run", str(path), "--slurm-time", "0", "--out", str(out)])
    assert result.exit_code == 2 and "time_min" in result.output

    result = runner.invoke(app, ["list", "methods", "fake-*"])
    assert result.exit_code == 0 and "fake-ar" in result.output and "fake-blur" in result.output
    result = runner.invoke(app, ["list", "datasets"])
    assert result.exit_code == 0 and "embedded-stripe" in result.output
    assert "[Convallaria A]" in result.output
    result = runner.invoke(app, ["list", "configs"])
    assert "quick" in result.output and "table1" in result.output
