"""Benchmark runner: config, grids and seeds, resume, failures, slurm path, end to end."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml

from structnoise.benchmark.cells import expand_cells, plan_cells
from structnoise.benchmark.config import load_config, shipped_configs
from structnoise.benchmark.errors import ConfigError
from structnoise.benchmark.memory import PeakMemory
from structnoise.benchmark.methodspec import parse_method_string
from structnoise.benchmark.results import COLUMNS, read_table
from structnoise.benchmark.runner import run
from structnoise.benchmark.schema import RunConfig
from structnoise.benchmark.validation import validate_names
from structnoise.utils import derive_seed

# Fake methods, written to a plugin file so that subprocesses (resume test, submitit
# jobs) can import them too. Each fit appends "<method> <seed>" to $FAKE_LOG.
FAKES = textwrap.dedent(
    '''
    import os
    import signal
    from pathlib import Path

    import numpy as np
    from scipy import ndimage

    from structnoise.methods import BaseDenoiser, MethodInfo, register

    BUDGETS = {"smoke": 0.01, "quick": 0.02, "paper": 0.05}


    def _log(name, seed):
        path = os.environ.get("FAKE_LOG")
        if path:
            with open(path, "a") as fh:
                fh.write(f"{name} {seed}\\n")


    class FakeBlur(BaseDenoiser):
        info = MethodInfo(description="fake blur", learns=False)

        def _fit(self, x, clean, val):
            _log("fake-blur", self.seed)

        def _denoise(self, x, **options):
            return ndimage.gaussian_filter(x, (0, 1.0, 1.0))


    class FakeAR(BaseDenoiser):
        """Blur whose width depends on rf; samples; can draw a new noisy image."""

        info = MethodInfo(description="fake dvlae", denoise_options=("n_samples",),
                          uses_axis=True, budgets=BUDGETS)

        def __init__(self, *, rf=4, axis="horizontal", **kw):
            super().__init__(rf=rf, axis=axis, **kw)
            self.rf, self.axis = rf, axis
            self.level = None

        def _fit(self, x, clean, val):
            _log("fake-ar", self.seed)
            self.level = float(x.mean())
            self.n_fit = len(x)
            # an earlier version's spelling of the stop reason; the record normalises it
            self.train_summary = {"steps": 7, "minutes": 0.5, "stopped_by": "time budget"}

        def _denoise(self, x, n_samples=1, **options):
            assert self.axis in ("horizontal", "vertical")
            rng = np.random.default_rng(self.seed)
            sigma = 0.5 + 4.0 / self.rf
            out = ndimage.gaussian_filter(x, (0, sigma, sigma))
            jitter = rng.normal(0, 1e-4, size=(n_samples,) + x.shape).mean(0)
            return out + jitter

        def sample_noisy(self, noisy, seed=0):
            smooth = ndimage.gaussian_filter(np.asarray(noisy, float), 1.0)
            return smooth + np.roll(np.asarray(noisy, float) - smooth, 3, axis=-1)

        def _save_state(self, path):
            np.save(Path(path) / "level.npy", np.array(self.level))

        def _load_state(self, path, extra):
            self.level = float(np.load(Path(path) / "level.npy"))


    class FakeCare(BaseDenoiser):
        info = MethodInfo(description="fake supervised", clean_use="target", budgets=BUDGETS)

        def _fit(self, x, clean, val):
            _log("fake-care", self.seed)
            a, b = np.polyfit(ndimage.gaussian_filter(x, (0, 1, 1)).ravel(), clean.ravel(), 1)
            self.ab = (a, b)
            self.n_fit = len(x)

        def _denoise(self, x, **options):
            a, b = self.ab
            return a * ndimage.gaussian_filter(x, (0, 1, 1)) + b


    class FakeHDN(FakeCare):
        """Clean images only for a noise model; learns from extra noisy images too."""

        info = MethodInfo(description="fake hdn", budgets=BUDGETS,
                          clean_use="calibration", extra_noisy=True)

        def fit(self, noisy, clean=None, *, val=None, extra_noisy=None):
            self.n_extra = None if extra_noisy is None else len(extra_noisy)
            return super().fit(noisy, clean, val=val)


    class FakeFail(BaseDenoiser):
        info = MethodInfo(description="always fails", budgets=BUDGETS)

        def _fit(self, x, clean, val):
            raise RuntimeError("deliberate failure for the test")


    class FakeKill(BaseDenoiser):
        """Kills its own process the first time it is fitted (marker file)."""

        info = MethodInfo(description="dies once", learns=False)

        def _fit(self, x, clean, val):
            marker = os.environ.get("FAKE_KILL_MARKER")
            if marker and not os.path.exists(marker):
                Path(marker).write_text("killed")
                os.kill(os.getpid(), signal.SIGKILL)
            _log("fake-kill", self.seed)

        def _denoise(self, x, **options):
            return x


    for name, cls in (("fake-blur", FakeBlur), ("fake-ar", FakeAR), ("fake-care", FakeCare),
                      ("fake-hdn", FakeHDN), ("fake-fail", FakeFail),
                      ("fake-kill", FakeKill)):
        register(name, info=cls.info)(cls)
    '''
)


def plugin_file(tmp_path_factory) -> str:
    """One plugin file per test session (a second file would register the names again)."""
    path = tmp_path_factory.getbasetemp() / "structnoise-fakes" / "fakes.py"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(FAKES)
    return str(path)


@pytest.fixture(scope="session")
def plugin(tmp_path_factory):
    return plugin_file(tmp_path_factory)


def _make_dataset(folder, *, seed=0, n_train=6, n_test=3, size=32, with_train_clean=True):
    """Smooth clean images plus row-correlated noise, written as TIFF files."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    clean = ndimage.gaussian_filter(rng.random((n_train + n_test, size, size)), (0, 3, 3))
    clean = (clean - clean.min()) / (clean.max() - clean.min())
    white = rng.normal(0, 0.08, clean.shape)
    noisy = clean + ndimage.uniform_filter1d(white, 3, axis=-1)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, arr in (
        ("train_noisy", noisy[:n_train]),
        ("test_noisy", noisy[n_train:]),
        ("test_clean", clean[n_train:]),
        ("train_clean", clean[:n_train]),
    ):
        if key == "train_clean" and not with_train_clean:
            continue
        paths[key] = str(folder / f"{key}.tif")
        tifffile.imwrite(paths[key], arr.astype(np.float32))
    return paths


@pytest.fixture
def datasets(tmp_path):
    a = _make_dataset(tmp_path / "a", seed=1)
    b = _make_dataset(tmp_path / "b", seed=2, with_train_clean=False)
    return [
        {"name": "tiny-a", "axis": "horizontal", **a},
        {"name": "tiny-b", "axis": "vertical", **b},
    ]


def _psnr(table):
    """The PSNR rows of a results table: one per cell (the table has one per metric)."""
    return table[table["metric"] == "psnr"]


def _config(plugin, datasets, out, **extra):
    data = {
        "schema_version": 1,
        "name": "test",
        "profile": "smoke",
        "methods": [
            "fake-blur",
            "fake-ar[rf=2,8]",
            {"name": "fake-ar", "params": {"rf": 4}, "save_model": True, "sample_noise": True},
            "fake-care",
            "fake-fail",
        ],
        "datasets": datasets,
        "seeds": [0, 1],
        "plugins": [plugin],
        "out": str(out),
    }
    data.update(extra)
    return data


# --------------------------------------------------------------------------- config
def test_parse_method_string():
    assert parse_method_string("gaussian") == {"name": "gaussian", "params": {}}
    assert parse_method_string("dvlae-small[rf=10,20,40,80,120]") == {
        "name": "dvlae-small",
        "params": {"rf": [10, 20, 40, 80, 120]},
    }
    parsed = parse_method_string("m[a=1,2,b=x,c=[3,4],d=true]")
    assert parsed["params"] == {"a": [1, 2], "b": "x", "c": [3, 4], "d": True}
    for bad in ("m[1,2]", "m[a=1", "m[a=]", "[a=1]", "m[a=1,a=2]"):
        with pytest.raises(ConfigError):
            parse_method_string(bad)


def test_grid_expansion_and_cell_seeds():
    cfg = RunConfig(
        methods=["dvlae-small[rf=10,20,40,80,120]", "m[a=1,2,b=3,4]", "gaussian"],
        datasets=["d1", "d2"],
        seeds=3,
        base_seed=7,
    )
    cells = expand_cells(cfg)
    assert len(cells) == (5 + 4 + 1) * 2 * 3
    assert {c.params["rf"] for c in cells if c.method == "dvlae-small"} == {10, 20, 40, 80, 120}
    assert {(c.params["a"], c.params["b"]) for c in cells if c.method == "m"} == {
        (1, 3),
        (1, 4),
        (2, 3),
        (2, 4),
    }
    # dataset-major order, so one dataset is loaded at a time
    assert [c.dataset for c in cells] == ["d1"] * 30 + ["d2"] * 30
    for c in cells:
        expected = derive_seed(
            7,
            c.method,
            json.dumps(c.params, sort_keys=True, separators=(",", ":")),
            c.dataset,
            c.seed,
        )
        assert c.cell_seed == expected
    assert len({c.cell_seed for c in cells}) == len(cells)
    # same identity -> same seed; another base seed -> other seeds
    assert [c.cell_seed for c in expand_cells(cfg)] == [c.cell_seed for c in cells]
    other = expand_cells(cfg.with_overrides(base_seed=8))
    assert all(a.cell_seed != b.cell_seed for a, b in zip(cells, other, strict=True))
    assert cells[0].label == "dvlae-small[rf=10]"


def test_method_restricted_to_some_datasets():
    cfg = RunConfig(methods=["a", {"name": "b[rf=1,2]", "datasets": ["d2"]}], datasets=["d1", "d2"])
    cells = [(c.method, c.dataset) for c in expand_cells(cfg)]
    assert cells == [("a", "d1"), ("a", "d2"), ("b", "d2"), ("b", "d2")]


def test_duplicate_cells_rejected():
    cfg = RunConfig(methods=["m[a=1,2]", "m[a=2]"], datasets=["d"])
    with pytest.raises(ConfigError, match="appears twice"):
        expand_cells(cfg)


def test_config_round_trip(tmp_path, plugin, datasets):
    cfg = load_config(_config(plugin, datasets, tmp_path / "run"))
    again = load_config(cfg.to_yaml())
    assert again == cfg
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    assert load_config(path) == cfg
    assert cfg.methods[1].params == {"rf": [2, 8]}


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="schema_version 2"):
        load_config({"schema_version": 2, "methods": ["a"], "datasets": ["b"]})
    with pytest.raises(ConfigError, match="profile"):
        load_config({"profile": "huge", "methods": ["a"], "datasets": ["b"]})
    with pytest.raises(ConfigError, match="shipped"):
        load_config("no-such-config")
    with pytest.raises(ConfigError, match="colour"):
        load_config({"methods": ["a"], "datasets": ["b"], "colour": "red"})
    with pytest.raises(ConfigError, match="seeds"):
        load_config({"methods": ["a"], "datasets": ["b"], "seeds": [1, 1]})


def test_overrides_use_the_same_keys():
    cfg = load_config("quick", profile="smoke", methods=["gaussian"], seeds=[3, 4], out="x")
    assert cfg.profile == "smoke" and [m.name for m in cfg.methods] == ["gaussian"]
    assert cfg.seeds == [3, 4] and str(cfg.out_dir) == "x"
    base = load_config("quick")
    assert base.profile == "quick" and len(base.methods) > 1


def test_shipped_configs_parse():
    names = set(shipped_configs())
    assert {"smoke", "quick", "table1", "fig4-rf", "fig5-noise"} <= names
    for name in names:
        cfg = load_config(name)
        assert cfg.schema_version == 1 and expand_cells(cfg)
    assert load_config("table1").profile == "paper"
    fig4 = load_config("fig4-rf")
    assert sorted({c.params["rf"] for c in expand_cells(fig4)}) == [10, 20, 40, 80, 120]


def test_unknown_names_list_what_exists(plugin):
    from structnoise.benchmark.validation import import_plugins

    import_plugins([plugin])
    cfg = load_config({"methods": ["fake-blur", "nope"], "datasets": ["embedded-stripe"]})
    with pytest.raises(ConfigError, match=r"unknown method\(s\) 'nope'.*fake-blur"):
        validate_names(cfg)
    cfg = load_config({"methods": ["fake-blur"], "datasets": ["nowhere"]})
    with pytest.raises(ConfigError, match=r"unknown dataset\(s\) 'nowhere'; available"):
        validate_names(cfg)


def test_peak_memory_sees_an_allocation():
    with PeakMemory() as small:
        np.ones(10)
    with PeakMemory() as big:
        a = np.ones(200 * 1024 * 1024 // 8)
        a[::4096] = 2
        del a
    assert big.rss_mb - small.rss_mb > 150
    assert small.how in ("vmhwm", "sampled")


# --------------------------------------------------------------------------- runner
def test_run_end_to_end(tmp_path, plugin, datasets, monkeypatch):
    log = tmp_path / "fits.log"
    monkeypatch.setenv("FAKE_LOG", str(log))
    cfg = load_config(_config(plugin, datasets, tmp_path / "run"))
    result = run(cfg, progress=False)
    full = result.table
    assert list(full.columns) == COLUMNS
    n_cells = 6 * 2 * 2  # (blur, ar rf=2, ar rf=8, ar rf=4, care, fail) x datasets x seeds
    # one row per cell and metric (no curve marks without step budgets)
    assert len(full) == 3 * n_cells and full["final"].all()
    assert sorted(set(full["metric"])) == ["microssim", "psnr", "ssim"]
    table = full[full["metric"] == "psnr"]
    assert len(table) == n_cells and table["cell_id"].is_unique
    status = table.set_index(["label", "dataset", "seed"])["status"]
    assert (status.xs("fake-fail", level=0) == "failed").all()
    assert status[("fake-care", "tiny-a", 0)] == "ok"
    assert status[("fake-care", "tiny-b", 0)] == "skipped"
    fail = table[table["method"] == "fake-fail"].iloc[0]
    assert "deliberate failure" in fail["reason"] and np.isnan(fail["value"])
    skip = table[(table["method"] == "fake-care") & (table["dataset"] == "tiny-b")].iloc[0]
    assert "no clean training targets" in skip["reason"]
    ok = table[table["status"] == "ok"]
    assert ok["value"].notna().all() and (ok["fit_s"] >= 0).all()
    # the training summary columns: filled for the learnt fake, empty for the others
    ar_rows = ok[ok["method"] == "fake-ar"]
    assert (ar_rows["steps"] == 7).all() and (ar_rows["stopped_by"] == "time_budget").all()
    assert ok.loc[ok["method"] == "fake-blur", "steps"].isna().all()
    assert (ok["peak_rss_mb"] > 10).all() and (ok["device"] == "cpu").all()
    assert result.counts == {"ok": 18, "failed": 4, "skipped": 2, "reused": 0}
    # PSNR is the paper's: per image, then averaged
    from structnoise.metrics import psnr_stack

    rec = json.loads((tmp_path / "run" / "cells" / f"{ok.iloc[0]['cell_id']}.json").read_text())
    den = tifffile.imread(tmp_path / "run" / rec["denoised_path"])
    clean = tifffile.imread(datasets[0]["test_clean"])
    assert np.isclose(rec["metrics"]["psnr"], psnr_stack(clean, den).mean())
    assert len(rec["per_image"]["psnr"]) == 3
    # learnt blur beats the noisy input
    noisy = tifffile.imread(datasets[0]["test_noisy"])
    blur = table[(table["label"] == "fake-blur") & (table["dataset"] == "tiny-a")]
    assert (blur["value"] > psnr_stack(clean, noisy).mean()).all()
    # unsupervised fit on train + test, supervised on train only; the axis is passed
    assert rec["method"] == "fake-blur"
    ar = json.loads(
        next((tmp_path / "run" / "cells").glob("fake-ar-rf-2__tiny-b__s0__*.json")).read_text()
    )
    assert ar["method_kwargs"] == {"rf": 2, "axis": "vertical"}
    assert ar["denoise_options"] == {"n_samples": 2}  # the smoke profile's default
    # parquet and CSV agree; provenance is there
    csv = pd.read_csv(tmp_path / "run" / "results.csv")
    assert len(csv) == len(full)
    assert read_table(tmp_path / "run")["cell_id"].tolist() == full["cell_id"].tolist()
    prov = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert prov["packages"]["numpy"] and "config" in prov and prov["machine"]["cpu_count"]
    assert "commit" in prov["git"]
    # saved model and noise sample of the rf=4 cells
    saved = [r for r in table.itertuples() if r.label == "fake-ar[rf=4]"]
    assert saved
    recs = [
        json.loads((tmp_path / "run" / "cells" / f"{r.cell_id}.json").read_text()) for r in saved
    ]
    assert all((tmp_path / "run" / r["model_path"] / "method.json").exists() for r in recs)
    assert all((tmp_path / "run" / r["noise_sample_path"]).exists() for r in recs)
    # every report of the smoke profile: table, Table 1 and every figure (PNG and SVG)
    run_dir = tmp_path / "run"
    for name in ("table1.md", "table1.tex", "report.md", "fig4_rf.png", "fig4_rf.svg"):
        assert (run_dir / name).is_file(), name
    for dataset in ("tiny-a", "tiny-b"):
        assert (run_dir / f"fig3_{dataset}.png").is_file()
        assert (run_dir / f"fig3_{dataset}.svg").is_file()
        assert len(list(run_dir.glob(f"fig5_{dataset}_fake-ar-rf-4_s*.png"))) == 2
    assert "| tiny-a |" in (run_dir / "table1.md").read_text()
    # no step budgets in this config, hence no curves (tests/test_budgets.py draws them)
    assert [m for m in result.reports["skipped"] if "curves" not in m] == []
    # each cell was fitted exactly once (fake-fail does not log)
    fits = log.read_text().splitlines()
    assert len(fits) == len(set(fits)) == 18  # every cell that fits was fitted once


def test_fit_inputs_per_method_type(tmp_path, plugin, datasets):
    from structnoise.benchmark.execute import execute_cell
    from structnoise.benchmark.loading import load_dataset
    from structnoise.benchmark.validation import import_plugins
    from structnoise.methods import registry

    import_plugins([plugin])
    cfg = load_config(
        _config(
            plugin,
            datasets,
            tmp_path / "run",
            methods=["fake-care", "fake-hdn", "fake-ar"],
            seeds=[0],
            max_test_images=2,
        )
    )
    plans = {p.cell.method: p for p in plan_cells(cfg) if p.cell.dataset == "tiny-a"}
    ds = load_dataset(cfg, "tiny-a")
    created = {}

    def spy(entry):
        def factory(**kw):
            created[entry.name] = entry.factory(**kw)
            return created[entry.name]

        return factory

    with registry.temporary():
        for name in plans:
            entry = registry.get_entry(name)
            registry.register(name, info=entry.info, replace=True)(spy(entry))
        recs = {name: execute_cell(plan, ds, tmp_path / "run") for name, plan in plans.items()}
    assert all(r["status"] == "ok" for r in recs.values()), recs
    # supervised: training split only
    assert created["fake-care"].n_fit == 6
    assert recs["fake-care"]["fit_call"] == "fit(train_noisy, train_clean)"
    # clean data only for a noise model (clean_use "calibration", extra_noisy declared):
    # training pairs plus the noisy test images
    assert created["fake-hdn"].n_fit == 6 and created["fake-hdn"].n_extra == 2
    assert recs["fake-hdn"]["fit_call"] == "fit(train_noisy, train_clean, extra_noisy=test_noisy)"
    # unsupervised: every noisy image (train + the 2 kept test images)
    assert created["fake-ar"].n_fit == 8
    assert created["fake-ar"].axis == "horizontal"
    assert recs["fake-ar"]["n_images"] == 2
    # the training summary, read from the method's train_summary
    assert recs["fake-ar"]["steps"] == 7 and recs["fake-ar"]["train_minutes"] == 0.5
    assert recs["fake-ar"]["stopped_by"] == "time_budget"
    assert recs["fake-care"]["steps"] is None and recs["fake-care"]["stopped_by"] is None


def test_fit_inputs_follow_the_declaration_only():
    from types import SimpleNamespace

    from structnoise.benchmark.execute import fit_inputs
    from structnoise.methods import MethodInfo

    ds = SimpleNamespace(
        all_noisy="all", train_noisy="tn", train_clean="tc", test_noisy="te", axis=None
    )
    calls = [
        (MethodInfo(), ("all",)),
        (MethodInfo(clean_use="target"), ("tn", "tc")),
        (MethodInfo(clean_use="calibration"), ("tn", "tc")),
    ]
    for info, args in calls:
        assert fit_inputs(info, ds)[:2] == (args, {})
    info = MethodInfo(clean_use="calibration", extra_noisy=True)
    assert info.needs_clean and not info.samples
    assert fit_inputs(info, ds)[:2] == (("tn", "tc"), {"extra_noisy": "te"})
    # a dataset without clean training images: every noisy image
    info = MethodInfo(clean_use="calibration", extra_noisy=True)
    assert fit_inputs(info, SimpleNamespace(**{**vars(ds), "train_clean": None}))[0] == ("all",)


def test_missing_dataset_is_skipped_and_run_finishes(tmp_path, plugin, datasets):
    broken = dict(datasets[0], name="tiny-missing", test_noisy=str(tmp_path / "gone.tif"))
    cfg = load_config(
        _config(
            plugin,
            [broken, datasets[0]],
            tmp_path / "run",
            methods=["fake-blur"],
            seeds=[0],
            report=False,
        )
    )
    result = run(cfg, progress=False)
    t = _psnr(result.table).set_index("dataset")
    assert t.loc["tiny-missing", "status"] == "skipped"
    assert "unavailable" in t.loc["tiny-missing", "reason"]
    assert t.loc["tiny-a", "status"] == "ok"


def test_resume_after_kill(tmp_path, plugin, datasets, monkeypatch):
    log, marker = tmp_path / "fits.log", tmp_path / "killed"
    data = _config(
        plugin,
        datasets[:1],
        tmp_path / "run",
        methods=["fake-blur", "fake-kill", "fake-ar"],
        seeds=[0, 1],
        report=False,
    )
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    env = dict(os.environ, FAKE_LOG=str(log), FAKE_KILL_MARKER=str(marker))
    code = (
        "import sys; from structnoise.benchmark.runner import run; "
        f"run({str(path)!r}, progress=False)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == -9, proc.stderr  # SIGKILL in the middle of the run
    before = log.read_text().splitlines()
    # cells run dataset-major, method by method: both fake-blur cells, then the kill
    assert [line.split()[0] for line in before] == ["fake-blur", "fake-blur"]
    recorded = list((tmp_path / "run" / "cells").glob("*.json"))
    assert len(recorded) == 2
    run_id = json.loads((tmp_path / "run" / "run.json").read_text())["run_id"]

    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_KILL_MARKER", str(marker))
    result = run(path, progress=False)
    fits = log.read_text().splitlines()
    assert len(fits) == 6 and len(set(fits)) == 6  # every cell fitted once, none repeated
    assert result.counts["reused"] == 2 and result.counts["ok"] == 6
    assert result.run_id == run_id
    table = _psnr(read_table(tmp_path / "run"))
    assert len(table) == 6 and table["cell_id"].is_unique
    # a third call reuses everything
    again = run(path, progress=False)
    assert again.counts["reused"] == 6 and log.read_text().splitlines() == fits


def test_retry_reruns_failed_cells(tmp_path, plugin, datasets):
    cfg = load_config(
        _config(
            plugin,
            datasets[:1],
            tmp_path / "run",
            methods=["fake-fail", "fake-blur"],
            seeds=[0],
            report=False,
        )
    )
    first = run(cfg, progress=False)
    assert first.counts["failed"] == 1
    again = run(cfg, progress=False)
    assert again.counts["reused"] == 2
    retried = run(cfg, progress=False, retry=True)
    assert retried.counts["reused"] == 1 and retried.counts["failed"] == 1
    assert len(_psnr(retried.table)) == 2


def test_changed_settings_do_not_reuse_old_cells(tmp_path, plugin, datasets):
    data = _config(
        plugin, datasets[:1], tmp_path / "run", methods=["fake-ar"], seeds=[0], report=False
    )
    first = run(load_config(data), progress=False)
    changed = run(load_config(dict(data, n_samples=5)), progress=False)
    assert changed.counts["reused"] == 0
    assert first.table["cell_id"].iloc[0] != changed.table["cell_id"].iloc[0]
    assert len(_psnr(changed.table)) == 1  # the same cell with other settings: the new record only


def test_slurm_executor_through_submitit_local(tmp_path, plugin, datasets):
    cfg = load_config(
        _config(
            plugin,
            datasets[:1],
            tmp_path / "run",
            methods=["fake-blur", "fake-fail", "fake-ar"],
            seeds=[0],
            executor="slurm",
            slurm={"cluster": "local", "partition": "gpu", "time_min": 5, "cpus_per_task": 1},
            report=False,
        )
    )
    result = run(cfg, progress=False)
    table = _psnr(result.table).set_index("method")
    assert table.loc["fake-blur", "status"] == "ok"
    assert table.loc["fake-ar", "status"] == "ok"
    assert table.loc["fake-fail", "status"] == "failed"
    assert "deliberate failure" in table.loc["fake-fail", "reason"]
    assert (tmp_path / "run" / "submitit").is_dir()
    # the same cells as a local run would have (same ids, same seeds)
    local = plan_cells(cfg.with_overrides(executor="local"))
    assert sorted(p.cell_id for p in local) == sorted(_psnr(result.table)["cell_id"])


def test_max_test_images(tmp_path, plugin, datasets):
    data = _config(
        plugin,
        datasets[:1],
        tmp_path / "run",
        methods=["fake-blur"],
        seeds=[0],
        report=False,
        max_test_images=2,
    )
    table = _psnr(run(load_config(data), progress=False).table)
    assert table["n_images"].tolist() == [2]
    full = _psnr(run(load_config(dict(data, max_test_images=None)), progress=False).table)
    assert full["n_images"].tolist() == [3]
    assert full["cell_id"].iloc[0] != table["cell_id"].iloc[0]


def test_dataset_not_on_disk_is_skipped_without_download(tmp_path, plugin):
    cfg = load_config(
        {
            "methods": ["fake-blur"],
            "datasets": ["convallaria-a"],
            "download": False,
            "plugins": [plugin],
            "out": str(tmp_path / "run"),
            "report": False,
        }
    )
    table = _psnr(run(cfg, progress=False).table)
    assert table["status"].tolist() == ["skipped"]
    assert "datasets fetch convallaria-a" in table["reason"].iloc[0]


@pytest.mark.parametrize("name", sorted(shipped_configs()))
def test_shipped_configs_name_existing_methods_and_datasets(name):
    cfg = load_config(name)
    validate_names(cfg)  # raises, listing what exists, if a name is unknown
    plans = plan_cells(cfg)
    assert plans and len({p.cell_id for p in plans}) == len(plans)


def test_paper_table_and_dataset_defaults_use_existing_names():
    from structnoise.benchmark.tables import paper_table1
    from structnoise.benchmark.validation import registered_datasets
    from structnoise.methods import list_methods

    paper = paper_table1()
    assert set(paper["method"]) <= set(list_methods())
    datasets = set(registered_datasets())
    assert set(paper["dataset"]) <= datasets
    analogues = {d for x in paper["analogue_datasets"] if x for d in x.split(";")}
    assert analogues == {"embedded-stripe", "embedded-checkerboard"} <= datasets
    from structnoise.methods import method_info

    named = {
        d
        for m in list_methods()
        for per_profile in method_info(m).dataset_defaults.values()
        for d in per_profile
    }
    assert named <= datasets
    sn2v = method_info("sn2v").dataset_defaults["*"]
    assert sn2v["embedded-checkerboard"] == {"span": "full"}


def test_shipped_smoke_config_on_real_data(tmp_path):
    """The shipped smoke configuration with the classical methods on embedded-stripe."""
    cfg = load_config("smoke", methods=["noisy", "gaussian"], out=str(tmp_path / "smoke"))
    result = run(cfg, progress=False)
    t = _psnr(result.table).set_index("method")
    assert (t["status"] == "ok").all() and (t["n_images"] == 4).all()
    assert t.loc["gaussian", "value"] > t.loc["noisy", "value"] + 2
    assert (tmp_path / "smoke" / "fig3_embedded-stripe.png").is_file()


def test_shipped_smoke_config_lists_every_builtin_method():
    """`structnoise run --profile smoke` covers every registered built-in method."""
    from structnoise import methods
    from structnoise.methods.registry import _BUILTIN_MODULES

    cfg = load_config("smoke")
    listed = {m.name for m in cfg.methods}
    builtin = {
        n
        for n in methods.list_methods()
        if methods.get_entry(n).factory.__module__.startswith(tuple(_BUILTIN_MODULES))
    }
    assert builtin and builtin <= listed, sorted(builtin - listed)
