"""benchmarks/gpu_check.py: its CPU ``--tiny`` path writes the report a GPU run would."""

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: A stand-in for benchmarks/authors_equivalence.py: takes --authors and --out, writes a JSON.
FAKE_EQUIVALENCE = """
import argparse, json, pathlib
p = argparse.ArgumentParser()
p.add_argument("--authors", required=True)
p.add_argument("--out", type=pathlib.Path, required=True)
a = p.parse_args()
a.out.mkdir(parents=True, exist_ok=True)
(a.out / "equivalence.json").write_text(json.dumps({"max_abs_diff": 0.0}))
print("checked", a.authors)
"""


def _gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


def test_tiny_run_writes_the_report(tmp_path, monkeypatch):
    gpu_check = _gpu_check()
    fake = tmp_path / "authors_equivalence.py"
    fake.write_text(FAKE_EQUIVALENCE)
    monkeypatch.setattr(gpu_check, "EQUIVALENCE_SCRIPT", fake)
    authors = tmp_path / "authors-checkout"
    authors.mkdir()
    out = tmp_path / "gpu-check"
    assert gpu_check.main(["--tiny", "--out", str(out), "--authors", str(authors)]) == 0

    report = json.loads((out / "gpu_check.json").read_text())
    assert set(report) == {"meta", "environment", "train", "mmse", "equivalence"}
    env = report["environment"]
    assert {"commit", "python", "torch", "lightning", "cuda", "device", "gpu"} <= set(env)
    assert report["meta"]["tiny"] and report["meta"]["budget_s"] == 480
    runs = {f"{p}/{q}" for p in ("small", "large") for q in ("32", "bf16")}
    assert set(report["train"]) == runs and set(report["mmse"]) == runs
    for r in report["train"].values():
        assert r["steps"] == 2 and r["stopped_by"] == "steps" and r["losses_finite"]
        assert r["seconds_per_step"] > 0 and r["parameters"] > 0
        assert r["seconds_per_optimiser_step"] == r["seconds_per_step"] * r["accumulate"]
    for r in report["mmse"].values():
        assert r["samples"] == 4 and not r["extrapolated"] and r["finite"] and r["seconds"] > 0
    eq = report["equivalence"]
    assert eq["returncode"] == 0 and eq["results"] == {"equivalence.json": {"max_abs_diff": 0.0}}
    assert "checked AUTHORS_DIR" in eq["output_tail"]

    md = (out / "gpu_check.md").read_text()
    assert "## Training" in md and "## MMSE of one image" in md and "exit status 0" in md
    for text in (md, json.dumps(report)):  # no local paths
        assert str(tmp_path) not in text and str(ROOT) not in text


def test_without_a_gpu_only_tiny_runs(tmp_path, monkeypatch):
    import torch

    gpu_check = _gpu_check()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_runs_without_time_are_skipped_and_reported(tmp_path):
    gpu_check = _gpu_check()
    out = tmp_path / "gpu-check"
    assert gpu_check.main(["--tiny", "--budget-s", "0", "--out", str(out)]) == 0
    report = json.loads((out / "gpu_check.json").read_text())
    assert all("skipped" in r for part in ("train", "mmse") for r in report[part].values())
    assert report["equivalence"] == {"skipped": "no --authors DIR given"}
    assert "skipped: no time left" in (out / "gpu_check.md").read_text()
