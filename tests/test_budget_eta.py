"""One budget per method whatever the invocation, the ETA from calibrated step rates, the
protocol a cell is fitted under, and the report sections that come from them."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from typer.testing import CliRunner

from structnoise.benchmark import load_config, run
from structnoise.benchmark.budgets import _round2, calibrated_steps, inherit_budgets
from structnoise.benchmark.cells import plan_cells
from structnoise.benchmark.eta import (
    CLASSICAL_S,
    EVALUATION_S,
    GUESS_S_PER_STEP,
    CellTimeEstimator,
)
from structnoise.benchmark.execute import fit_inputs
from structnoise.benchmark.step_rates import calibration, rates_from_measurement
from structnoise.cli import app
from structnoise.methods import BaseDenoiser, MethodInfo, registry


def _plan_budgets(args) -> dict[tuple[str, str], str]:
    """``{(label, dataset): the cost line}`` of ``structnoise run ... --plan``."""
    result = CliRunner().invoke(app, ["run", *args, "--plan"])
    assert result.exit_code == 0, result.output
    out, key = {}, None
    for line in result.output.splitlines():
        head = re.match(r"\[\d+/\d+\] (\S+) on (\S+), seed", line)
        if head:
            key = head.groups()
        elif key and line.strip().startswith("cost:"):
            out[key] = line.strip()
    return out, result.output


# ------------------------------------------------------------------ budgets
def test_methods_flag_keeps_the_profiles_step_budgets():
    """Before: care got 6000 steps (its own default) and dvlae-small a 20-min budget."""
    profile, _ = _plan_budgets(["--profile", "quick", "--datasets", "embedded-stripe"])
    flag, text = _plan_budgets(
        ["--profile", "quick", "--methods", "care,dvlae-small", "--datasets", "embedded-stripe"]
    )
    care, dvlae = flag[("care", "embedded-stripe")], flag[("dvlae-small", "embedded-stripe")]
    assert "budget: 1500 steps" in care and care == profile[("care", "embedded-stripe")]
    assert "budget: 1600 steps" in dvlae and "time budget" not in dvlae
    assert dvlae == profile[("dvlae-small", "embedded-stripe")]
    # the same cells: the same ids as the profile's run (a run resumes across both)
    ids = set(re.findall(r"id (\S+)\)", text))
    _, whole = _plan_budgets(["--profile", "quick", "--datasets", "embedded-stripe"])
    assert ids <= set(re.findall(r"id (\S+)\)", whole))
    assert "min of wall-clock budgets" not in text  # safety limits are no budgets


def test_a_grid_point_takes_its_grid_entrys_budget_and_the_user_can_ask_for_minutes():
    flag, _ = _plan_budgets(
        [
            "--profile",
            "quick",
            "--methods",
            "dvlae-small[rf=40]",
            "--datasets",
            "embedded-checkerboard",
        ]
    )
    assert "budget: 300 steps" in flag[("dvlae-small[rf=40]", "embedded-checkerboard")]
    entries = inherit_budgets(
        [{"name": "care", "max_steps": 1500}],
        [{"name": "care", "max_minutes": 3.0}, {"name": "care", "max_steps": 7}],
        "quick",
    )
    assert entries[0]["max_minutes"] == 3.0 and "max_steps" not in entries[0]
    assert entries[1]["max_steps"] == 7


def test_an_unlisted_calibrated_method_gets_its_minutes_in_steps():
    rate = calibration()["rates"]["care"]
    (entry,) = inherit_budgets([{"name": "n2v", "max_steps": 10}], ["care"], "quick")
    from structnoise.methods import method_info

    minutes = method_info("care").budgets["quick"]
    assert entry["max_steps"] == _round2(rate * minutes) == calibrated_steps("care", "quick")
    # no calibrated rate, or no minutes in the profile: the method's own defaults
    assert calibrated_steps("not-a-method", "quick") is None
    assert calibrated_steps("dvlae-small", "paper") is None
    assert calibrated_steps("gaussian", "quick") is None
    assert [_round2(x) for x in (2207.5, 2360.4, 1515.5, 496.4, 0.4)] == [2200, 2400, 1500, 500, 1]


def test_the_shipped_rates_are_the_calibration_files():
    """Package data written by calibrate_steps.py from results/calibration/steps.json."""
    from pathlib import Path

    folder = Path(__file__).parents[1] / "results" / "calibration"
    files = [folder / "steps.json", folder / "large" / "steps.json"]
    if not all(f.exists() for f in files):
        pytest.skip("no results/calibration in this checkout")
    expected = {}
    for f in files:
        expected.update(rates_from_measurement(json.loads(f.read_text()))["rates"])
    assert calibration()["rates"] == expected
    assert expected["dvlae-small"] == pytest.approx(198.4, abs=0.1)
    # every rate's measurement is named
    named = [m for src in calibration()["sources"] for m in src["methods"]]
    assert sorted(named) == sorted(expected)


# ------------------------------------------------------------------ ETA
def _fake_plan(method="m", steps=None, minutes=None, learns=True, marks=()):
    return SimpleNamespace(
        cell=SimpleNamespace(method=method),
        info=SimpleNamespace(learns=learns),
        max_steps=steps,
        max_minutes=minutes,
        marks=list(marks),
    )


def test_cell_estimates_come_from_the_calibrated_rate():
    est = CellTimeEstimator(rate={"fast": 600.0, "slow": 60.0}.get)
    assert est.planned_seconds(_fake_plan("fast", steps=1200)) == 120 + EVALUATION_S
    assert est.planned_seconds(_fake_plan("slow", steps=1200, marks=[300, 600])) == (
        1200 + 3 * EVALUATION_S
    )
    # uncalibrated: one second a step; a wall-clock budget: its minutes; classical: 5 s
    assert est.planned_seconds(_fake_plan("new", steps=100)) == (
        100 * GUESS_S_PER_STEP + EVALUATION_S
    )
    assert est.planned_seconds(_fake_plan("new", minutes=2.0)) == 120 + EVALUATION_S
    assert est.planned_seconds(_fake_plan("bm3d", learns=False)) == CLASSICAL_S


def test_the_eta_corrects_itself_as_cells_finish():
    est = CellTimeEstimator(rate={"m": 60.0}.get)
    plans = [_fake_plan("m", steps=290) for _ in range(10)]  # 300 s planned each
    planned = [est.planned_seconds(p) for p in plans]
    assert est.eta_seconds(sum(planned)) == pytest.approx(3000)  # nothing measured yet
    # this machine is twice as slow as the calibration's: each cell takes 600 s
    for done in range(1, 4):
        est.finished(planned[done - 1], 600.0)
        left = est.eta_seconds(sum(planned[done:]))
        truth = 600.0 * (10 - done)
        assert abs(left - truth) / truth < 0.1  # within 10 % after the first cell
    assert est.speed == pytest.approx((1800 + 60) / (900 + 60))


def test_the_quick_profiles_estimate_is_its_planned_hour():
    """quick.yaml's comment plans about 50 minutes on an idle 2-core machine."""
    plans = plan_cells(load_config("quick"))
    minutes = sum(CellTimeEstimator().planned_seconds(p) for p in plans) / 60
    assert 40 < minutes < 65, minutes


# ------------------------------------------------------------------ protocol
def test_fit_inputs_under_each_protocol():
    data = SimpleNamespace(
        train_noisy=np.zeros((3, 4, 4)),
        test_noisy=np.ones((2, 4, 4)),
        train_clean=np.zeros((3, 4, 4)),
        all_noisy=np.zeros((5, 4, 4)),
    )
    unsup = SimpleNamespace(clean_use="none", needs_clean=False, extra_noisy=False)
    hdn = SimpleNamespace(clean_use="calibration", needs_clean=True, extra_noisy=True)
    args, kwargs, call = fit_inputs(unsup, data)
    assert len(args[0]) == 5 and call == "fit(train_noisy + test_noisy)"
    args, kwargs, call = fit_inputs(unsup, data, "held-out")
    assert len(args[0]) == 3 and kwargs == {} and call == "fit(train_noisy)"
    args, kwargs, _ = fit_inputs(hdn, data)
    assert "extra_noisy" in kwargs
    args, kwargs, call = fit_inputs(hdn, data, "held-out")
    assert kwargs == {} and call == "fit(train_noisy, train_clean)"


#: How many images each CountingBlur fit got.
FITTED: list[int] = []


class CountingBlur(BaseDenoiser):
    """A learnt unsupervised fake: remembers how many images it was fitted on."""

    info = MethodInfo(description="fake learnt", snapshots=True, budgets={"smoke": 1.0})
    param_names = ("max_steps",)

    def _fit(self, x, clean, val):
        budget = int(self.params.get("max_steps") or 8)
        hook = getattr(self, "snapshot_hook", None)
        marks, fn = (hook[0], hook[1]) if hook else ([], None)
        FITTED.append(len(x))
        for steps in range(1, budget + 1):
            self.sigma = 1.5 * min(steps, budget // 2) / budget  # flat after half the budget
            if fn is not None and steps in marks:
                fitted, self.fitted = self.fitted, True
                fn(self, {"steps": steps, "minutes": 0.0, "mark": steps})
                self.fitted = fitted
        self.train_summary = {"steps": budget, "minutes": 0.01, "stopped_by": "max_steps"}

    def _denoise(self, x, **options):
        return ndimage.gaussian_filter(x, (0, self.sigma, self.sigma))


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


def test_both_protocols_run_and_the_report_says_so(tiny, tmp_path):
    with registry.temporary():
        registry.register("counting-blur", info=CountingBlur.info)(CountingBlur)
        base = {
            "schema_version": 1,
            "name": "t",
            "profile": "smoke",
            "methods": ["noisy", {"name": "counting-blur", "max_steps": 16}],
            "datasets": [tiny],
            "seeds": [0, 1],
            "curve_marks": 2,
        }
        FITTED.clear()
        paper = run(load_config({**base, "out": str(tmp_path / "paper")}), progress=False)
        assert FITTED == [7, 7]  # 4 training + 3 test images, each seed
        held = run(
            load_config({**base, "out": str(tmp_path / "held"), "protocol": "held-out"}),
            progress=False,
        )
        assert FITTED[2:] == [4, 4]  # the training split only
        from structnoise.benchmark.report import report

        report(tmp_path / "paper", echo=None, with_runs=[tmp_path / "held"])
    for result, protocol, call in (
        (paper, "paper", "fit(train_noisy + test_noisy)"),
        (held, "held-out", "fit(train_noisy)"),
    ):
        t = result.table
        assert set(t["protocol"]) == {protocol}
        folder = tmp_path / ("paper" if protocol == "paper" else "held")
        (rec,) = [
            json.loads(p.read_text()) for p in (folder / "cells").glob("counting-blur*__s0__*.json")
        ]
        assert rec["protocol"] == protocol and rec["fit_call"] == call
        assert rec["method_params"]["max_steps"] == 16
    assert set(held.table["label"]) == {"noisy@held-out", "counting-blur@held-out"}
    md = (tmp_path / "paper" / "report.md").read_text()
    assert "## Protocol" in md
    assert "- **paper** (" in md and "- **held-out** (" in md
    # the fake flattens after half its budget: trained to plateau, in both protocols
    assert "| counting-blur | tiny | trained to plateau | +0.00 | 8 | 16 | 2 |" in md
    assert "| counting-blur@held-out | tiny | trained to plateau |" in md
    html = (tmp_path / "paper" / "report.html").read_text()
    assert 'id="sec-plateau"' in html and 'id="sec-protocol"' in html
