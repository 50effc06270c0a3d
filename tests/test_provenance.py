from pathlib import Path

from structnoise.provenance import ROOT, commit_label, cpu_model, portable_argv, portable_command


def test_commands_carry_no_machine_paths():
    script = str(ROOT / "benchmarks" / "dvlae_speed.py")
    cmd = portable_command([script, "--authors", "/src/dvlae", "--out=/tmp/x", "-n", "3", "/a/b"])
    assert cmd == "python benchmarks/dvlae_speed.py --authors AUTHORS --out=OUT -n 3 PATH"
    argv = portable_argv(
        ["/opt/venv/bin/structnoise", "run", "--out", "runs/q", "--work-dir", "/w"]
    )
    assert argv == ["structnoise", "run", "--out", "runs/q", "--work-dir", "WORK_DIR"]


def test_commit_and_cpu_are_named():
    assert cpu_model()
    label = commit_label(ROOT)
    assert label == "unknown" or len(label.split()[0]) == 10
    assert commit_label(Path("/")) == "unknown"


def test_one_probing_serves_the_scripts_and_the_run_folder(tmp_path):
    from structnoise.benchmark.runfolder import read_json, write_provenance
    from structnoise.benchmark.schema import RunConfig
    from structnoise.provenance import git_state, machine_info, package_versions

    state = git_state(ROOT)
    assert git_state(Path("/")) == {"commit": None, "dirty": None}
    if state["commit"] is not None:
        assert len(state["commit"]) == 40
        assert commit_label(ROOT).startswith(state["commit"][:10])
    machine = machine_info()
    assert machine["cpu_model"] == cpu_model() and machine["cpu_count"] >= 1
    assert package_versions()["numpy"]
    cfg = RunConfig(methods=["noisy"], datasets=["embedded-stripe"])
    write_provenance(tmp_path, cfg, "r1", finished=False)
    path = write_provenance(tmp_path, cfg, "r1", finished=True, wall_s=2.0)
    data = read_json(path)
    assert data["git"] == {"source": ROOT.name, **state}
    assert data["machine"]["cpu_model"] == machine["cpu_model"]
    assert data["packages"] == package_versions()
    assert len(data["calls"]) == 1 and data["calls"][0]["wall_s"] == 2.0
    assert "/" not in data["git"]["source"]  # the checkout's name, never its path
