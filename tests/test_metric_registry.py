"""The metric registry: one entry in ``structnoise.metrics.METRICS`` reaches every report.

A metric added to the registry (here a throwaway mean absolute error, lower is better) is
scored by every cell and appears in the results table, Table 1, the rankings, the
quality-vs-compute curves and ``report.html`` with its title, decimals and direction,
without any other file knowing of it.
"""

import numpy as np
import pandas as pd
import pytest

from structnoise import metrics
from structnoise.benchmark import run
from structnoise.benchmark.curves import _panel, curve_points
from structnoise.benchmark.tables import build_table1
from structnoise.metrics import METRIC_CONVENTION, METRICS, Metric, get_metric, score_stack


def _mae(gt, pred):
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, *np.shape(gt)[-2:])
    pred = np.asarray(pred, dtype=np.float64).reshape(gt.shape)
    return np.abs(gt - pred).mean(axis=(1, 2))


MAE = Metric("mae", "Mean abs. error", _mae, higher_is_better=False, convention="test-v1")


def test_convention_and_scores_come_from_the_entries():
    assert [m.name for m in METRICS.values()] == ["psnr", "ssim", "microssim"]
    assert METRIC_CONVENTION == ";".join(f"{m.name}={m.convention}" for m in METRICS.values())
    rng = np.random.default_rng(0)
    gt = rng.random((2, 32, 32))
    scores = score_stack(gt, gt + 0.01 * rng.standard_normal(gt.shape))
    assert list(scores) == list(METRICS)
    assert all(v.shape == (2,) for v in scores.values())
    assert get_metric("psnr").decimals == 2 and get_metric("psnr").higher_is_better
    unknown = get_metric("from-another-run")
    assert unknown.title == "from-another-run" and unknown.higher_is_better


def test_best_follows_the_direction():
    assert MAE.best([0.3, 0.1, float("nan")]) == 0.1
    assert get_metric("psnr").best([20.0, 25.0]) == 25.0


@pytest.fixture
def with_mae(monkeypatch):
    monkeypatch.setitem(METRICS, "mae", MAE)
    return MAE


def test_a_new_entry_reaches_table1_claims_and_the_page(with_mae, tmp_path, monkeypatch):
    monkeypatch.setenv("STRUCTNOISE_DATA", str(tmp_path / "cache"))
    res = run(
        {
            "profile": "smoke",
            "methods": ["noisy", {"name": "gaussian", "params": {"sigma": 1.0}}],
            "datasets": ["embedded-stripe"],
            "seeds": [0, 1],
            "max_test_images": 2,
            "save_denoised": False,
        },
        out=str(tmp_path / "run"),
        progress=False,
    )
    table = res.table
    mae = table[(table["metric"] == "mae") & table["final"].astype(bool)]
    assert len(mae) == 4 and mae["value"].notna().all()
    # the filter is better than the noisy input in both directions
    means = mae.groupby("method")["value"].mean()
    assert means["gaussian"] < means["noisy"]

    t1 = build_table1(table)
    assert "**Mean abs. error**" in t1.markdown
    assert "Mean abs. error, mean ± std over 2 seed(s)" in t1.markdown
    assert "(lower is better)" in t1.markdown
    best = t1.summaries["mae"].set_index("method")["best"]
    assert best["gaussian"] and not best["noisy"]  # the lower mean is the bold one
    assert "Mean abs. error" in t1.latex
    assert "- embedded-stripe, mae (lower is better): " in t1.claims
    line = next(x for x in t1.claims.splitlines() if "mae (lower" in x)
    assert line.index("gaussian") < line.index("noisy")  # best first
    assert "mean abs" not in t1.markdown.split("**Mean abs. error**")[0].lower()  # PSNR first

    page = (res.run_dir / "report.html").read_text()
    assert "Mean abs. error mean" in page and "Mean abs. error sd" in page
    assert "Mean abs. error per test image" in page
    assert "Mean abs. error" in (res.run_dir / "table1.md").read_text()


def test_a_new_entry_gets_its_own_curve_panel(with_mae):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for metric, values in (("psnr", (20.0, 24.0, 26.0)), ("mae", (0.3, 0.2, 0.1))):
        for step, value in zip((1, 2, 4), values, strict=True):
            rows.append(
                {
                    "dataset": "d",
                    "label": "m",
                    "metric": metric,
                    "value": value,
                    "status": "ok",
                    "mark_step": step,
                    "train_wall_s": float(step),
                    "seed": 0,
                    "final": step == 4,
                }
            )
    table = pd.DataFrame(rows)
    assert curve_points(table, "mae")["mean"].tolist() == [0.3, 0.2, 0.1]
    assert curve_points(table)["mean"].tolist() == [20.0, 24.0, 26.0]  # the first metric
    fig, ax = plt.subplots()
    _panel(ax, table, "d", "mae")
    assert ax.get_ylabel() == "Mean abs. error"
    plt.close(fig)


def test_the_metrics_module_names_no_report():
    # the registry is the only place a metric's facts are written
    import inspect

    from structnoise.benchmark import claims, curves, html, tables

    for module in (tables, claims, curves, html):
        src = inspect.getsource(module)
        assert "MicroSSIM" not in src, module.__name__
        assert '"ssim"' not in src, module.__name__
    assert metrics.METRICS is METRICS
