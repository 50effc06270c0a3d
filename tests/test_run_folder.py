"""``structnoise run --out``: which folders it writes into, what its table lists, plugins.

Every test goes through the CLI with cheap classical methods (``noisy``, ``gaussian``) on
two test tiles of the embedded dataset.
"""

import hashlib
import json
import textwrap

import pandas as pd
import yaml
from typer.testing import CliRunner

from structnoise.cli import app

FAST = ["--profile", "smoke", "--datasets", "embedded-stripe", "--quiet"]


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _config(tmp_path, **keys) -> str:
    data = {
        "schema_version": 1,
        "name": "folder-test",
        "profile": "smoke",
        "methods": ["noisy"],
        "datasets": ["embedded-stripe"],
        "seeds": [0],
        "max_test_images": 2,
        "report": False,
    }
    data.update(keys)
    path = tmp_path / f"cfg-{len(list(tmp_path.glob('cfg-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _invoke(*args):
    return CliRunner().invoke(app, ["run", *map(str, args)])


def test_user_folder_is_refused_and_run_folders_resume(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "config.yaml").write_text("my: own settings\n")
    (user / "results.csv").write_text("sample,value\na,1.5\nb,2.5\n")
    before = {p.name: _sha256(p) for p in user.iterdir()}
    cfg = _config(tmp_path)

    result = _invoke(cfg, "--out", user, *FAST)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refusing to write the run into")
    assert "not a structnoise run folder" in lines[0]
    assert {p.name: _sha256(p) for p in user.iterdir()} == before  # nothing added or changed

    # a new folder and an empty one are fine
    empty = tmp_path / "empty"
    empty.mkdir()
    for out in (tmp_path / "new", empty):
        result = _invoke(cfg, "--out", out, *FAST)
        assert result.exit_code == 0, result.output
        assert json.loads((out / "run.json").read_text())["kind"] == "structnoise-run"
    # a folder written before the marker had a version (run.json with a run_id only)
    meta = json.loads((empty / "run.json").read_text())
    (empty / "run.json").write_text(json.dumps({"run_id": meta["run_id"], "created": "x"}))
    result = _invoke(cfg, "--out", empty, *FAST)
    assert result.exit_code == 0, result.output
    assert "1 ok, 0 failed, 0 skipped (1 reused)" in result.output


def test_rerun_with_fewer_methods_keeps_every_cell(tmp_path):
    out = tmp_path / "run"
    cfg = _config(tmp_path)
    result = _invoke(cfg, "--out", out, "--methods", "noisy,gaussian", *FAST)
    assert result.exit_code == 0, result.output
    first_config = (out / "config.yaml").read_text()

    result = _invoke(_config(tmp_path, report=True), "--out", out, "--methods", "noisy", *FAST)
    assert result.exit_code == 0, result.output
    assert "1 ok, 0 failed, 0 skipped (1 reused)" in result.output
    csv = pd.read_csv(out / "results.csv").query("metric == 'psnr'")
    parquet = pd.read_parquet(out / "results.parquet").query("metric == 'psnr'")
    assert csv["method"].tolist() == ["noisy", "gaussian"]
    assert parquet["cell_id"].tolist() == csv["cell_id"].tolist()
    assert len(list((out / "cells").glob("*.json"))) == 2
    assert "gaussian" in (out / "table1.md").read_text()  # the reports use the same table
    # the earlier configuration is kept, not overwritten
    assert (out / "config.1.yaml").read_text() == first_config
    assert "gaussian" not in (out / "config.yaml").read_text()
    assert json.loads((out / "run.json").read_text())["previous_configs"] == ["config.1.yaml"]


PLUGIN = textwrap.dedent(
    """
    from pathlib import Path

    Path(__file__).with_name("imported.marker").write_text("imported")
    raise RuntimeError("this plugin must not be imported")
    """
)


def test_misspelt_builtin_name_fails_before_plugins_are_imported(tmp_path):
    plugin = tmp_path / "plugin" / "evil.py"
    plugin.parent.mkdir()
    plugin.write_text(PLUGIN)
    marker = plugin.with_name("imported.marker")
    out = tmp_path / "run"
    cfg = _config(tmp_path, plugins=[str(plugin)], datasets=["embeded-stripe"])

    result = _invoke(cfg, "--out", out, "--quiet")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown dataset(s) 'embeded-stripe'")
    assert "did you mean 'embedded-stripe'?" in lines[0]
    assert not marker.exists() and not out.exists()

    # a refused output folder is refused before the plugins run, too
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    result = _invoke(_config(tmp_path, plugins=[str(plugin)]), "--out", user, "--quiet")
    assert result.exit_code == 2 and "refusing to write" in result.output
    assert not marker.exists()

    # a method name unknown without plugins may come from them: they are imported first
    harmless = tmp_path / "plugin" / "harmless.py"
    harmless.write_text('from pathlib import Path\nPath(__file__).with_name("h.marker").touch()\n')
    cfg = _config(tmp_path, plugins=[str(harmless)], methods=["gausian"])
    result = _invoke(cfg, "--out", out, "--quiet")
    assert result.exit_code == 2 and "unknown method(s) 'gausian'" in result.output
    assert "did you mean 'gaussian'?" in result.output
    assert harmless.with_name("h.marker").exists() and not out.exists()
