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
