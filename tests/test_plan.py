"""``structnoise run CONFIG --plan``: every cell's resolved settings and cost, nothing written."""

import re

import pytest
from typer.testing import CliRunner

from structnoise.cli import app

FFHQ = ("ffhq-stripe", "ffhq-checkerboard")
MICROSCOPY = ("convallaria-a", "convallaria-b", "mouse-actin", "mouse-nuclei")


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def _blocks(output: str) -> dict[tuple[str, str], str]:
    """``{(method label, dataset): the cell's lines}`` of a plan."""
    blocks, key = {}, None
    for line in output.splitlines():
        head = re.match(r"\[\d+/\d+\] (\S+) on (\S+), seed", line)
        if head:
            key = head.groups()
            blocks[key] = ""
        elif key is not None:
            blocks[key] += line + "\n"
    return blocks


@pytest.fixture(scope="module")
def table1_plan(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan")
    before = _files(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("STRUCTNOISE_DATA", str(root / "cache"))
        result = CliRunner().invoke(app, ["run", "table1", "--plan", "--out", str(root / "run")])
    return result, before, _files(root)


def test_plan_runs_and_writes_nothing(table1_plan):
    result, before, after = table1_plan
    assert result.exit_code == 0, result.output
    assert after == before  # no run folder, no record, no cache, nothing
    assert "nothing is run or written" in result.output.splitlines()[0]
    assert len(_blocks(result.output)) == 72


@pytest.mark.parametrize("method", ["dvlae-small", "dvlae-large"])
def test_plan_of_table1_has_the_paper_settings_per_dataset(table1_plan, method):
    blocks = _blocks(table1_plan[0].output)
    for dataset in FFHQ:
        text = blocks[(method, dataset)]
        for setting in ("n_gaussians=10", "crop=128", "batch=4", "accumulate=16"):
            assert f" {setting} " in text, (dataset, setting, text)
        assert "(4 x 128x128, 16 per update" in text
    for dataset in MICROSCOPY:
        text = blocks[(method, dataset)]
        for setting in ("n_gaussians=3", "crop=256", "batch=4", "accumulate=4"):
            assert f" {setting} " in text, (dataset, setting, text)
        assert "(4 x 256x256, 4 per update" in text
    # the paper's validation crops (as many as fit, redrawn every epoch) and step reading
    text = blocks[(method, "convallaria-a")]
    assert " val_crops=fit val_resample=true " in text and " max_steps=160000 " in text
    assert " max_steps=640000 " in blocks[(method, "ffhq-stripe")]
    assert " axis=vertical " in blocks[(method, "ffhq-checkerboard")]


def test_plan_of_the_quick_profile_keeps_its_settings(tmp_path):
    result = CliRunner().invoke(app, ["run", "quick", "--plan", "--datasets", "embedded-stripe"])
    assert result.exit_code == 0, result.output
    text = _blocks(result.output)[("dvlae-small", "embedded-stripe")]
    for setting in ("rf=6", "n_gaussians=3", "crop=64", "batch=4", "val_crops=16", "direct=true"):
        assert f" {setting} " in text
    # the quick configuration's budget is steps (8 idle minutes, results/calibration)
    assert "val_resample=false" in text and " max_steps=1600 " in text
    assert "budget: 1600 steps (safety time limit 120 min)" in text
    assert list(tmp_path.iterdir()) == []


def test_plan_formats_values_compactly():
    from structnoise.benchmark.plan import format_value

    assert format_value([64] * 14) == "64*14"
    assert format_value([False, True] * 7) == "[false,true]*7"
    assert format_value([1, 2, 3]) == "1,2,3"
    assert format_value(None) == "none" and format_value(2e-3) == "0.002"
