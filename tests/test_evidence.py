"""The report's evidence: plateau verdicts, the paired comparison against DVLAE, Fig. 5's
numbers, on synthetic result tables, records and noise images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from structnoise.benchmark.claims import claims_markdown
from structnoise.benchmark.fig5_stats import (
    fig5_markdown,
    noise_statistics,
    sample_failures,
    sample_row,
)
from structnoise.benchmark.paired import bootstrap_interval, paired_comparisons, paired_markdown
from structnoise.benchmark.plateau import (
    BUDGET_LIMITED,
    NO_CURVE,
    PLATEAU,
    plateau_markdown,
    plateau_verdicts,
)
from structnoise.benchmark.tables import build_table1


def _curve_rows(label, dataset, curves, marks=(100, 200, 400), steps=True):
    """Tidy PSNR rows: one curve (values at ``marks``, the last one final) per seed."""
    rows = []
    for seed, values in enumerate(curves):
        for i, (step, value) in enumerate(zip(marks, values, strict=True)):
            rows.append(
                {
                    "cell_id": f"{label}__{dataset}__s{seed}",
                    "method": label.split("[")[0],
                    "params": "{}",
                    "label": label,
                    "dataset": dataset,
                    "seed": seed,
                    "metric": "psnr",
                    "value": float(value),
                    "status": "ok",
                    "reason": "",
                    "final": i == len(marks) - 1,
                    "mark_step": step if steps else pd.NA,
                    "steps": marks[-1] if steps else pd.NA,
                }
            )
    return rows


def _table(*groups) -> pd.DataFrame:
    t = pd.DataFrame([r for g in groups for r in g])
    t["steps"] = t["steps"].astype("Int64")
    t["mark_step"] = t["mark_step"].astype("Int64")
    return t


def test_a_flat_curve_is_trained_to_plateau():
    t = _table(_curve_rows("care", "d", [[20.0, 25.0, 25.05], [20.1, 25.1, 25.1]]))
    (v,) = plateau_verdicts(t)
    assert v.verdict == PLATEAU and v.trained
    assert v.gain == pytest.approx(0.025)
    assert v.threshold == pytest.approx(0.2)  # the seeds agree: 0.2 dB is the bar
    assert (v.last_mark, v.final_step, v.n) == (200, 400, 2)
    assert "trained to plateau: gain +0.03 dB from step 200 to 400" in v.describe()


def test_a_rising_curve_is_budget_limited():
    t = _table(_curve_rows("care", "d", [[20.0, 24.0, 25.0], [20.0, 24.1, 25.2]]))
    (v,) = plateau_verdicts(t)
    assert v.verdict == BUDGET_LIMITED and not v.trained
    assert v.gain == pytest.approx(1.05)
    assert "budget-limited" in plateau_markdown([v])


def test_a_seed_spread_larger_than_the_gain_counts_as_plateau():
    # each seed gains 0.8 dB over its last doubling, but the seeds' finals differ by ~2 dB
    curves = [[18.0, 21.2, 22.0], [20.0, 23.2, 24.0], [22.0, 25.2, 26.0]]
    (v,) = plateau_verdicts(_table(_curve_rows("n2v", "d", curves)))
    assert v.gain == pytest.approx(0.8)
    assert v.sd == pytest.approx(2.0)
    assert v.threshold == pytest.approx(2.0)
    assert v.verdict == PLATEAU
    # the same gain with agreeing seeds is budget-limited
    tight = [[18.0, 21.2, 22.0], [18.1, 21.3, 22.1], [18.0, 21.1, 21.9]]
    (w,) = plateau_verdicts(_table(_curve_rows("n2v", "d", tight)))
    assert w.verdict == BUDGET_LIMITED


def test_without_marks_no_verdict_and_classical_methods_none():
    t = _table(
        _curve_rows("hdn", "d", [[25.0], [25.1]], marks=(300,)),
        _curve_rows("bm3d", "d", [[30.0], [30.0]], marks=(0,), steps=False),
    )
    verdicts = plateau_verdicts(t)
    assert [(v.label, v.verdict) for v in verdicts] == [("hdn", NO_CURVE)]


def test_table1_marks_untrained_cells_and_the_rankings_leave_them_out():
    t = _table(
        _curve_rows("care", "d", [[20.0, 24.0, 28.0], [20.0, 24.0, 28.2]]),  # rising
        _curve_rows("n2v", "d", [[20.0, 25.0, 25.0], [20.0, 25.1, 25.1]]),  # flat
        _curve_rows("bm3d", "d", [[30.0], [30.0]], marks=(0,), steps=False),
        _curve_rows("noisy", "d", [[15.0], [15.0]], marks=(0,), steps=False),
    )
    for col in ("fit_s", "denoise_s", "peak_rss_mb"):
        t[col] = 1.0
    t1 = build_table1(t)
    row = t1.markdown.splitlines()[2]
    assert "28.10 ± 0.14 †" in row  # care, budget-limited
    assert "25.05 ± 0.07 |" in row  # n2v, trained: no mark
    assert "not trained to plateau" in t1.markdown
    assert r"$^\dagger$" in t1.latex
    ranked = t1.claims.splitlines()
    psnr = next(line for line in ranked if line.startswith("- d, psnr"))
    assert "care" not in psnr and "n2v" in psnr and "bm3d" in psnr
    assert "- d: left out, not trained to plateau: care" in t1.claims


def test_claims_without_left_out_are_unchanged():
    summary = pd.DataFrame(
        {
            "dataset": ["d", "d"],
            "label": ["a", "b"],
            "mean": [30.0, 20.0],
            "std": [0.1, 0.1],
            "n": [3, 3],
            "status": ["ok", "ok"],
        }
    )
    text = claims_markdown({"psnr": summary}, ["d"])
    assert "a (30.00) > b (20.00)" in text and "left out" not in text


# ------------------------------------------------------------------ paired comparison
def _record(label, dataset, seed, values, method=None, params=None):
    return {
        "cell_id": f"{label}-{dataset}-{seed}",
        "method": method or label,
        "params": params or {},
        "label": label,
        "dataset": dataset,
        "seed": seed,
        "status": "ok",
        "per_image": {"psnr": list(values)},
    }


def test_bootstrap_interval_is_seeded_and_covers_the_mean():
    rng = np.random.default_rng(1)
    d = rng.normal(0.5, 1.0, 200)
    mean, lo, hi = bootstrap_interval(d)
    assert lo < mean < hi
    assert bootstrap_interval(d) == (mean, lo, hi)  # seeded: the same every time
    # the interval's half-width is about 1.96 standard errors
    assert (hi - lo) / 2 == pytest.approx(1.96 * d.std(ddof=1) / np.sqrt(d.size), rel=0.15)


def test_paired_comparison_finds_a_consistent_small_gain_and_a_noisy_one():
    rng = np.random.default_rng(0)
    records = []
    for seed in range(3):
        base = rng.normal(25.0, 3.0, 16)  # images differ a lot from each other
        records.append(_record("dvlae-small", "d", seed, base))
        records.append(_record("better", "d", seed, base + 0.3 + rng.normal(0, 0.05, 16)))
        coin = rng.permutation(np.repeat([2.0, -2.0], 8))  # +-2 dB, mean 0
        records.append(_record("coin", "d", seed, base + coin))
        records.append(
            _record(
                "dvlae-small[mode=direct]",
                "d",
                seed,
                base - 1.0,
                method="dvlae-small",
                params={"mode": "direct"},
            )
        )
    records.append(_record("other-dataset", "e", 0, np.zeros(16)))
    diffs = {(d.reference, d.label): d for d in paired_comparisons(records)}
    better = diffs[("dvlae-small", "better")]
    assert better.n_pairs == 48 and better.n_seeds == 3
    assert better.mean == pytest.approx(0.3, abs=0.03)
    assert better.low > 0 and better.verdict == "better"
    # unpaired the same gain would drown in the spread between images (sd 3 dB)
    assert better.high - better.low < 0.1
    coin = diffs[("dvlae-small", "coin")]
    assert coin.low < 0 < coin.high and coin.verdict == "not distinguishable"
    # the direct mode is a reference too
    assert diffs[("dvlae-small[mode=direct]", "better")].mean == pytest.approx(1.3, abs=0.03)
    assert diffs[("dvlae-small", "dvlae-small[mode=direct]")].verdict == "worse"
    assert not any(d.label == "other-dataset" for d in diffs.values())
    text = paired_markdown(list(diffs.values()))
    assert "**d, against dvlae-small**" in text and "| better | +0.30 |" in text


def test_paired_comparison_pairs_only_common_seeds_and_needs_a_reference():
    records = [
        _record("dvlae-small", "d", 0, [20.0, 21.0]),
        _record("m", "d", 0, [21.0, 22.0]),
        _record("m", "d", 1, [30.0, 30.0]),  # no reference seed 1: unpaired
    ]
    (d,) = paired_comparisons(records)
    assert d.n_pairs == 2 and d.mean == pytest.approx(1.0)
    assert paired_comparisons([_record("m", "d", 0, [1.0])]) == []


# ------------------------------------------------------------------ Fig. 5 numbers
def _row_noise(shape, rng, along_sigma=1.5, scale=0.05):
    """Noise correlated along the rows (horizontal axis), independent down the columns."""
    white = rng.normal(0, 1, shape)
    corr = ndimage.gaussian_filter1d(white, along_sigma, axis=-1)
    return scale * corr / corr.std()


def test_noise_statistics_read_the_axis_and_the_signal_dependence():
    rng = np.random.default_rng(0)
    clean = np.tile(np.linspace(0, 1, 128), (128, 1))
    noise = _row_noise((128, 128), rng) * (0.5 + clean)  # grows with the signal
    s = noise_statistics(noise, clean, "horizontal")
    assert s.along1 > 0.5 and abs(s.across1) < 0.05
    assert s.along2 < s.along1
    assert s.slope > 3
    v = noise_statistics(noise.T, clean.T, "vertical")
    assert v.along1 == pytest.approx(s.along1) and v.across1 == pytest.approx(s.across1)


def test_the_tolerances_pass_a_new_draw_and_fail_what_the_reference_showed(tmp_path):
    rng = np.random.default_rng(0)
    clean = ndimage.gaussian_filter(rng.random((128, 128)), 4)
    clean = (clean - clean.min()) / (clean.max() - clean.min())
    real = _row_noise(clean.shape, rng)
    noisy = clean + real
    new_draw = clean + _row_noise(clean.shape, rng)
    r = noise_statistics(real, clean, "horizontal")
    f = noise_statistics(new_draw - clean, clean, "horizontal", real=real)
    assert sample_failures(r, f) == []
    # 5x the variance, with signal leaking in (correlated across the axis too)
    smooth = ndimage.gaussian_filter(rng.normal(0, 1, clean.shape), 1.5)
    leak = 1.5 * _row_noise(clean.shape, rng) + 0.08 * smooth / smooth.std()
    bad = noise_statistics(leak, clean, "horizontal", real=real)
    failures = sample_failures(r, bad)
    assert any("variance per signal third" in x for x in failures), failures
    assert any("across the axis" in x for x in failures), failures
    # a copy of the input's noise is no sample
    copy = noise_statistics(real, clean, "horizontal", real=real)
    assert any("a copy" in x for x in sample_failures(r, copy))
    # from the file a cell writes
    path = tmp_path / "s.npz"
    np.savez(path, noisy=noisy, sampled=new_draw, clean=clean, axis=np.array("horizontal"))
    row = sample_row(path, "d", "dvlae-small", 0)
    assert row.failures == []
    text = fig5_markdown([row])
    assert "**d** (noise axis: horizontal" in text and "| pass |" in text
    assert "1 of 1 samples within the tolerances" in text
