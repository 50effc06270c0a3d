"""CPU threads: the cores a process is given (affinity, cgroup quota), ``--threads``."""

import json

import numpy as np
import pytest
import tifffile
import torch
from typer.testing import CliRunner

from structnoise import threads
from structnoise.benchmark.config import load_config
from structnoise.benchmark.slurm import job_threads
from structnoise.cli import app

runner = CliRunner()


@pytest.fixture
def machine(monkeypatch, tmp_path):
    """A fake machine: ``machine(cores, cpu_max=None)`` sets affinity and cgroup v2 quota."""

    def make(cores, cpu_max=None):
        monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(cores)))
        v2 = tmp_path / "cpu.max"
        if cpu_max is None:
            v2.unlink(missing_ok=True)
        else:
            v2.write_text(cpu_max + "\n")
        monkeypatch.setattr(threads, "CGROUP_V2", v2)
        monkeypatch.setattr(threads, "CGROUP_V1", (tmp_path / "no_quota", tmp_path / "no_period"))
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)

    return make


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_cores_come_from_the_affinity_and_the_cgroup_quota(machine, tmp_path):
    machine(8)
    assert threads.available_cores() == 8
    machine(8, "max 100000")
    assert threads.available_cores() == 8
    machine(8, "150000 100000")  # docker --cpus 1.5
    assert threads.cgroup_quota_cores() == pytest.approx(1.5)
    assert threads.available_cores() == 2
    machine(2, "800000 100000")  # a quota above the affinity: the affinity decides
    assert threads.available_cores() == 2
    machine(8, "garbage")
    assert threads.available_cores() == 8


def test_cgroup_v1_quota(machine, tmp_path, monkeypatch):
    machine(16)
    (tmp_path / "quota").write_text("300000\n")
    (tmp_path / "period").write_text("100000\n")
    monkeypatch.setattr(threads, "CGROUP_V1", (tmp_path / "quota", tmp_path / "period"))
    assert threads.available_cores() == 3
    (tmp_path / "quota").write_text("-1\n")
    assert threads.available_cores() == 16


def test_parallel_processes_divide_the_cores(machine):
    machine(8)
    assert threads.default_threads() == 8
    assert threads.default_threads(parallel=3) == 2
    assert threads.default_threads(parallel=20) == 1
    machine(4, "200000 100000")
    assert threads.default_threads(parallel=2) == 1


def test_use_threads_order(machine, monkeypatch):
    machine(6)
    assert threads.use_threads() == 6 and torch.get_num_threads() == 6
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.use_threads() == 2 and torch.get_num_threads() == 2
    assert threads.use_threads(3) == 3 and torch.get_num_threads() == 3
    with pytest.raises(ValueError, match="--threads must be at least 1, got 0"):
        threads.use_threads(0)


def test_local_jobs_of_a_run_share_the_cores(machine):
    machine(8)
    data = {"methods": ["gaussian"], "datasets": ["embedded-stripe"], "executor": "slurm"}
    plans = [object()] * 3
    local = load_config({**data, "slurm": {"cluster": "local", "array_parallelism": 2}})
    assert job_threads(local, plans) == 4  # two jobs at once on 8 cores
    assert job_threads(local, plans[:1]) == 8  # one job: all of them
    assert job_threads(local, plans, threads=3) == 3  # --threads decides
    slurm = load_config({**data, "slurm": {"cluster": "slurm"}})
    assert job_threads(slurm, plans) is None  # each slurm job counts its own cores


@pytest.fixture
def calls(monkeypatch):
    """Every value passed to ``torch.set_num_threads``."""
    seen = []
    original = torch.set_num_threads

    def record(n):
        seen.append(n)
        original(n)

    monkeypatch.setattr(torch, "set_num_threads", record)
    return seen


def test_threads_option_reaches_torch_in_train_and_denoise(tmp_path, machine, calls):
    machine(2)
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "noisy.tif", rng.random((2, 32, 32)).astype(np.float32))
    train = ["train", "gaussian", str(tmp_path / "noisy.tif"), "--out", str(tmp_path / "m")]
    result = runner.invoke(app, [*train, "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert calls[:1] == [1] and torch.get_num_threads() == 1

    calls.clear()
    denoise = ["denoise", str(tmp_path / "m"), str(tmp_path / "noisy.tif"), str(tmp_path / "o.tif")]
    result = runner.invoke(app, [*denoise, "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert calls[:1] == [1]

    calls.clear()  # without --threads: the cores given (2 here)
    result = runner.invoke(app, [*denoise[:3], str(tmp_path / "o2.tif")])
    assert result.exit_code == 0, result.output
    assert calls[:1] == [2]

    result = runner.invoke(app, [*denoise, "--threads", "0"])
    assert result.exit_code == 2
    assert not (tmp_path / "o3.tif").exists()


def test_threads_option_reaches_torch_in_run(tmp_path, machine, calls):
    machine(2)
    args = ["run", "--profile", "smoke", "--methods", "gaussian"]
    args += ["--datasets", "embedded-stripe", "--out", str(tmp_path / "r"), "--no-report", "-q"]
    result = runner.invoke(app, [*args, "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert calls[:1] == [1]
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "r" / "cells").glob("*.json")]
    assert record["status"] == "ok" and record["threads"] == 1
