"""Two real run folders for the report tests, made once per test session.

``reference``: the smoke configuration of ``noisy`` and ``gaussian`` on embedded-stripe,
seeds 0 and 1; ``mine``: a 15-line median-filter plugin (as in the README) run alone with
the same profile and data, seed 0, plus ``noisy`` seed 0 (a cell the reference has too).
"""

import os
import textwrap
from contextlib import chdir
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

PLUGIN = textwrap.dedent(
    '''
    """A median filter as a structnoise method (the README's plugin)."""

    from scipy import ndimage

    from structnoise.methods import BaseDenoiser, MethodInfo, register


    @register("test-median")
    class Median(BaseDenoiser):
        info = MethodInfo(description="median filter", learns=False)

        def __init__(self, *, size=3, **kw):
            super().__init__(size=size, **kw)
            self.size = size

        def _fit(self, x, clean, val):
            pass

        def _denoise(self, x, **options):
            return ndimage.median_filter(x, size=(1, self.size, self.size))
    '''
)


def make_runs(tmp_path_factory) -> dict[str, Path]:
    """Run both folders the first time (about 10 s on 2 cores), then reuse them.

    Parameters
    ----------
    tmp_path_factory : pytest.TempPathFactory
        The session's temporary folders.

    Returns
    -------
    dict
        ``{"reference": folder, "mine": folder}``; copy a folder before changing it.
    """
    from structnoise.cli import app

    base = tmp_path_factory.getbasetemp() / "report-runs"
    runs = {"reference": base / "reference", "mine": base / "mine"}
    if (runs["mine"] / "report.html").exists():
        return runs
    base.mkdir(exist_ok=True)
    (base / "median_plugin.py").write_text(PLUGIN)
    cfg = {
        "name": "mine",
        "profile": "smoke",
        "methods": ["test-median", "noisy"],
        "datasets": ["embedded-stripe"],
        "seeds": [0],
        "max_test_images": 4,
        "plugins": [str(base / "median_plugin.py")],
    }
    (base / "mine.yaml").write_text(yaml.safe_dump(cfg))
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp, chdir(base):
        mp.setenv("STRUCTNOISE_DATA", str(base / "data-cache"))
        mp.setenv("TQDM_DISABLE", "1")
        for args in (
            ["run", "smoke", "--methods", "noisy,gaussian", "--seeds", "0,1"],
            ["run", "mine.yaml"],
        ):
            out = runs["reference"] if args[1] == "smoke" else runs["mine"]
            result = runner.invoke(app, [*args, "--out", str(out), "--quiet"])
            assert result.exit_code == 0, result.output
    assert os.path.isdir(runs["reference"] / "cells")
    return runs
