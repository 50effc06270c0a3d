"""Step budgets, quality-vs-compute marks, seed-aware claims and the SSIM/MicroSSIM metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage

from structnoise.benchmark import load_config, run
from structnoise.benchmark.cells import curve_marks, plan_cells
from structnoise.benchmark.claims import claims_markdown, distinguishable, ranking_chain
from structnoise.benchmark.errors import ConfigError
from structnoise.methods import BaseDenoiser, MethodInfo, registry
from structnoise.metrics import METRIC_CONVENTION, microssim_stack, score_stack, ssim_stack


class StepBlur(BaseDenoiser):
    """A learnt fake: each step widens its blur a little; honours ``snapshot_hook``."""

    info = MethodInfo(description="fake learnt", snapshots=True, budgets={"smoke": 1.0})
    param_names = ("max_steps", "stop_at")

    def _fit(self, x, clean, val):
        budget = int(self.params.get("max_steps") or 10)
        stop_at = self.params.get("stop_at")  # stop early, as early stopping would
        hook = getattr(self, "snapshot_hook", None)
        marks, fn = (hook[0], hook[1]) if hook else ([], None)
        self.sigma = 0.0
        steps = 0
        for steps in range(1, budget + 1):
            self.sigma = 1.5 * steps / budget
            if fn is not None and steps in marks:
                fitted, self.fitted = self.fitted, True
                fn(self, {"steps": steps, "minutes": 0.0, "mark": steps})
                self.fitted = fitted
            if stop_at is not None and steps >= stop_at:
                break
        stopped = "max_steps" if steps >= budget else "early_stopping"
        self.train_summary = {"steps": steps, "minutes": 0.01, "stopped_by": stopped}

    def _denoise(self, x, **options):
        if self.sigma <= 0:
            return x
        return ndimage.gaussian_filter(x, (0, self.sigma, self.sigma))


class NoMarks(StepBlur):
    """The same fake, declaring no snapshot support."""

    info = MethodInfo(description="fake learnt, no marks", budgets={"smoke": 1.0})


@pytest.fixture
def step_blur():
    with registry.temporary():
        registry.register("step-blur", info=StepBlur.info)(StepBlur)
        registry.register("no-marks", info=NoMarks.info)(NoMarks)
        yield


@pytest.fixture
def tiny(tmp_path):
    rng = np.random.default_rng(3)
    clean = ndimage.gaussian_filter(rng.random((7, 32, 32)), (0, 3, 3))
    clean = (clean - clean.min()) / (clean.max() - clean.min())
    noisy = clean + rng.normal(0, 0.1, clean.shape)
    paths = {}
    for key, arr in (
        ("train_noisy", noisy[:4]),
        ("test_noisy", noisy[4:]),
        ("test_clean", clean[4:]),
    ):
        paths[key] = str(tmp_path / f"{key}.tif")
        tifffile.imwrite(paths[key], arr.astype(np.float32))
    return {"name": "tiny", "axis": "horizontal", **paths}


def _cfg(tiny, out, methods, **extra):
    data = {
        "schema_version": 1,
        "name": "t",
        "profile": "smoke",
        "methods": methods,
        "datasets": [tiny],
        "seeds": [0, 1],
        "out": str(out),
    }
    data.update(extra)
    return load_config(data)


def test_curve_marks_halve_the_budget():
    assert curve_marks(64, 3, None) == [8, 16, 32]
    assert curve_marks(64, 0, None) == []
    assert curve_marks(None, 3, None) == []
    assert curve_marks(10, 0, [5, 10, 3, 5]) == [3, 5]  # the end is evaluated anyway


def test_step_budget_marks_and_table_rows(step_blur, tiny, tmp_path):
    cfg = _cfg(
        tiny,
        tmp_path / "run",
        [
            "noisy",
            {"name": "step-blur", "max_steps": 8},
            {"name": "step-blur", "max_steps": 8, "params": {"stop_at": 5}},
        ],
        curve_marks=2,
    )
    result = run(cfg, progress=False)
    t = result.table
    blur = t[(t["label"] == "step-blur") & (t["metric"] == "psnr")]
    # two marks (2, 4) during training and the final evaluation, for each of two seeds
    assert sorted(blur["mark_step"].tolist()) == [2, 2, 4, 4, 8, 8]
    assert blur.groupby("mark_step")["final"].all().to_dict() == {2: False, 4: False, 8: True}
    # the blur widens with the steps: PSNR at the end above PSNR at step 2
    by_step = blur.groupby("mark_step")["value"].mean()
    assert by_step[8] > by_step[2]
    assert (blur["max_steps"] == 8).all() and (~blur["short"].astype(bool)).all()
    # a cell that stopped before its budget is flagged and reported
    early = t[(t["label"] == "step-blur[stop_at=5]") & t["final"] & (t["metric"] == "psnr")]
    assert early["short"].astype(bool).all() and (early["steps"] == 5).all()
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Stopped short of their step budget" in report
    assert "step-blur[stop_at=5] on tiny, seed 0: 5 of 8 steps" in report
    # the record says what the budget was and how the training went
    rec = json.loads(
        next((tmp_path / "run" / "cells").glob("step-blur__tiny__s0__*.json")).read_text()
    )
    assert rec["max_steps"] == 8 and rec["method_kwargs"]["max_steps"] == 8
    assert [m["mark_step"] for m in rec["marks"]] == [2, 4]
    assert rec["train_cpu_s"] >= 0 and rec["train_wall_s"] >= 0
    assert rec["threads"] is None or rec["threads"] >= 1
    assert rec["metric_convention"] == METRIC_CONVENTION
    assert len(rec["dataset_fingerprint"]) == 16
    assert set(rec["per_image"]) == {"psnr", "ssim", "microssim"}
    assert (tmp_path / "run" / "fig_curves_tiny.png").is_file()
    assert (tmp_path / "run" / "fig_curves_tiny.svg").is_file()
    # Table 1 holds every metric, in Markdown and LaTeX
    md = (tmp_path / "run" / "table1.md").read_text()
    tex = (tmp_path / "run" / "table1.tex").read_text()
    assert "**SSIM**" in md and "**MicroSSIM**" in md
    assert tex.count(r"\begin{tabular}") == 3 and "MicroSSIM" in tex
    # Table 1 uses the final evaluation only
    t1 = pd.read_csv(tmp_path / "run" / "table1.csv")
    row = t1[(t1["label"] == "step-blur") & (t1["metric"] == "psnr")].iloc[0]
    assert np.isclose(row["mean"], by_step[8])


def test_step_budget_is_refused_for_methods_that_do_not_train(tiny, tmp_path):
    with pytest.raises(ConfigError, match="does not train"):
        plan_cells(_cfg(tiny, tmp_path / "r", [{"name": "gaussian", "max_steps": 10}]))


def test_marks_need_a_step_budget_and_a_method_that_can_stop_for_them(step_blur, tiny, tmp_path):
    with pytest.raises(ValueError, match="marks need a step budget"):
        _cfg(tiny, tmp_path / "r", [{"name": "step-blur", "marks": [2]}])
    with pytest.raises(ValueError, match=r"outside 1\.\.max_steps"):
        _cfg(tiny, tmp_path / "r", [{"name": "step-blur", "max_steps": 4, "marks": [9]}])
    with pytest.raises(ConfigError, match="cannot be evaluated during training"):
        plan_cells(_cfg(tiny, tmp_path / "r", [{"name": "no-marks", "max_steps": 4, "marks": [2]}]))
    # from the run's curve_marks, such a method is simply evaluated at the end
    plans = plan_cells(
        _cfg(tiny, tmp_path / "r", [{"name": "no-marks", "max_steps": 4}], curve_marks=2)
    )
    assert [(p.marks, p.max_steps) for p in plans] == [([], 4), ([], 4)]  # two seeds


def test_step_budget_changes_the_cell_id_but_plain_cells_keep_theirs(tiny, tmp_path):
    plain = plan_cells(_cfg(tiny, tmp_path / "r", ["gaussian"]))[0].cell_id
    again = plan_cells(_cfg(tiny, tmp_path / "r", ["gaussian"], curve_marks=3))[0].cell_id
    assert plain == again  # curve marks do not touch methods without a step budget


def _summary(rows):
    return pd.DataFrame(rows, columns=["dataset", "label", "mean", "std", "n", "status"])


def test_claims_rank_only_beyond_the_seed_spread():
    s = _summary(
        [
            ["d", "a", 30.0, 0.1, 3, "ok"],
            ["d", "b", 29.0, 0.2, 3, "ok"],  # 1.0 apart > 0.3: distinguishable
            ["d", "c", 28.9, 0.3, 3, "ok"],  # 0.1 apart < 0.5: not distinguishable
        ]
    )
    assert distinguishable(s.iloc[0], s.iloc[1]) is True
    assert distinguishable(s.iloc[1], s.iloc[2]) is False
    chain, claims = ranking_chain(s)
    assert claims and chain == "a (30.00) > b (29.00) ≈ c (28.90)"
    one_seed = _summary([["d", "a", 30.0, np.nan, 1, "ok"], ["d", "b", 20.0, np.nan, 1, "ok"]])
    assert distinguishable(one_seed.iloc[0], one_seed.iloc[1]) is None
    text = claims_markdown({"psnr": one_seed}, ["d"])
    assert "no ranking claimed" in text and ">" not in text.split("\n\n", 1)[1]


def test_ssim_and_microssim_rank_a_better_estimate_higher():
    rng = np.random.default_rng(0)
    clean = ndimage.gaussian_filter(rng.random((3, 48, 48)), (0, 2, 2))
    slightly = clean + rng.normal(0, 0.01, clean.shape)
    badly = clean + rng.normal(0, 0.1, clean.shape)
    assert np.allclose(ssim_stack(clean, clean), 1.0)
    assert (ssim_stack(clean, slightly) > ssim_stack(clean, badly)).all()
    assert (microssim_stack(clean, slightly) > microssim_stack(clean, badly)).all()
    scores = score_stack(clean, slightly)
    assert set(scores) == {"psnr", "ssim", "microssim"}
    assert all(v.shape == (3,) for v in scores.values())
    with pytest.raises(ValueError, match="constant"):
        ssim_stack(np.ones((8, 8)), np.ones((8, 8)))
