"""Progress output: a live bar on a terminal, a few plain lines in a log file."""

import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from structnoise import progress
from structnoise.progress import LineProgress, progress_bar


class _Clock:
    """A fake ``time.monotonic`` advancing ``dt`` seconds at every call."""

    def __init__(self, dt):
        self.t = 1000.0
        self.dt = dt

    def __call__(self):
        self.t += self.dt
        return self.t


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_file_gets_plain_lines_every_few_percent(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr(progress.time, "monotonic", _Clock(0.5))
    out = io.StringIO()
    bar = progress_bar(total=1600, desc="train", unit="steps", file=out, leave=False)
    assert isinstance(bar, LineProgress)
    for step in range(1600):
        bar.set_postfix({"loss": f"{1.0 / (step + 1):.3f}"}, refresh=False)
        bar.update(1)
    bar.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert 15 <= len(lines) <= 21, lines
    assert lines[0].startswith("train: 80/1600 steps (5%), loss=")
    assert "eta " in lines[0]
    assert lines[-1].startswith("train: 1600/1600 steps (100%), loss=0.001")


def test_slow_work_without_a_total_gets_a_line_every_few_minutes(monkeypatch):
    monkeypatch.setattr(progress.time, "monotonic", _Clock(30.0))
    out = io.StringIO()
    bar = LineProgress(total=None, desc="tiles", unit="tile", file=out)
    for _ in range(100):  # 100 updates, 30 s apart: 50 minutes
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert 9 <= len(lines) <= 11, lines  # one every 5 minutes
    assert lines[-1].startswith("tiles: 100 tile, elapsed 0:5")


def test_a_short_bar_writes_nothing_and_iteration_works():
    out = io.StringIO()
    items = list(progress_bar(range(7), desc="bm3d", file=out, leave=False))
    assert items == list(range(7))
    assert out.getvalue() == ""


def test_a_terminal_gets_a_live_bar(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    bar = progress_bar(total=3, file=_Terminal(), desc="x")
    assert not isinstance(bar, LineProgress)
    bar.close()
    monkeypatch.setenv(progress.ENV, "lines")
    assert isinstance(progress_bar(total=3, file=_Terminal()), LineProgress)


def _noisy(path, n=4, size=64):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    clean = np.stack([0.5 + 0.3 * np.sin(2 * np.pi * (yy + i * xx)) for i in range(n)])
    noisy = clean + rng.normal(0, 0.05, (n, size, 1)) + rng.normal(0, 0.03, clean.shape)
    tifffile.imwrite(path, (noisy * 1000).astype(np.uint16))


PROGRESS_LINE = re.compile(r"^(.+?): (\d+)/(\d+) steps? \(\d+%\)")


@pytest.mark.slow
@pytest.mark.parametrize(("method", "steps"), [("n2v", 240), ("dvlae-small", 120)])
def test_train_into_a_log_file_writes_a_few_plain_progress_lines(tmp_path, method, steps):
    """``structnoise train ... > log.txt 2>&1``: Lightning's, careamics' and our bars."""
    _noisy(tmp_path / "noisy.tif")
    log = tmp_path / "log.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop(progress.ENV, None)
    env.pop("TQDM_DISABLE", None)  # the test suite's switch (conftest.py)
    args = [sys.executable, "-m", "structnoise.cli", "train", method, "noisy.tif"]
    args += [
        "--out",
        "m",
        "--profile",
        "smoke",
        "--set",
        f"max_steps={steps}",
        "--max-minutes",
        "30",
    ]
    with open(log, "w") as fh:
        done = subprocess.run(args, cwd=tmp_path, stdout=fh, stderr=subprocess.STDOUT, env=env)
    text = log.read_text()
    assert done.returncode == 0, text
    assert "\r" not in text and "\x1b[" not in text
    lines = text.splitlines()
    bars = [m for m in map(PROGRESS_LINE.match, lines) if m]
    # every 5 % at most (21 lines), however long the training took; the 1,600-step
    # training of the issue writes the same number
    assert 1 <= len(bars) <= 21, text
    assert bars[-1].group(2) == bars[-1].group(3) == str(steps), text
    assert len(lines) <= len(bars) + 6, text  # the command's own lines, nothing else
