"""Ctrl-C (SIGINT) and SIGTERM during a careamics training: stop, keep, exit 130 / 143."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile

from structnoise.interrupt import Interrupted, deferred, interruptible

#: Steps of the training that is interrupted: far more than it reaches before the signal.
STEPS = 2000

#: A progress line of the n2v training (the log is a file: plain lines every 5 %).
TRAINING = re.compile(rf"^n2v: \d+/{STEPS} steps", re.MULTILINE)


def test_interruptible_raises_and_restores_the_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as info, interruptible():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler runs before this ends
    assert info.value.exit_status == 143 and info.value.name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before
    assert Interrupted(signal.SIGINT).exit_status == 130


def test_deferred_waits_until_the_block_is_done():
    done = []
    with pytest.raises(Interrupted) as info, deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)
        done.append("the block finished")
    assert done == ["the block finished"] and info.value.exit_status == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _start(args, cwd, log):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("TQDM_DISABLE", None)  # the progress lines tell when training runs
    env["STRUCTNOISE_PROGRESS"] = "lines"
    cmd = [sys.executable, "-m", "structnoise.cli", *args]
    return subprocess.Popen(
        cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=_as_in_a_terminal
    )


def _as_in_a_terminal():
    """SIGINT as a command in a terminal has it (a background job of a shell ignores it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_when_training(proc, log_path, signum, start_timeout=600, stop_timeout=60):
    """Send ``signum`` once a progress line of the training is in the log; wait for the end."""
    deadline = time.monotonic() + start_timeout
    while not TRAINING.search(log_path.read_text()):
        assert proc.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.5)
    proc.send_signal(signum)
    try:
        status = proc.wait(timeout=stop_timeout)  # training alone would take minutes more
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"still running {stop_timeout} s after {signum!r}:\n{log_path.read_text()}")
    return status, log_path.read_text()


CONFIG = f"""\
schema_version: 1
name: interrupt
profile: smoke
methods:
  - gaussian
  - {{name: n2v, max_steps: {STEPS}}}
datasets: [embedded-stripe]
seeds: [0]
report: false
"""


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_run_interrupted_in_a_training_keeps_the_finished_cells(tmp_path, signum, status):
    (tmp_path / "c.yaml").write_text(CONFIG)
    with open(tmp_path / "log.txt", "w") as log:
        proc = _start(["run", "c.yaml", "--out", "r"], tmp_path, log)
        code, text = _interrupt_when_training(proc, tmp_path / "log.txt", signum)
    assert code == status, text
    records = [json.loads(p.read_text()) for p in (tmp_path / "r" / "cells").glob("*.json")]
    assert [(r["method"], r["status"]) for r in records] == [("gaussian", "ok")], text
    assert "Traceback" not in text
    last = text.strip().splitlines()[-1]
    assert last.startswith(f"interrupted by {signal.Signals(signum).name}: 1 cell(s) recorded")
    assert "Resume with: structnoise run " in last and "--out " in last


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_train_interrupted_writes_no_model(tmp_path, signum, status):
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "noisy.tif", rng.random((4, 64, 64)).astype(np.float32))
    args = ["train", "n2v", "noisy.tif", "--out", "m", "--profile", "smoke"]
    args += ["--set", f"max_steps={STEPS}", "--max-minutes", "600"]
    with open(tmp_path / "log.txt", "w") as log:
        proc = _start(args, tmp_path, log)
        code, text = _interrupt_when_training(proc, tmp_path / "log.txt", signum)
    assert code == status, text
    assert not (tmp_path / "m").exists(), text
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert text.strip().splitlines()[-1] == (
        f"interrupted by {signal.Signals(signum).name} during training: no model written"
    )
